// C2SP signed-note and tlog-checkpoint: the Go sumdb reference vector, and checkpoint round trips.
import LedgerCore
import Testing

@Suite struct SignedNoteTests {
    private let vector: [String: Any]

    init() throws {
        vector = try FixtureFiles.json("signed-note/go-sumdb-note-vector.json")
    }

    @Test func signerReproducesReferenceNoteByteForByte() throws {
        let signer = try NoteSignerKey(parsing: vector["signer_key"] as! String)
        let note = try SignedNote.sign(text: vector["text"] as! String, signer: signer)
        #expect(note.serialized == vector["signed_note"] as! String)
        #expect(signer.verifierKey.description == vector["verifier_key"] as! String)
        #expect(signer.description == vector["signer_key"] as! String)
    }

    @Test func verifierAcceptsReferenceNote() throws {
        let key = try NoteVerifierKey(parsing: vector["verifier_key"] as! String)
        let note = try SignedNote(parsing: vector["signed_note"] as! String)
        try note.verify(with: key)
        #expect(note.text == vector["text"] as! String)
    }

    @Test func verifierRejectsAlteredText() throws {
        let key = try NoteVerifierKey(parsing: vector["verifier_key"] as! String)
        let altered = (vector["signed_note"] as! String).replacingOccurrences(of: "problem", with: "problen")
        let note = try SignedNote(parsing: altered)
        #expect(throws: NoteError.invalidSignature(name: "PeterNeumann")) { try note.verify(with: key) }
    }

    @Test func verifierRejectsOtherKey() throws {
        let other = try NoteSignerKey.generate(name: "PeterNeumann")
        let note = try SignedNote(parsing: vector["signed_note"] as! String)
        #expect(throws: NoteError.noSignatureByKey(name: "PeterNeumann")) { try note.verify(with: other.verifierKey) }
    }

    @Test func malformedKeysAreRejected() {
        #expect(throws: NoteError.self) { try NoteVerifierKey(parsing: "name+zz+AAAA") }
        #expect(throws: NoteError.self) {
            try NoteVerifierKey(parsing: "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
        }
    }

    @Test func checkpointRoundTripsThroughSignedNote() throws {
        let signer = try NoteSignerKey.generate(name: "example.com/ledger")
        let checkpoint = Checkpoint(
            origin: "example.com/ledger", treeSize: 12345, rootHash: SHA256.hash(Array("root".utf8)))
        let note = try checkpoint.signed(by: signer).serialized
        #expect(
            note.hasPrefix("example.com/ledger\n12345\n\(checkpoint.rootHash.base64)\n\n\u{2014} example.com/ledger "))
        #expect(try Checkpoint.open(note: note, verifier: signer.verifierKey) == checkpoint)
    }
}
