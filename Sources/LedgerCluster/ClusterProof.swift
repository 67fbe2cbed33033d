// ClusterProof: an event's proof across the deployment (FORMAT.md §13, "Root log"): its inclusion proof in its
// shard's tree, the shard checkpoint that tree size was signed in, that checkpoint's inclusion in the root log and
// the signed root checkpoint; and the consistency proof between two root checkpoints. The prover checks what it
// issues with the same `check` a relying party runs.
import Foundation
public import LedgerCore
public import LedgerStore
public import NATSClient

/// A signed checkpoint as a proof carries it (the `checkpoint` object of FORMAT.md §11).
public struct ProofCheckpoint: Sendable, Codable, Equatable {
    /// The checkpoint's tree size.
    public var treeSize: UInt64
    /// Its root hash (hex).
    public var rootHash: String
    /// The signed note, verbatim.
    public var note: String
    /// The C2SP verifier key that checks the note.
    public var verifierKey: String

    /// A checkpoint as a proof lists it.
    public init(treeSize: UInt64, rootHash: String, note: String, verifierKey: String) {
        self.treeSize = treeSize
        self.rootHash = rootHash
        self.note = note
        self.verifierKey = verifierKey
    }

    enum CodingKeys: String, CodingKey {
        case note
        case treeSize = "tree_size"
        case rootHash = "root_hash"
        case verifierKey = "verifier_key"
    }
}

/// A shard checkpoint's inclusion in the root log, anchored to a signed root checkpoint of the same size.
public struct RootInclusionProof: Sendable, Codable, Equatable {
    /// The leaf's index in the root log.
    public var leafIndex: UInt64
    /// The root tree's size (the root checkpoint's).
    public var treeSize: UInt64
    /// The leaf's entry (base64): shard, shard tree size, SHA-256 of the shard checkpoint note.
    public var entry: String
    /// `SHA-256(0x00 || entry)` (hex).
    public var leafHash: String
    /// The audit path, leaf-most first (hex).
    public var inclusionProof: [String]
    /// The root of the root tree (hex).
    public var rootHash: String
    /// The signed root checkpoint.
    public var checkpoint: ProofCheckpoint

    /// The inclusion of leaf `leafIndex` (with `entry`, base64, and its `leafHash`) in the root tree of `treeSize`.
    public init(
        leafIndex: UInt64, treeSize: UInt64, entry: String, leafHash: String, inclusionProof: [String],
        rootHash: String, checkpoint: ProofCheckpoint
    ) {
        self.leafIndex = leafIndex
        self.treeSize = treeSize
        self.entry = entry
        self.leafHash = leafHash
        self.inclusionProof = inclusionProof
        self.rootHash = rootHash
        self.checkpoint = checkpoint
    }

    enum CodingKeys: String, CodingKey {
        case entry, checkpoint
        case leafIndex = "leaf_index"
        case treeSize = "tree_size"
        case leafHash = "leaf_hash"
        case inclusionProof = "inclusion_proof"
        case rootHash = "root_hash"
    }
}

/// An event's proof across the deployment.
public struct ClusterProof: Sendable, Codable, Equatable {
    /// The deployment's name.
    public var deployment: String
    /// The event's shard.
    public var shard: Int
    /// The event's inclusion proof in its shard (FORMAT.md §11), for the tree size of `shardCheckpoint`.
    public var shardProof: InclusionProof
    /// The shard checkpoint the root log records, signed by the shard's key.
    public var shardCheckpoint: ProofCheckpoint
    /// That checkpoint's inclusion in the root log, anchored to a signed root checkpoint.
    public var rootProof: RootInclusionProof

    /// A proof of `shardProof`'s event of `shard` in `deployment`, through `shardCheckpoint` and `rootProof`.
    public init(
        deployment: String, shard: Int, shardProof: InclusionProof, shardCheckpoint: ProofCheckpoint,
        rootProof: RootInclusionProof
    ) {
        self.deployment = deployment
        self.shard = shard
        self.shardProof = shardProof
        self.shardCheckpoint = shardCheckpoint
        self.rootProof = rootProof
    }

    enum CodingKeys: String, CodingKey {
        case deployment, shard
        case shardProof = "shard_proof"
        case shardCheckpoint = "shard_checkpoint"
        case rootProof = "root_proof"
    }
}

