// AES-256-GCM sealing of sensitive parts and wrapping of data keys, through OpenSSL's EVP interface.
import CCrypto

/// AES-256-GCM with a random 96-bit nonce and a 128-bit tag.
///
/// The sealed form is `nonce (12 bytes) || ciphertext || tag (16 bytes)`. A `AESGCM` value owns one
/// OpenSSL cipher context; it is not `Sendable`, so each thread that seals or opens uses its own.
public final class AESGCM {
    /// Key length in bytes.
    public static let keyByteCount = 32
    /// Nonce length in bytes.
    public static let nonceByteCount = 12
    /// Tag length in bytes.
    public static let tagByteCount = 16
    /// Bytes a sealed value adds to its plaintext.
    public static let overhead = nonceByteCount + tagByteCount

    private let context: OpaquePointer
    private let cipher: OpaquePointer
    /// Random bytes drawn from OpenSSL's DRBG 4 KiB at a time and used up 12 per nonce: one DRBG call per
    /// 341 seals instead of one per seal.
    private var randomPool: [UInt8] = []
    private var randomPoolOffset = 0

    /// Creates a cipher context.
    public init() throws(CryptoError) {
        guard let cipher = EVP_CIPHER_fetch(nil, "AES-256-GCM", nil) else { throw .fromQueue("EVP_CIPHER_fetch") }
        guard let context = EVP_CIPHER_CTX_new() else {
            EVP_CIPHER_free(cipher)
            throw .fromQueue("EVP_CIPHER_CTX_new")
        }
        self.cipher = cipher
        self.context = context
    }

    deinit {
        EVP_CIPHER_CTX_free(context)
        EVP_CIPHER_free(cipher)
    }

