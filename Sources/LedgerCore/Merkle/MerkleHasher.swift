// RFC 6962 / RFC 9162 hashing: leaf and interior node hashes with domain separation.

/// The RFC 6962 hash functions: `leaf = SHA-256(0x00 || entry)`, `node = SHA-256(0x01 || left || right)`.
public enum MerkleHasher {
    /// The root of the empty tree, `SHA-256("")`.
    public static let emptyRoot = SHA256.hash([UInt8]())

    /// The leaf hash of `entry`.
    public static func leafHash(_ entry: UnsafeRawBufferPointer) -> SHA256Digest {
        withUnsafeBytes(of: UInt8(0x00)) { SHA256.hash(prefix: $0, entry) }
    }

    /// The leaf hash of `entry`.
    public static func leafHash(_ entry: some ContiguousBytes) -> SHA256Digest {
        entry.withUnsafeBytes { leafHash($0) }
    }

    /// The hash of an interior node with children `left` and `right`.
    public static func nodeHash(_ left: SHA256Digest, _ right: SHA256Digest) -> SHA256Digest {
        withUnsafeTemporaryAllocation(byteCount: 65, alignment: 8) { buffer in
            buffer[0] = 0x01
            left.store(to: buffer.baseAddress! + 1)
            right.store(to: buffer.baseAddress! + 33)
            return SHA256.hash(UnsafeRawBufferPointer(buffer))
        }
    }

    /// The hash of an interior node over arbitrary child bytes (RFC test vectors hash raw strings).
    public static func nodeHash(rawLeft: [UInt8], rawRight: [UInt8]) -> SHA256Digest {
        SHA256.hash([0x01] + rawLeft + rawRight)
    }
}
