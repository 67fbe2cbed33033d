// Ed25519 signing and verification (RFC 8032) through OpenSSL, used for checkpoint signatures.
import CCrypto

/// An Ed25519 private key, held as its 32-byte seed.
public struct Ed25519PrivateKey: Sendable {
    /// The 32-byte seed.
    public let seed: [UInt8]
    /// The matching public key.
    public let publicKey: Ed25519PublicKey

    /// Derives the key pair from a 32-byte seed.
    public init(seed: [UInt8]) throws(CryptoError) {
        guard seed.count == 32 else { throw .invalidLength(what: "Ed25519 seed", expected: 32, actual: seed.count) }
        self.seed = seed
        let pkey = try Self.makePKey(seed)
        defer { EVP_PKEY_free(pkey) }
        var publicBytes = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_get_raw_public_key(pkey, &publicBytes, &length) == 1, length == 32 else {
            throw .fromQueue("EVP_PKEY_get_raw_public_key")
        }
        self.publicKey = try Ed25519PublicKey(bytes: publicBytes)
    }

    /// A fresh random key pair.
    public static func generate() throws(CryptoError) -> Ed25519PrivateKey {
        try Ed25519PrivateKey(seed: SecureRandom.bytes(32))
    }

    /// The 64-byte signature of `message`.
    public func signature(for message: [UInt8]) throws(CryptoError) -> [UInt8] {
        let pkey = try Self.makePKey(seed)
        defer { EVP_PKEY_free(pkey) }
        guard let context = EVP_MD_CTX_new() else { throw .fromQueue("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, nil, nil, pkey) == 1 else { throw .fromQueue("EVP_DigestSignInit") }
        var signature = [UInt8](repeating: 0, count: 64)
        var length = 64
        guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1, length == 64 else {
            throw .fromQueue("EVP_DigestSign")
        }
        return signature
    }

    private static func makePKey(_ seed: [UInt8]) throws(CryptoError) -> OpaquePointer {
        guard let pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, seed, seed.count) else {
            throw .fromQueue("EVP_PKEY_new_raw_private_key")
        }
        return pkey
    }
}

/// An Ed25519 public key.
public struct Ed25519PublicKey: Sendable, Equatable {
    /// The 32 key bytes.
    public let bytes: [UInt8]

    /// Wraps 32 public-key bytes.
    public init(bytes: [UInt8]) throws(CryptoError) {
        guard bytes.count == 32 else {
            throw .invalidLength(what: "Ed25519 public key", expected: 32, actual: bytes.count)
        }
        self.bytes = bytes
    }

    /// Whether `signature` is a valid signature of `message` under this key.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard signature.count == 64,
            let pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, bytes, bytes.count)
        else {
            ERR_clear_error()
            return false
        }
        defer { EVP_PKEY_free(pkey) }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, nil, nil, pkey) == 1 else {
            ERR_clear_error()
            return false
        }
        let ok = EVP_DigestVerify(context, signature, signature.count, message, message.count) == 1
        ERR_clear_error()
        return ok
    }
}
