// prove inclusion / prove consistency: RFC 6962 proofs from the stored tree, anchored to a signed checkpoint.
import LedgerCore

/// A signed checkpoint a proof is anchored to.
public struct AnchorCheckpoint: Sendable, Codable, Equatable {
    /// The checkpoint's tree size.
    public var treeSize: UInt64
    /// Its root hash (hex).
    public var rootHash: String
    /// The signed note, verbatim.
    public var note: String
    /// The C2SP verifier key that checks the note.
    public var verifierKey: String

    enum CodingKeys: String, CodingKey {
        case treeSize = "tree_size"
        case rootHash = "root_hash"
        case note
        case verifierKey = "verifier_key"
    }
}

/// An inclusion proof for one event.
public struct InclusionProof: Sendable, Codable, Equatable {
    /// The event's seq (its leaf index).
    public var seq: UInt64
    /// The tree size the proof is for.
    public var treeSize: UInt64
    /// The event's entry bytes (base64): what the leaf hash commits to.
    public var entry: String
    /// `SHA-256(0x00 || entry)` (hex).
    public var leafHash: String
    /// The audit path, leaf-most first (hex).
    public var inclusionProof: [String]
    /// The root of the tree of `treeSize` leaves (hex).
    public var rootHash: String
    /// The signed checkpoint that anchors the proof.
    public var checkpoint: AnchorCheckpoint
    /// When `treeSize` differs from the checkpoint's: the consistency proof from `treeSize` to it (hex).
    public var consistencyProof: [String]?

    enum CodingKeys: String, CodingKey {
        case seq, entry, checkpoint
        case treeSize = "tree_size"
        case leafHash = "leaf_hash"
        case inclusionProof = "inclusion_proof"
        case rootHash = "root_hash"
        case consistencyProof = "consistency_proof"
    }
}

/// A consistency proof between two tree sizes.
public struct ConsistencyProof: Sendable, Codable, Equatable {
    /// The earlier tree size.
    public var from: UInt64
    /// The later tree size.
    public var to: UInt64
    /// The earlier root (hex).
    public var fromRootHash: String
    /// The later root (hex).
    public var toRootHash: String
    /// The proof (hex).
    public var proof: [String]
    /// The signed checkpoint that anchors `to`.
    public var checkpoint: AnchorCheckpoint
    /// When `to` differs from the checkpoint's size: the consistency proof from `to` to it (hex).
    public var checkpointConsistencyProof: [String]?

    enum CodingKeys: String, CodingKey {
        case from, to, proof, checkpoint
        case fromRootHash = "from_root_hash"
        case toRootHash = "to_root_hash"
        case checkpointConsistencyProof = "checkpoint_consistency_proof"
    }
}

extension LedgerReader {
    /// The latest checkpoint covering at least `size` events.
    func anchor(covering size: UInt64) throws(LedgerError) -> (Checkpoint, AnchorCheckpoint) {
        guard let found = try latestCheckpoint(), found.checkpoint.treeSize >= size else {
            throw .invalidRequest(
                "no signed checkpoint covers \(size) events yet; run `call-ledger checkpoint` and try again")
        }
        return (
            found.checkpoint,
            AnchorCheckpoint(
                treeSize: found.checkpoint.treeSize, rootHash: found.checkpoint.rootHash.hex, note: found.note,
                verifierKey: storage.verifierKey.description)
        )
    }

    func proofTree() throws(LedgerError) -> MerkleTree<TreeStore> {
        MerkleTree(source: storage.tree)
    }

    /// Fails unless `root`, read from the stored tree for `size` leaves, is the signed checkpoint's root when
    /// `size` is the checkpoint's size (other sizes are tied to it by a verified consistency proof): a proof is
    /// never issued from a damaged tree file.
    static func requireSignedRoot(_ root: SHA256Digest, size: UInt64, checkpoint: Checkpoint) throws(LedgerError) {
        guard size != checkpoint.treeSize || root == checkpoint.rootHash else {
            throw .invalidRequest(
                "the stored tree (tree/) gives root \(root.hex) for size \(size), the signed checkpoint says "
                    + "\(checkpoint.rootHash.hex); run `call-ledger verify`, then delete tree/ and run "
                    + "`call-ledger reindex` to rebuild it from the log")
        }
    }

