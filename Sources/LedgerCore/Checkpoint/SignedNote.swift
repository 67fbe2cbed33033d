// C2SP signed-note: signing a note text and verifying the signature lines that follow it.

/// A note text with its signature lines, per C2SP `signed-note`.
public struct SignedNote: Sendable, Equatable {
    /// One signature line: `— <name> <base64(key id || signature)>`.
    public struct Signature: Sendable, Equatable {
        /// The signer's key name.
        public var name: String
        /// The signer's key ID.
        public var keyID: UInt32
        /// The signature bytes (64 for Ed25519).
        public var signature: [UInt8]
    }

    /// The signed text, ending in a newline.
    public let text: String
    /// The signature lines, in order.
    public let signatures: [Signature]

    private static let dash = "\u{2014} "

    /// Signs `text` with `signer`.
    public static func sign(text: String, signer: NoteSignerKey) throws(NoteError) -> SignedNote {
        try validate(text: text)
        let signature: [UInt8]
        do { signature = try signer.privateKey.signature(for: Array(text.utf8)) } catch { throw .crypto(error) }
        return SignedNote(
            text: text,
            signatures: [Signature(name: signer.name, keyID: signer.verifierKey.keyID, signature: signature)])
    }

    /// Parses a signed note: the text, a blank line, and one or more signature lines.
    public init(parsing note: String) throws(NoteError) {
        let bytes = Array(note.utf8)
        guard bytes.last == 0x0A else { throw .malformedNote(reason: "does not end with a newline") }
        guard let split = (0..<bytes.count - 1).last(where: { bytes[$0] == 0x0A && bytes[$0 + 1] == 0x0A }) else {
            throw .malformedNote(reason: "no blank line before the signatures")
        }
        let text = String(decoding: bytes[...split], as: UTF8.self)
        try Self.validate(text: text)
        var signatures: [Signature] = []
        let lines = bytes[(split + 2)...].split(separator: 0x0A, omittingEmptySubsequences: false).dropLast()
        for lineBytes in lines {
            let line = String(decoding: lineBytes, as: UTF8.self)
            guard line.hasPrefix(Self.dash) else { throw .malformedNote(reason: "signature line without '— '") }
            let parts = line.dropFirst(Self.dash.count).split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, let blob = Base64.decode(parts[1]), blob.count > 4 else {
                throw .malformedNote(reason: "signature line is not '— name base64'")
            }
            let id = blob[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            signatures.append(Signature(name: String(parts[0]), keyID: id, signature: Array(blob[4...])))
        }
        guard !signatures.isEmpty else { throw .malformedNote(reason: "no signature lines") }
        self.init(text: text, signatures: signatures)
    }

    private init(text: String, signatures: [Signature]) {
        self.text = text
        self.signatures = signatures
    }

    /// The serialized note: text, blank line, signature lines.
    public var serialized: String {
        var out = text + "\n"
        for signature in signatures {
            let id = signature.keyID
            let idBytes: [UInt8] = [UInt8(id >> 24), UInt8(id >> 16 & 0xFF), UInt8(id >> 8 & 0xFF), UInt8(id & 0xFF)]
            let blob = idBytes + signature.signature
            out += "\(Self.dash)\(signature.name) \(Base64.encode(blob))\n"
        }
        return out
    }

    /// Checks that the note carries a valid signature by `key`; other signers' lines are ignored.
    public func verify(with key: NoteVerifierKey) throws(NoteError) {
        let matching = signatures.filter { $0.name == key.name && $0.keyID == key.keyID }
        guard !matching.isEmpty else { throw .noSignatureByKey(name: key.name) }
        let message = Array(text.utf8)
        for signature in matching where !key.publicKey.isValidSignature(signature.signature, for: message) {
            throw .invalidSignature(name: key.name)
        }
    }

    private static func validate(text: String) throws(NoteError) {
        guard text.hasSuffix("\n") else { throw .malformedNote(reason: "text does not end with a newline") }
        guard !text.hasSuffix("\n\n") || text == "\n" else {
            throw .malformedNote(reason: "text ends with a blank line")
        }
        for scalar in text.unicodeScalars where scalar.value < 0x20 && scalar != "\n" {
            throw .malformedNote(reason: "text holds control character U+\(String(scalar.value, radix: 16))")
        }
    }
}
