// C2SP signed-note Ed25519 keys: signer and verifier key strings and key IDs.

/// Errors reading note keys or notes.
public enum NoteError: Error, CustomStringConvertible, Equatable {
    /// A key string does not have the `name+hexid+base64` (or `PRIVATE+KEY+...`) shape.
    case malformedKey(String)
    /// A key's name is empty or holds a space or a plus sign.
    case invalidKeyName(String)
    /// The key ID in the string does not match the key.
    case keyIDMismatch(name: String)
    /// Only Ed25519 keys (algorithm byte 0x01) are supported.
    case unsupportedAlgorithm(UInt8)
    /// The note text is not valid: `reason` says why.
    case malformedNote(reason: String)
    /// No signature line by the verifier's key and name was found.
    case noSignatureByKey(name: String)
    /// The signature line by the verifier's key does not verify.
    case invalidSignature(name: String)
    /// A cryptographic operation failed.
    case crypto(CryptoError)

    /// A message a person can act on.
    public var description: String {
        switch self {
        case .malformedKey(let reason): "malformed note key: \(reason)"
        case .invalidKeyName(let name): "invalid key name \"\(name)\": it must be non-empty, without spaces or '+'"
        case .keyIDMismatch(let name): "key ID of key \"\(name)\" does not match its key bytes"
        case .unsupportedAlgorithm(let byte):
            "unsupported signature algorithm 0x\(Hex.encode([byte])) (only Ed25519, 0x01)"
        case .malformedNote(let reason): "malformed signed note: \(reason)"
        case .noSignatureByKey(let name): "the note carries no signature by key \"\(name)\""
        case .invalidSignature(let name): "the signature by key \"\(name)\" does not verify"
        case .crypto(let error): error.description
        }
    }
}

/// The C2SP signed-note key ID: the first four bytes of `SHA-256(name || 0x0A || 0x01 || public key)`.
func noteKeyID(name: String, publicKey: Ed25519PublicKey) -> UInt32 {
    let digest = SHA256.hash(Array(name.utf8) + [0x0A, 0x01] + publicKey.bytes).bytes
    return UInt32(digest[0]) << 24 | UInt32(digest[1]) << 16 | UInt32(digest[2]) << 8 | UInt32(digest[3])
}

private func validateKeyName(_ name: String) throws(NoteError) {
    guard !name.isEmpty, !name.contains("+"), !name.unicodeScalars.contains(where: { $0.properties.isWhitespace })
    else { throw .invalidKeyName(name) }
}

private func hexID(_ id: UInt32) -> String {
    Hex.encode([UInt8(id >> 24), UInt8(id >> 16 & 0xFF), UInt8(id >> 8 & 0xFF), UInt8(id & 0xFF)])
}

/// A C2SP signed-note Ed25519 verifier key: `<name>+<hex key id>+<base64(0x01 || public key)>`.
public struct NoteVerifierKey: Sendable, Equatable, CustomStringConvertible {
    /// The key's name, which signature lines repeat.
    public let name: String
    /// The 32-bit key ID.
    public let keyID: UInt32
    /// The Ed25519 public key.
    public let publicKey: Ed25519PublicKey

    /// The verifier key for `publicKey` under `name`.
    public init(name: String, publicKey: Ed25519PublicKey) throws(NoteError) {
        try validateKeyName(name)
        self.name = name
        self.publicKey = publicKey
        self.keyID = noteKeyID(name: name, publicKey: publicKey)
    }

    /// Parses a verifier key string.
    public init(parsing text: String) throws(NoteError) {
        let fields = text.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 3 else { throw .malformedKey("expected name+keyid+key, got \(fields.count) fields") }
        guard fields[1].count == 8, let id = UInt32(fields[1], radix: 16) else {
            throw .malformedKey("key ID must be 8 hex digits")
        }
        guard let keyBytes = Base64.decode(fields[2]), keyBytes.count == 33 else {
            throw .malformedKey("key must be base64 of 33 bytes")
        }
        guard keyBytes[0] == 0x01 else { throw .unsupportedAlgorithm(keyBytes[0]) }
        let publicKey: Ed25519PublicKey
        do { publicKey = try Ed25519PublicKey(bytes: Array(keyBytes[1...])) } catch { throw .crypto(error) }
        try self.init(name: String(fields[0]), publicKey: publicKey)
        guard keyID == id else { throw .keyIDMismatch(name: name) }
    }

    /// The key string.
    public var description: String {
        "\(name)+\(hexID(keyID))+\(Base64.encode([0x01] + publicKey.bytes))"
    }
}

/// A C2SP signed-note Ed25519 signer key: `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>`.
public struct NoteSignerKey: Sendable, CustomStringConvertible {
    /// The key's name.
    public let name: String
    /// The private key.
    public let privateKey: Ed25519PrivateKey
    /// The matching verifier key.
    public let verifierKey: NoteVerifierKey

    /// The signer for `privateKey` under `name`.
    public init(name: String, privateKey: Ed25519PrivateKey) throws(NoteError) {
        self.name = name
        self.privateKey = privateKey
        self.verifierKey = try NoteVerifierKey(name: name, publicKey: privateKey.publicKey)
    }

    /// A new random signer under `name`.
    public static func generate(name: String) throws(NoteError) -> NoteSignerKey {
        do { return try NoteSignerKey(name: name, privateKey: try Ed25519PrivateKey.generate()) } catch let error
            as NoteError
        {
            throw error
        } catch {
            throw .crypto(error as? CryptoError ?? .authenticationFailed)
        }
    }

    /// Parses a signer key string.
    public init(parsing text: String) throws(NoteError) {
        let fields = text.split(separator: "+", maxSplits: 4, omittingEmptySubsequences: false)
        guard fields.count == 5, fields[0] == "PRIVATE", fields[1] == "KEY" else {
            throw .malformedKey("expected PRIVATE+KEY+name+keyid+key")
        }
        guard fields[3].count == 8, let id = UInt32(fields[3], radix: 16) else {
            throw .malformedKey("key ID must be 8 hex digits")
        }
        guard let keyBytes = Base64.decode(fields[4]), keyBytes.count == 33 else {
            throw .malformedKey("key must be base64 of 33 bytes")
        }
        guard keyBytes[0] == 0x01 else { throw .unsupportedAlgorithm(keyBytes[0]) }
        let privateKey: Ed25519PrivateKey
        do { privateKey = try Ed25519PrivateKey(seed: Array(keyBytes[1...])) } catch { throw .crypto(error) }
        try self.init(name: String(fields[2]), privateKey: privateKey)
        guard verifierKey.keyID == id else { throw .keyIDMismatch(name: name) }
    }

    /// The key string (secret: it holds the private key).
    public var description: String {
        "PRIVATE+KEY+\(name)+\(hexID(verifierKey.keyID))+\(Base64.encode([0x01] + privateKey.seed))"
    }
}