    /// The inclusion proof of event `seq` in the tree of `treeSize` events (default: the latest checkpoint's).
    public func inclusionProof(seq: UInt64, treeSize: UInt64? = nil) throws(LedgerError) -> InclusionProof {
        guard seq < storage.size else {
            throw .invalidRequest(
                storage.size == 0
                    ? "the ledger is empty; there is no seq \(seq) to prove"
                    : "seq \(seq) is not in the ledger (it holds seqs 0...\(storage.size - 1))")
        }
        let (checkpoint, anchor) = try anchor(covering: max(seq + 1, treeSize ?? 0))
        let size = treeSize ?? checkpoint.treeSize
        guard seq < size else { throw .invalidRequest("seq \(seq) is not inside a tree of size \(size)") }
        var entry: [UInt8]?
        try storage.forEachRecord(in: seq..<seq + 1) { record in entry = record.entry }
        guard let entry else {
            throw .invalidRequest(
                "seq \(seq) is not where index.sqlite says it is; run `call-ledger verify`, then `call-ledger reindex`")
        }
        var tree = try proofTree()
        do {
            let path = try tree.inclusionProof(leaf: seq, treeSize: size)
            let root = try tree.rootHash(treeSize: size)
            try Self.requireSignedRoot(root, size: size, checkpoint: checkpoint)
            let leaf = MerkleHasher.leafHash(entry)
            try MerkleVerifier.verifyInclusion(leaf: seq, treeSize: size, leafHash: leaf, proof: path, root: root)
            var consistency: [SHA256Digest]?
            if size != checkpoint.treeSize {
                let proof = try tree.consistencyProof(from: size, to: checkpoint.treeSize)
                try MerkleVerifier.verifyConsistency(
                    firstSize: size, secondSize: checkpoint.treeSize, firstRoot: root, secondRoot: checkpoint.rootHash,
                    proof: proof)
                consistency = proof
            }
            return InclusionProof(
                seq: seq, treeSize: size, entry: Base64.encode(entry), leafHash: leaf.hex,
                inclusionProof: path.map(\.hex), rootHash: root.hex, checkpoint: anchor,
                consistencyProof: consistency?.map(\.hex))
        } catch let error as LedgerError {
            throw error
        } catch {
            throw .invalidRequest("the stored tree does not produce a valid proof (\(error)); run `call-ledger verify`")
        }
    }

    /// The consistency proof between the trees of `from` and `to` events.
    public func consistencyProof(from: UInt64, to: UInt64) throws(LedgerError) -> ConsistencyProof {
        guard from <= to else { throw .invalidRequest("--from (\(from)) must not be larger than --to (\(to))") }
        guard to <= storage.size else {
            throw .invalidRequest("--to \(to) is larger than the ledger's \(storage.size) events")
        }
        let (checkpoint, anchor) = try anchor(covering: to)
        var tree = try proofTree()
        do {
            let fromRoot = try tree.rootHash(treeSize: from)
            let toRoot = try tree.rootHash(treeSize: to)
            try Self.requireSignedRoot(toRoot, size: to, checkpoint: checkpoint)
            let proof = try tree.consistencyProof(from: from, to: to)
            try MerkleVerifier.verifyConsistency(
                firstSize: from, secondSize: to, firstRoot: fromRoot, secondRoot: toRoot, proof: proof)
            var extra: [SHA256Digest]?
            if to != checkpoint.treeSize {
                let toCheckpoint = try tree.consistencyProof(from: to, to: checkpoint.treeSize)
                try MerkleVerifier.verifyConsistency(
                    firstSize: to, secondSize: checkpoint.treeSize, firstRoot: toRoot, secondRoot: checkpoint.rootHash,
                    proof: toCheckpoint)
                extra = toCheckpoint
            }
            return ConsistencyProof(
                from: from, to: to, fromRootHash: fromRoot.hex, toRootHash: toRoot.hex, proof: proof.map(\.hex),
                checkpoint: anchor, checkpointConsistencyProof: extra?.map(\.hex))
        } catch let error as LedgerError {
            throw error
        } catch {
            throw .invalidRequest("the stored tree does not produce a valid proof (\(error)); run `call-ledger verify`")
        }
    }
}