/// That a later root checkpoint extends an earlier root tree (the consistency proof of FORMAT.md §11).
public struct RootConsistencyProof: Sendable, Codable, Equatable {
    /// The earlier tree size.
    public var from: UInt64
    /// The later tree size (the checkpoint's).
    public var to: UInt64
    /// The earlier root (hex).
    public var fromRootHash: String
    /// The later root (hex).
    public var toRootHash: String
    /// The proof (hex).
    public var proof: [String]
    /// The signed root checkpoint of size `to`.
    public var checkpoint: ProofCheckpoint

    enum CodingKeys: String, CodingKey {
        case from, to, proof, checkpoint
        case fromRootHash = "from_root_hash"
        case toRootHash = "to_root_hash"
    }
}

extension ClusterProof {
    /// Checks every part; returns what the proof shows. With `rootKey` or `shardKeys` given, the checkpoints must be
    /// signed by those keys rather than by the ones the proof lists.
    public func check(
        rootKey: NoteVerifierKey? = nil, shardKeys: [NoteVerifierKey] = []
    ) throws(ClusterError)
        -> String
    {
        let listedShardKey = try Self.key(shardProof.checkpoint.verifierKey, "shard_proof.checkpoint.verifier_key")
        if !shardKeys.isEmpty, !shardKeys.contains(listedShardKey) {
            throw .proof(member: "shard_proof.checkpoint.verifier_key", reason: "is not one of the pinned shard keys")
        }
        guard shardCheckpoint.verifierKey == shardProof.checkpoint.verifierKey else {
            throw .proof(member: "shard_checkpoint.verifier_key", reason: "is not the shard proof's verifier key")
        }
        let anchor = try Self.open(
            ProofCheckpoint(
                treeSize: shardProof.checkpoint.treeSize, rootHash: shardProof.checkpoint.rootHash,
                note: shardProof.checkpoint.note, verifierKey: shardProof.checkpoint.verifierKey),
            key: listedShardKey, "shard_proof.checkpoint")
        let recorded = try Self.open(shardCheckpoint, key: listedShardKey, "shard_checkpoint")
        let shardRoot = try Self.digest(shardProof.rootHash, "shard_proof.root_hash")
        guard recorded.treeSize == shardProof.treeSize, recorded.rootHash == shardRoot else {
            throw .proof(
                member: "shard_checkpoint",
                reason: "signs size \(recorded.treeSize) root \(recorded.rootHash.hex), the shard proof is for size "
                    + "\(shardProof.treeSize) root \(shardRoot.hex)")
        }
        guard let entry = Base64.decode(shardProof.entry) else {
            throw .proof(member: "shard_proof.entry", reason: "is not base64")
        }
        let leaf = MerkleHasher.leafHash(entry)
        guard leaf == (try Self.digest(shardProof.leafHash, "shard_proof.leaf_hash")) else {
            throw .proof(member: "shard_proof.leaf_hash", reason: "is not SHA-256(0x00 || entry) = \(leaf.hex)")
        }
        let shardPath = try Self.digests(shardProof.inclusionProof, "shard_proof.inclusion_proof")
        try Self.verify("shard_proof.inclusion_proof") { () throws(MerkleVerificationError) in
            try MerkleVerifier.verifyInclusion(
                leaf: shardProof.seq, treeSize: shardProof.treeSize, leafHash: leaf, proof: shardPath, root: shardRoot)
        }
        if shardProof.treeSize == anchor.treeSize {
            guard shardRoot == anchor.rootHash else {
                throw .proof(member: "shard_proof.root_hash", reason: "is not the anchoring checkpoint's root")
            }
        } else {
            let consistency = try Self.digests(shardProof.consistencyProof ?? [], "shard_proof.consistency_proof")
            try Self.verify("shard_proof.consistency_proof") { () throws(MerkleVerificationError) in
                try MerkleVerifier.verifyConsistency(
                    firstSize: shardProof.treeSize, secondSize: anchor.treeSize, firstRoot: shardRoot,
                    secondRoot: anchor.rootHash, proof: consistency)
            }
        }
        let rootVerifier: NoteVerifierKey
        if let rootKey {
            rootVerifier = rootKey
        } else {
            rootVerifier = try Self.key(rootProof.checkpoint.verifierKey, "root_proof.checkpoint.verifier_key")
        }
        let root = try Self.open(rootProof.checkpoint, key: rootVerifier, "root_proof.checkpoint")
        guard root.origin == "call-ledger/\(deployment)/root" else {
            throw .proof(
                member: "root_proof.checkpoint", reason: "has origin \(root.origin), not deployment \(deployment)'s")
        }
        let rootHash = try Self.digest(rootProof.rootHash, "root_proof.root_hash")
        guard rootProof.treeSize == root.treeSize, rootHash == root.rootHash else {
            throw .proof(member: "root_proof", reason: "tree size and root are not the signed root checkpoint's")
        }
        let expected = try RootLeaf(shard: shard, note: shardCheckpoint.note)
        guard Base64.decode(rootProof.entry) == expected.entry else {
            throw .proof(
                member: "root_proof.entry",
                reason: "is not the leaf of shard \(shard)'s checkpoint (\(Base64.encode(expected.entry)))")
        }
        guard try Self.digest(rootProof.leafHash, "root_proof.leaf_hash") == expected.leafHash else {
            throw .proof(member: "root_proof.leaf_hash", reason: "is not SHA-256(0x00 || entry)")
        }
        let rootPath = try Self.digests(rootProof.inclusionProof, "root_proof.inclusion_proof")
        try Self.verify("root_proof.inclusion_proof") { () throws(MerkleVerificationError) in
            try MerkleVerifier.verifyInclusion(
                leaf: rootProof.leafIndex, treeSize: rootProof.treeSize, leafHash: expected.leafHash, proof: rootPath,
                root: rootHash)
        }
        return "event \(shardProof.seq) of shard \(shard) is in the shard's checkpoint of size \(shardProof.treeSize), "
            + "leaf \(rootProof.leafIndex) of the root checkpoint of size \(root.treeSize) (root \(root.rootHash.hex)), "
            + "signed by \(rootVerifier.name)"
    }

