// SHA-256 digests as a value type, computed with OpenSSL's one-shot SHA256().
import CCrypto

/// A 32-byte SHA-256 digest held inline, so digests can be compared, hashed and stored without allocation.
public struct SHA256Digest: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The digest's bytes as four big-endian-loaded 64-bit words (byte order preserved by `bytes`).
    private var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    /// The number of bytes in a SHA-256 digest.
    public static let byteCount = 32

    /// The all-zero digest, a placeholder that no real input produces.
    public static let zero = SHA256Digest(w0: 0, w1: 0, w2: 0, w3: 0)

    private init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        self.w0 = w0
        self.w1 = w1
        self.w2 = w2
        self.w3 = w3
    }

    /// Reads a digest from exactly 32 bytes.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        var words: [UInt64] = [0, 0, 0, 0]
        for (index, byte) in bytes.enumerated() {
            words[index / 8] = words[index / 8] << 8 | UInt64(byte)
        }
        self.init(w0: words[0], w1: words[1], w2: words[2], w3: words[3])
    }

    /// Reads a digest from 32 bytes at `pointer`.
    public init(loadingFrom pointer: UnsafeRawPointer) {
        self.init(
            w0: UInt64(bigEndian: pointer.loadUnaligned(as: UInt64.self)),
            w1: UInt64(bigEndian: pointer.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
            w2: UInt64(bigEndian: pointer.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
            w3: UInt64(bigEndian: pointer.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        )
    }

    /// Parses 64 hexadecimal digits (either case).
    public init?(hex: some StringProtocol) {
        guard let bytes = Hex.decode(hex), bytes.count == Self.byteCount else { return nil }
        self.init(bytes: bytes)
    }

    /// The digest's 32 bytes.
    public var bytes: [UInt8] {
        var result = [UInt8](repeating: 0, count: Self.byteCount)
        result.withUnsafeMutableBytes { store(to: $0.baseAddress!) }
        return result
    }

    /// Writes the digest's 32 bytes to `pointer`.
    func store(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: w0.bigEndian, as: UInt64.self)
        pointer.storeBytes(of: w1.bigEndian, toByteOffset: 8, as: UInt64.self)
        pointer.storeBytes(of: w2.bigEndian, toByteOffset: 16, as: UInt64.self)
        pointer.storeBytes(of: w3.bigEndian, toByteOffset: 24, as: UInt64.self)
    }

    /// Appends the digest's 32 bytes to `buffer`.
    public func append(to buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: Self.byteCount))
        buffer.withUnsafeMutableBytes { store(to: $0.baseAddress! + start) }
    }

    /// The first 8 bytes read as a little-endian integer.
    public var leadingUInt64LittleEndian: UInt64 { w0.byteSwapped }

    /// Lowercase hexadecimal form.
    public var hex: String { Hex.encode(bytes) }

    /// Standard base64 form, as C2SP checkpoints and the transparency-dev test data write hashes.
    public var base64: String { Base64.encode(bytes) }

    /// The lowercase hexadecimal form.
    public var description: String { hex }

    /// Orders digests by their bytes.
    public static func < (lhs: SHA256Digest, rhs: SHA256Digest) -> Bool {
        (lhs.w0, lhs.w1, lhs.w2, lhs.w3) < (rhs.w0, rhs.w1, rhs.w2, rhs.w3)
    }
}

/// SHA-256 over byte buffers.
public enum SHA256 {
    /// The digest of `prefix` (usually one domain-separation byte) followed by the bytes in `buffer`.
    public static func hash(prefix: UnsafeRawBufferPointer, _ buffer: UnsafeRawBufferPointer) -> SHA256Digest {
        withUnsafeTemporaryAllocation(byteCount: SHA256Digest.byteCount, alignment: 8) { output in
            let ok = call_ledger_sha256(
                prefix.baseAddress, prefix.count, buffer.baseAddress, buffer.count,
                output.baseAddress!.assumingMemoryBound(to: UInt8.self))
            precondition(ok == 1, "OpenSSL SHA-256 failed")
            return SHA256Digest(loadingFrom: output.baseAddress!)
        }
    }

    /// The digest of `first`, `second` and `third` one after the other, without concatenating them.
    public static func hash(
        _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, _ third: UnsafeRawBufferPointer
    ) -> SHA256Digest {
        var ok = call_ledger_sha256_begin() == 1
        ok = ok && call_ledger_sha256_update(first.baseAddress, first.count) == 1
        ok = ok && call_ledger_sha256_update(second.baseAddress, second.count) == 1
        ok = ok && call_ledger_sha256_update(third.baseAddress, third.count) == 1
        return withUnsafeTemporaryAllocation(byteCount: SHA256Digest.byteCount, alignment: 8) { output in
            ok = ok && call_ledger_sha256_finish(output.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 1
            precondition(ok, "OpenSSL SHA-256 failed")
            return SHA256Digest(loadingFrom: output.baseAddress!)
        }
    }

    /// The digest of the bytes in `buffer`.
    public static func hash(_ buffer: UnsafeRawBufferPointer) -> SHA256Digest {
        hash(prefix: UnsafeRawBufferPointer(start: nil, count: 0), buffer)
    }

    /// The digest of `bytes`.
    public static func hash(_ bytes: some ContiguousBytes) -> SHA256Digest {
        bytes.withUnsafeBytes { hash($0) }
    }
}

/// Types whose bytes are stored contiguously and can be read without copying.
public protocol ContiguousBytes {
    /// Calls `body` with the bytes.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension Array: ContiguousBytes where Element == UInt8 {}
extension ArraySlice: ContiguousBytes where Element == UInt8 {}
extension UnsafeRawBufferPointer: ContiguousBytes {
    /// Calls `body` with the buffer itself.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try body(self) }
}