    /// Seals `plaintext` under `key` with `associatedData`, appending `nonce || ciphertext || tag` to `output`.
    public func seal(
        _ plaintext: UnsafeRawBufferPointer,
        key: SymmetricKey,
        associatedData: UnsafeRawBufferPointer,
        appendingTo output: inout [UInt8]
    ) throws(CryptoError) {
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: plaintext.count + Self.overhead))
        let ok = output.withUnsafeMutableBytes { raw -> Bool in
            let base = raw.baseAddress! + start
            guard takeNonce(into: base) else { return false }
            return key.withBytes { keyBytes in
                guard
                    EVP_EncryptInit_ex2(
                        context, cipher, keyBytes, base.assumingMemoryBound(to: UInt8.self), nil) == 1
                else { return false }
                var length: Int32 = 0
                if associatedData.count > 0 {
                    guard
                        EVP_EncryptUpdate(
                            context, nil, &length, associatedData.baseAddress!.assumingMemoryBound(to: UInt8.self),
                            Int32(associatedData.count)) == 1
                    else { return false }
                }
                let body = (base + Self.nonceByteCount).assumingMemoryBound(to: UInt8.self)
                if plaintext.count > 0 {
                    guard
                        EVP_EncryptUpdate(
                            context, body, &length, plaintext.baseAddress!.assumingMemoryBound(to: UInt8.self),
                            Int32(plaintext.count)) == 1
                    else { return false }
                }
                guard EVP_EncryptFinal_ex(context, body + plaintext.count, &length) == 1 else { return false }
                return EVP_CIPHER_CTX_ctrl(
                    context, EVP_CTRL_AEAD_GET_TAG, Int32(Self.tagByteCount), body + plaintext.count) == 1
            }
        }
        guard ok else {
            output.removeSubrange(start...)
            throw .fromQueue("AES-256-GCM seal")
        }
    }

    /// Writes the next 12 fresh random bytes to `destination`, refilling the pool when it runs out; false if
    /// the DRBG fails.
    private func takeNonce(into destination: UnsafeMutableRawPointer) -> Bool {
        if randomPoolOffset + Self.nonceByteCount > randomPool.count {
            guard let fresh = try? SecureRandom.bytes(4092) else { return false }
            randomPool = fresh
            randomPoolOffset = 0
        }
        randomPool.withUnsafeBytes { pool in
            destination.copyMemory(from: pool.baseAddress! + randomPoolOffset, byteCount: Self.nonceByteCount)
        }
        randomPoolOffset += Self.nonceByteCount
        return true
    }

    /// Opens `sealed` (`nonce || ciphertext || tag`) under `key` with `associatedData`, appending the plaintext.
    public func open(
        _ sealed: UnsafeRawBufferPointer,
        key: SymmetricKey,
        associatedData: UnsafeRawBufferPointer,
        appendingTo output: inout [UInt8]
    ) throws(CryptoError) {
        guard sealed.count >= Self.overhead else { throw .authenticationFailed }
        let plainCount = sealed.count - Self.overhead
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: plainCount))
        let ok = output.withUnsafeMutableBytes { raw -> Bool in
            let out = (raw.baseAddress! + start).assumingMemoryBound(to: UInt8.self)
            let input = sealed.baseAddress!.assumingMemoryBound(to: UInt8.self)
            return key.withBytes { keyBytes in
                guard EVP_DecryptInit_ex2(context, cipher, keyBytes, input, nil) == 1 else { return false }
                var length: Int32 = 0
                if associatedData.count > 0 {
                    guard
                        EVP_DecryptUpdate(
                            context, nil, &length, associatedData.baseAddress!.assumingMemoryBound(to: UInt8.self),
                            Int32(associatedData.count)) == 1
                    else { return false }
                }
                if plainCount > 0 {
                    guard
                        EVP_DecryptUpdate(
                            context, out, &length, input + Self.nonceByteCount, Int32(plainCount)) == 1
                    else { return false }
                }
                let tag = UnsafeMutableRawPointer(mutating: input + Self.nonceByteCount + plainCount)
                guard
                    EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, Int32(Self.tagByteCount), tag) == 1
                else { return false }
                var finalLength: Int32 = 0
                return EVP_DecryptFinal_ex(context, out + plainCount, &finalLength) == 1
            }
        }
        guard ok else {
            output.removeSubrange(start...)
            ERR_clear_error()
            throw .authenticationFailed
        }
    }

    /// Seals `plaintext` and returns the sealed bytes.
    public func seal(
        _ plaintext: [UInt8], key: SymmetricKey, associatedData: [UInt8]
    ) throws(CryptoError) -> [UInt8] {
        var out: [UInt8] = []
        try withBuffers(plaintext, associatedData) { (p, a) throws(CryptoError) in
            try seal(p, key: key, associatedData: a, appendingTo: &out)
        }
        return out
    }

    /// Opens sealed bytes and returns the plaintext.
    public func open(
        _ sealed: [UInt8], key: SymmetricKey, associatedData: [UInt8]
    ) throws(CryptoError) -> [UInt8] {
        var out: [UInt8] = []
        try withBuffers(sealed, associatedData) { (s, a) throws(CryptoError) in
            try open(s, key: key, associatedData: a, appendingTo: &out)
        }
        return out
    }

    private func withBuffers(
        _ first: [UInt8], _ second: [UInt8],
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(CryptoError) -> Void
    ) throws(CryptoError) {
        var failure: CryptoError?
        first.withUnsafeBytes { a in
            second.withUnsafeBytes { b in
                do throws(CryptoError) { try body(a, b) } catch { failure = error }
            }
        }
        if let failure { throw failure }
    }
}

/// A 256-bit symmetric key (a data key or the master key).
public struct SymmetricKey: Sendable, Equatable {
    /// The key's bytes.
    public let bytes: [UInt8]

    /// Wraps existing key bytes; they must be 32 bytes long.
    public init(bytes: [UInt8]) throws(CryptoError) {
        guard bytes.count == AESGCM.keyByteCount else {
            throw .invalidLength(what: "AES-256 key", expected: AESGCM.keyByteCount, actual: bytes.count)
        }
        self.bytes = bytes
    }

    /// A fresh random key.
    public static func random() throws(CryptoError) -> SymmetricKey {
        try SymmetricKey(bytes: SecureRandom.bytes(AESGCM.keyByteCount))
    }

    func withBytes<R>(_ body: (UnsafePointer<UInt8>) -> R) -> R {
        bytes.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
