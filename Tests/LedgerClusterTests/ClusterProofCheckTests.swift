// ClusterProof.check without NATS: a real shard ledger's inclusion proof and checkpoint (made with the CLI), a root
// log of three leaves built and signed in process, and the part each wrong proof is refused at.
import Foundation
import LedgerCluster
import LedgerCore
import LedgerStore
import LedgerTestSupport
import Testing

@Suite struct ClusterProofCheckTests {
    /// A shard ledger with checkpoints at 4 and 9 events, the inclusion proof of seq 1 at size 4 and that note.
    private struct Shard {
        let scratch = ScratchDirectory()
        let proof: InclusionProof
        let note: String
        let key: NoteVerifierKey

        init() throws {
            let directory = scratch.file("shard")
            let made = try callLedger("init", directory, "--checkpoint-every-events", "4")
            try #require(made.status == 0, "\(made.stderr)")
            let lines = simulatedLines(calls: 1, seed: 5)
            try #require(lines.count >= 9)
            for part in [lines[0..<4], lines[4..<9]] {
                let appended = try callLedger(
                    "append", "--ledger", directory, input: Data((part.joined(separator: "\n") + "\n").utf8))
                try #require(appended.status == 0, "\(appended.stderr)")
            }
            let proved = try callLedger("prove", "inclusion", "--ledger", directory, "--seq", "1", "--size", "4")
            try #require(proved.status == 0, "\(proved.stderr)")
            proof = try JSONDecoder().decode(InclusionProof.self, from: Data(proved.stdout.utf8))
            note = try String(contentsOfFile: directory + "/checkpoints/00000000000000000004.note", encoding: .utf8)
            key = try NoteVerifierKey(
                parsing: try String(contentsOfFile: directory + "/verifier.key", encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// A proof for `shard`'s checkpoint as leaf 1 of a three-leaf root log signed by `signer`.
    private static func proof(_ shard: Shard, signer: NoteSignerKey) throws -> ClusterProof {
        let recorded = try RootLeaf(shard: 0, note: shard.note)
        let leaves = [
            try RootLeaf(shard: 1, note: shard.note).leafHash, recorded.leafHash,
            try RootLeaf(shard: 2, note: shard.note).leafHash,
        ]
        var tree = MerkleTree(source: InMemoryMerkleTree(leafHashes: leaves))
        let root = try tree.rootHash(treeSize: 3)
        let note = try Checkpoint(origin: signer.name, treeSize: 3, rootHash: root).signed(by: signer)
            .serialized
        let stated = try Checkpoint.open(note: shard.note, verifier: shard.key)
        return ClusterProof(
            deployment: "unit", shard: 0, shardProof: shard.proof,
            shardCheckpoint: ProofCheckpoint(
                treeSize: stated.treeSize, rootHash: stated.rootHash.hex, note: shard.note,
                verifierKey: shard.key.description),
            rootProof: RootInclusionProof(
                leafIndex: 1, treeSize: 3, entry: Base64.encode(recorded.entry), leafHash: recorded.leafHash.hex,
                inclusionProof: try tree.inclusionProof(leaf: 1, treeSize: 3).map(\.hex), rootHash: root.hex,
                checkpoint: ProofCheckpoint(
                    treeSize: 3, rootHash: root.hex, note: note, verifierKey: signer.verifierKey.description)))
    }

    /// The member `check` refuses `proof` at.
    private static func refusal(
        _ proof: ClusterProof, rootKey: NoteVerifierKey? = nil, shardKeys: [NoteVerifierKey] = []
    ) -> String? {
        do {
            _ = try proof.check(rootKey: rootKey, shardKeys: shardKeys)
            return nil
        } catch {
            guard case .proof(let member, _) = error else { return "\(error)" }
            return member
        }
    }

    @Test func aProofThroughTheShardAndTheRootChecksAndEachWrongPartIsRefusedWhereItIs() throws {
        let shard = try Shard()
        let signer = try NoteSignerKey.generate(name: "call-ledger/unit/root")
        let proof = try Self.proof(shard, signer: signer)
        #expect(Self.refusal(proof, rootKey: signer.verifierKey, shardKeys: [shard.key]) == nil)
        #expect(try proof.check().contains("leaf 1 of the root checkpoint of size 3"))

        var otherShard = proof
        otherShard.shard = 2
        #expect(Self.refusal(otherShard) == "root_proof.entry")

        var otherLeaf = proof
        otherLeaf.rootProof.leafIndex = 2
        #expect(Self.refusal(otherLeaf) == "root_proof.inclusion_proof")

        let stranger = try NoteSignerKey.generate(name: "call-ledger/unit/root")
        #expect(Self.refusal(proof, rootKey: stranger.verifierKey) == "root_proof.checkpoint.note")
        #expect(
            Self.refusal(proof, shardKeys: [stranger.verifierKey]) == "shard_proof.checkpoint.verifier_key")

        let otherDeployment = try NoteSignerKey.generate(name: "call-ledger/other/root")
        #expect(Self.refusal(try Self.proof(shard, signer: otherDeployment)) == "root_proof.checkpoint")

        var laterSize = proof
        laterSize.shardProof.treeSize = 9
        #expect(Self.refusal(laterSize) == "shard_checkpoint")
    }
}
