// prove redaction: for each retention.purged event of a call, the call's leaves in the signed checkpoint that the
// event names (so what was erased had been committed to before), a consistency proof from that checkpoint to the
// latest one, the purged event's own inclusion proof, and what the store holds of the erased classes now.
import LedgerCore

/// One event's entry, leaf hash and audit path in a tree whose size the enclosing proof states.
public struct LeafProof: Sendable, Codable, Equatable {
    /// The event's seq (its leaf index).
    public var seq: UInt64
    /// The event's entry bytes (FORMAT.md §5, base64): what the leaf hash commits to.
    public var entry: String
    /// `SHA-256(0x00 || entry)` (hex).
    public var leafHash: String
    /// The audit path, leaf-most first (hex).
    public var inclusionProof: [String]

    enum CodingKeys: String, CodingKey {
        case seq, entry
        case leafHash = "leaf_hash"
        case inclusionProof = "inclusion_proof"
    }
}

/// A retention policy as an event names it.
public struct PolicyReference: Sendable, Codable, Equatable {
    /// The policy's name.
    public var name: String
    /// Its version.
    public var version: String
    /// The SHA-256 of the policy file (hex).
    public var digest: String
}

/// The proof of one erasure: one `retention.purged` event of the call.
public struct PurgeProof: Sendable, Codable, Equatable {
    /// The seq of the `retention.purged` event.
    public var seq: UInt64
    /// The data classes it erased.
    public var classes: [String]
    /// The policy that made it due.
    public var policy: PolicyReference
    /// How: `crypto-shred` or `zero-retention`.
    public var method: String
    /// The `retention.purged` event's leaf in the tree of the proof's (latest) checkpoint.
    public var purgedEvent: LeafProof
    /// The signed checkpoint the event names: the one signed just before the keys were destroyed.
    public var before: AnchorCheckpoint
    /// Every event of the call inside `before`'s tree, each with its audit path in that tree.
    public var leaves: [LeafProof]
    /// The consistency proof from `before`'s tree size to the latest checkpoint's (hex).
    public var consistencyProof: [String]

    enum CodingKeys: String, CodingKey {
        case seq, classes, policy, method, before, leaves
        case purgedEvent = "purged_event"
        case consistencyProof = "consistency_proof"
    }
}

/// What the store holds of a call's erased classes. Not a cryptographic proof: the ledger's own report of its
/// files, which an auditor with access to them can repeat.
public struct RedactionStoreCheck: Sendable, Codable, Equatable {
    /// The classes the call's `retention.purged` events erased, sorted.
    public var erasedClasses: [String]
    /// Those of them that still have a row in `keys.sqlite` (empty when every key is gone).
    public var keysPresent: [String]
    /// The call's events read from the segments (walked frame by frame, not looked up in the index).
    public var eventsRead: Int
    /// Sealed parts of an erased class stored in compacted form (digest only).
    public var partsCompacted: Int
    /// Sealed parts of an erased class that still hold their ciphertext (in no later compaction yet).
    public var partsWithCiphertext: Int

    enum CodingKeys: String, CodingKey {
        case erasedClasses = "erased_classes"
        case keysPresent = "keys_present"
        case eventsRead = "events_read"
        case partsCompacted = "parts_compacted"
        case partsWithCiphertext = "parts_with_ciphertext"
    }
}

/// The proof that a call's data classes were erased: see `LedgerReader.redactionProof(call:)`.
public struct RedactionProof: Sendable, Codable, Equatable {
    /// The call.
    public var call: String
    /// The latest signed checkpoint: the purged events' leaves and the consistency proofs end in its tree.
    public var checkpoint: AnchorCheckpoint
    /// One section per `retention.purged` event of the call, in seq order.
    public var purges: [PurgeProof]
    /// What the key store and the segments hold of the erased classes now.
    public var store: RedactionStoreCheck
}

extension LedgerReader {
    /// What one pass over a call's records finds.
    struct CallScan {
        /// The call's seqs and entries, in seq order.
        var entries: [(seq: UInt64, entry: [UInt8])] = []
        /// Each sealed part of the call: the event's seq, its class, whether it is compacted.
        var parts: [(seq: UInt64, dataClass: String, compacted: Bool)] = []
        /// The call's `retention.purged` events: seq and decoded members.
        var purges: [(seq: UInt64, body: EventValue)] = []
        /// The call's records (FORMAT.md §3), in seq order, when the scan was asked to keep them.
        var records: [[UInt8]] = []
        /// The number of events in the log, as the walk found it.
        var logSize: UInt64 = 0
    }