    static func key(_ text: String, _ member: String) throws(ClusterError) -> NoteVerifierKey {
        do throws(NoteError) {
            return try NoteVerifierKey(parsing: text)
        } catch {
            throw .proof(member: member, reason: "is not a verifier key: \(error)")
        }
    }

    /// The checkpoint `listed` claims, once its note verifies with `key` and its listed size and root are the signed.
    static func open(
        _ listed: ProofCheckpoint, key: NoteVerifierKey, _ member: String
    ) throws(ClusterError)
        -> Checkpoint
    {
        let checkpoint: Checkpoint
        do throws(NoteError) {
            checkpoint = try Checkpoint.open(note: listed.note, verifier: key)
        } catch {
            throw .proof(member: "\(member).note", reason: "does not verify: \(error)")
        }
        guard checkpoint.treeSize == listed.treeSize,
            checkpoint.rootHash == (try digest(listed.rootHash, "\(member).root_hash"))
        else {
            throw .proof(member: member, reason: "tree size and root are not the signed ones")
        }
        return checkpoint
    }

    static func digest(_ hex: String, _ member: String) throws(ClusterError) -> SHA256Digest {
        guard hex.count == 64, let digest = SHA256Digest(hex: hex) else {
            throw .proof(member: member, reason: "is not 64 hex digits")
        }
        return digest
    }

    static func digests(_ hexes: [String], _ member: String) throws(ClusterError) -> [SHA256Digest] {
        var result: [SHA256Digest] = []
        for (index, hex) in hexes.enumerated() { result.append(try digest(hex, "\(member)[\(index)]")) }
        return result
    }

    static func verify(_ member: String, _ body: () throws(MerkleVerificationError) -> Void) throws(ClusterError) {
        do throws(MerkleVerificationError) {
            try body()
        } catch {
            throw .proof(member: member, reason: "does not verify: \(error)")
        }
    }
}

