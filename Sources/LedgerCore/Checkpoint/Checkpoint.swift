// C2SP tlog-checkpoint bodies: origin, tree size and root hash, signed as a C2SP signed note.

/// A transparency-log checkpoint (C2SP `tlog-checkpoint`): the tree head a signature commits to.
public struct Checkpoint: Sendable, Equatable {
    /// The log's origin line, unique to this ledger.
    public var origin: String
    /// Number of entries in the tree.
    public var treeSize: UInt64
    /// RFC 6962 root hash of the first `treeSize` entries.
    public var rootHash: SHA256Digest

    /// A checkpoint for the given tree head.
    public init(origin: String, treeSize: UInt64, rootHash: SHA256Digest) {
        self.origin = origin
        self.treeSize = treeSize
        self.rootHash = rootHash
    }

    /// The note body: `origin\ntree size\nbase64 root\n`.
    public var body: String {
        "\(origin)\n\(treeSize)\n\(rootHash.base64)\n"
    }

    /// Parses a note body; extension lines after the root are allowed and ignored.
    public init(body: String) throws(NoteError) {
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false)
        guard body.hasSuffix("\n"), lines.count >= 4 else {
            throw .malformedNote(reason: "a checkpoint body needs origin, size and root lines")
        }
        guard !lines[0].isEmpty else { throw .malformedNote(reason: "empty origin line") }
        guard let size = UInt64(lines[1]), String(size) == lines[1] else {
            throw .malformedNote(reason: "tree size line \"\(lines[1])\" is not a decimal number")
        }
        guard let rootBytes = Base64.decode(lines[2]), let root = SHA256Digest(bytes: rootBytes) else {
            throw .malformedNote(reason: "root hash line is not base64 of 32 bytes")
        }
        self.init(origin: String(lines[0]), treeSize: size, rootHash: root)
    }

    /// Signs this checkpoint.
    public func signed(by signer: NoteSignerKey) throws(NoteError) -> SignedNote {
        try SignedNote.sign(text: body, signer: signer)
    }

    /// Parses a signed checkpoint note and verifies it with `key`.
    public static func open(note: String, verifier key: NoteVerifierKey) throws(NoteError) -> Checkpoint {
        let signed = try SignedNote(parsing: note)
        try signed.verify(with: key)
        return try Checkpoint(body: signed.text)
    }
}