    /// Reads every record of `call` once, from the log itself: the segment files are walked frame by frame
    /// (`LedgerStorage.walkLog`), so a stale or damaged index can never leave an event out of what a proof or a
    /// bundle claims. `keepingRecords` also keeps each record's bytes.
    func scan(call: String, keepingRecords: Bool = false) throws(LedgerError) -> CallScan {
        var result = CallScan()
        result.logSize = try storage.walkLog(call: call) { record throws(LedgerError) in
            result.entries.append((record.seq, record.entry))
            if keepingRecords { result.records.append(Array(record.bytes)) }
            for part in record.parts {
                result.parts.append(
                    (record.seq, record.string(part.classRange), part.form == RecordEncoder.partCompacted))
            }
            guard record.eventType == .retentionPurged else { return }
            do {
                result.purges.append((record.seq, try EventValue.body(of: record, parts: [])))
            } catch {
                throw .corrupt(
                    segment: "(seq \(record.seq))", offset: 0, seq: record.seq,
                    reason: "the retention.purged body does not decode: \(error)")
            }
        }
        guard result.logSize >= storage.size else {
            throw .invalidRequest(
                "index.sqlite covers \(storage.size) events but the log holds \(result.logSize); "
                    + "run `call-ledger verify`, then `call-ledger reindex`")
        }
        return result
    }

    /// The proof that `call`'s erased data classes were committed to before their erasure and are gone now.
    ///
    /// For each `retention.purged` event of the call: the call's leaves in the tree of the signed checkpoint the
    /// event names (the one signed just before the keys were destroyed), each with its audit path there; the
    /// consistency proof from that checkpoint to the latest one; and the event's own leaf and audit path in the
    /// latest checkpoint's tree. Then the store check: which erased classes still have a key in `keys.sqlite`,
    /// and how many sealed parts of them the segments hold in compacted form or still as ciphertext.
    public func redactionProof(call: String) throws(LedgerError) -> RedactionProof {
        let scan = try scan(call: call)
        guard !scan.entries.isEmpty else { throw .invalidRequest("call '\(call)' is not in the ledger") }
        guard let lastPurge = scan.purges.last else {
            throw .invalidRequest(
                "call '\(call)' has no retention.purged event: none of its data was erased, so there is no "
                    + "redaction to prove (`call-ledger retention plan --all` shows when it is due)")
        }
        let (checkpoint, anchor) = try anchor(covering: lastPurge.seq + 1)
        let signed = try checkpoints()
        var tree = try proofTree()
        var purges: [PurgeProof] = []
        for purge in scan.purges {
            purges.append(
                try purgeProof(
                    purge, call: call, entries: scan.entries, latest: checkpoint, signed: signed, tree: &tree))
        }
        let erased = Set(purges.flatMap(\.classes))
        let keyed = Set(try keyedClasses()[call] ?? [])
        let erasedParts = scan.parts.filter { erased.contains($0.dataClass) }
        let compacted = erasedParts.count { $0.compacted }
        return RedactionProof(
            call: call, checkpoint: anchor, purges: purges,
            store: RedactionStoreCheck(
                erasedClasses: erased.sorted(), keysPresent: erased.intersection(keyed).sorted(),
                eventsRead: scan.entries.count, partsCompacted: compacted,
                partsWithCiphertext: erasedParts.count - compacted))
    }