/// Issues combined proofs and root consistency proofs from the root log and a shard's ledger.
public enum ClusterProver {
    /// The proof that event `seq` of `shard` (whose ledger is at `ledgerDirectory`) is committed to by the latest
    /// signed root checkpoint, through the first checkpoint of the shard that covers it in the root log.
    public static func prove(
        configuration: ClusterConfiguration, connection: NATSConnection, shard: Int, seq: UInt64,
        ledgerDirectory: String, keyFilePath: String?
    ) throws(ClusterError) -> ClusterProof {
        let (rootKey, latest) = try latestRoot(configuration: configuration, connection: connection)
        let entries = try RootLog.entries(configuration: configuration, connection: connection)
        guard
            let recorded = entries.first(where: {
                $0.index < latest.checkpoint.treeSize && $0.leaf.shard == shard && $0.leaf.treeSize > seq
            })
        else {
            throw .rootLog(
                reason: "the root checkpoint of size \(latest.checkpoint.treeSize) holds no checkpoint of shard "
                    + "\(shard) covering seq \(seq); wait for the shard's next checkpoint, then run "
                    + "`call-ledger cluster root sign`")
        }
        let shardProof: InclusionProof
        do throws(LedgerError) {
            shardProof = try LedgerReader(directory: ledgerDirectory, keyFilePath: keyFilePath).inclusionProof(
                seq: seq, treeSize: recorded.leaf.treeSize)
        } catch {
            throw .ledger(error)
        }
        var tree = RootLog.tree(entries, size: latest.checkpoint.treeSize)
        let path: [SHA256Digest]
        do {
            path = try tree.inclusionProof(leaf: recorded.index, treeSize: latest.checkpoint.treeSize)
        } catch {
            throw .rootLog(reason: "no inclusion proof for leaf \(recorded.index): \(error)")
        }
        let shardCheckpoint = try Checkpoint.parseUnverified(recorded.note)
        let proof = ClusterProof(
            deployment: configuration.name, shard: shard, shardProof: shardProof,
            shardCheckpoint: ProofCheckpoint(
                treeSize: shardCheckpoint.treeSize, rootHash: shardCheckpoint.rootHash.hex, note: recorded.note,
                verifierKey: shardProof.checkpoint.verifierKey),
            rootProof: RootInclusionProof(
                leafIndex: recorded.index, treeSize: latest.checkpoint.treeSize,
                entry: Base64.encode(recorded.leaf.entry), leafHash: recorded.leaf.leafHash.hex,
                inclusionProof: path.map(\.hex), rootHash: latest.checkpoint.rootHash.hex,
                checkpoint: ProofCheckpoint(
                    treeSize: latest.checkpoint.treeSize, rootHash: latest.checkpoint.rootHash.hex, note: latest.note,
                    verifierKey: rootKey.description)))
        _ = try proof.check(rootKey: rootKey)
        return proof
    }

    /// The proof that the latest signed root checkpoint extends the root tree of `from` leaves.
    public static func consistency(
        configuration: ClusterConfiguration, connection: NATSConnection, from: UInt64
    ) throws(ClusterError) -> RootConsistencyProof {
        let (rootKey, latest) = try latestRoot(configuration: configuration, connection: connection)
        let to = latest.checkpoint.treeSize
        guard from <= to else {
            throw .rootLog(reason: "--from \(from) is larger than the latest root checkpoint's size \(to)")
        }
        let entries = try RootLog.entries(configuration: configuration, connection: connection)
        var tree = RootLog.tree(entries, size: to)
        do {
            let fromRoot = try tree.rootHash(treeSize: from)
            let toRoot = try tree.rootHash(treeSize: to)
            guard toRoot == latest.checkpoint.rootHash else {
                throw ClusterError.rootLog(reason: "the root log does not give the signed root of size \(to)")
            }
            let proof = try tree.consistencyProof(from: from, to: to)
            try MerkleVerifier.verifyConsistency(
                firstSize: from, secondSize: to, firstRoot: fromRoot, secondRoot: toRoot, proof: proof)
            return RootConsistencyProof(
                from: from, to: to, fromRootHash: fromRoot.hex, toRootHash: toRoot.hex, proof: proof.map(\.hex),
                checkpoint: ProofCheckpoint(
                    treeSize: to, rootHash: toRoot.hex, note: latest.note, verifierKey: rootKey.description))
        } catch let error as ClusterError {
            throw error
        } catch {
            throw .rootLog(reason: "no consistency proof from \(from) to \(to): \(error)")
        }
    }

    private static func latestRoot(
        configuration: ClusterConfiguration, connection: NATSConnection
    ) throws(ClusterError) -> (NoteVerifierKey, (checkpoint: Checkpoint, note: String)) {
        guard let rootKey = try RootLog.verifierKey(configuration: configuration, connection: connection),
            let latest = try RootLog.checkpoints(
                configuration: configuration, connection: connection, verifier: rootKey
            )
            .last
        else {
            throw .rootLog(reason: "no root checkpoint is signed yet; run `call-ledger cluster root sign`")
        }
        return (rootKey, latest)
    }
}

extension Checkpoint {
    /// The checkpoint a signed note states, its signature not checked (the caller checks it with the right key).
    static func parseUnverified(_ note: String) throws(ClusterError) -> Checkpoint {
        do throws(NoteError) {
            return try Checkpoint(body: try SignedNote(parsing: note).text)
        } catch {
            throw .rootLog(reason: "not a signed checkpoint: \(error)")
        }
    }
}