    /// The section of one `retention.purged` event.
    private func purgeProof(
        _ purge: (seq: UInt64, body: EventValue), call: String, entries: [(seq: UInt64, entry: [UInt8])],
        latest: Checkpoint, signed: [(checkpoint: Checkpoint, note: String)], tree: inout MerkleTree<TreeStore>
    ) throws(LedgerError) -> PurgeProof {
        let body = purge.body
        // A zero-retention purge names no checkpoint: its keys never reached the disk and were dropped while the
        // call was appended, so the call's leaves are proven in the latest checkpoint.
        let zeroRetention = body["checkpoint"] == nil && body["method"]?.string == "zero-retention"
        let named = body["checkpoint"]
        guard let classes = body["classes"]?.array?.compactMap(\.string),
            let size = zeroRetention ? Int64(latest.treeSize) : named?["tree_size"]?.integer, size >= 0,
            let rootText = zeroRetention ? latest.rootHash.hex : named?["root"]?.string ?? named?["root"]?.digestText,
            let root = SHA256Digest(hex: rootText)
        else {
            throw .corrupt(
                segment: "(seq \(purge.seq))", offset: 0, seq: purge.seq,
                reason: "the retention.purged event lacks classes or checkpoint {tree_size, root}")
        }
        guard let before = signed.first(where: { $0.checkpoint.treeSize == UInt64(size) }) else {
            throw .invalidRequest(
                "the checkpoint of size \(size) that retention.purged seq \(purge.seq) names is not among the "
                    + "stored checkpoints (checkpoints/); the proof needs its signed note")
        }
        guard before.checkpoint.rootHash == root else {
            throw .corrupt(
                segment: "checkpoints/", offset: 0, seq: purge.seq,
                reason: "retention.purged seq \(purge.seq) names root \(rootText) for size \(size), the signed "
                    + "checkpoint has \(before.checkpoint.rootHash.hex); run `call-ledger verify`")
        }
        let policy = body["policy"]
        guard let purgedEntry = entries.first(where: { $0.seq == purge.seq })?.entry else {
            throw .invalidRequest("retention.purged seq \(purge.seq) is not among the call's records")
        }
        return try provingTree { () throws -> PurgeProof in
            let leaves = try entries.filter { $0.seq < before.checkpoint.treeSize }.map { seq, entry in
                try Self.leafProof(
                    seq: seq, entry: entry, size: before.checkpoint.treeSize, root: root, tree: &tree)
            }
            let consistency = try tree.consistencyProof(from: before.checkpoint.treeSize, to: latest.treeSize)
            try MerkleVerifier.verifyConsistency(
                firstSize: before.checkpoint.treeSize, secondSize: latest.treeSize, firstRoot: root,
                secondRoot: latest.rootHash, proof: consistency)
            return PurgeProof(
                seq: purge.seq, classes: classes,
                policy: PolicyReference(
                    name: policy?["name"]?.string ?? "", version: policy?["version"]?.string ?? "",
                    digest: policy?["digest"]?.string ?? policy?["digest"]?.digestText ?? ""),
                method: body["method"]?.string ?? "",
                purgedEvent: try Self.leafProof(
                    seq: purge.seq, entry: purgedEntry, size: latest.treeSize, root: latest.rootHash, tree: &tree),
                before: AnchorCheckpoint(
                    treeSize: before.checkpoint.treeSize, rootHash: root.hex, note: before.note,
                    verifierKey: storage.verifierKey.description),
                leaves: leaves, consistencyProof: consistency.map(\.hex))
        }
    }

    /// The leaf proof of `entry` (event `seq`) in the stored tree of `size` leaves, checked against `root`, the
    /// signed root of that size, before it is returned: a damaged tree file never yields a proof.
    static func leafProof(
        seq: UInt64, entry: [UInt8], size: UInt64, root: SHA256Digest, tree: inout MerkleTree<TreeStore>
    ) throws -> LeafProof {
        let path = try tree.inclusionProof(leaf: seq, treeSize: size)
        let leaf = MerkleHasher.leafHash(entry)
        try MerkleVerifier.verifyInclusion(leaf: seq, treeSize: size, leafHash: leaf, proof: path, root: root)
        return LeafProof(seq: seq, entry: Base64.encode(entry), leafHash: leaf.hex, inclusionProof: path.map(\.hex))
    }

    /// Runs `body`, which reads proofs from the stored tree, turning a failure into a `LedgerError`.
    func provingTree<T>(_ body: () throws -> T) throws(LedgerError) -> T {
        do {
            return try body()
        } catch let error as LedgerError {
            throw error
        } catch {
            throw .invalidRequest("the stored tree does not produce a valid proof (\(error)); run `call-ledger verify`")
        }
    }
}

extension EventValue {
    /// A digest value as lowercase hex, or nil.
    fileprivate var digestText: String? {
        if case .digest(let hex) = self { return hex }
        return nil
    }
}
