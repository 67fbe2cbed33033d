// The writer's check of the stored tree at open (FORMAT.md §6): tree/ is derived, so before the writer signs a
// root it makes sure the subtrees that root is built from come from leaves it checked. The stored right edge of
// the latest signed checkpoint must give that checkpoint's root; the leaves appended since are recomputed from
// the log and every stored node they complete is compared. A damaged level file is rebuilt from the log.
import LedgerCore

/// What the tree check at open found and did.
struct TreeCheckReport {
    /// The frontier of the whole log, derived from the signed checkpoint's subtrees and the leaves recomputed
    /// since: what the writer appends to and signs roots of.
    var frontier: MerkleFrontier
    /// The tree size from which leaves were recomputed from the log.
    var checkedFrom: UInt64
    /// What was wrong, when the stored tree was damaged (and has been rewritten from `rebuiltFrom`).
    var damage: String?
    /// The tree size from which the stored tree was rewritten, when it was damaged.
    var rebuiltFrom: UInt64?
}

extension LedgerStorage {
    /// Checks the stored tree against the latest signed checkpoint and the log's leaves since, rewriting it from
    /// the log where it is damaged. Needs the writer lock; runs after `recover()`.
    ///
    /// Cost: O(log n) node reads, then decompressing and hashing the events appended since the latest checkpoint
    /// (at most `checkpoint_every_events`, or what `checkpoint_every_seconds` let through). When a level file is
    /// not as the last `markDurable` left it (a crash, or a change by anything else), also one read of the level
    /// files and n node hashes (`TreeStore.firstInconsistentNode`); a node that is not the hash of its children
    /// has the tree rewritten from the log.
    func checkTree() throws(LedgerError) -> TreeCheckReport {
        let anchor = try latestSignedCheckpoint(atMost: size)
        var start = anchor?.treeSize ?? 0
        var damage: String?
        var frontier = MerkleFrontier()
        if !tree.isUnchangedSinceMarked(), let inconsistent = try tree.firstInconsistentNode() {
            damage = inconsistent
            start = 0
        } else if let anchor {
            if let stored = storedFrontier(size: anchor.treeSize), stored.rootHash == anchor.rootHash {
                frontier = stored
            } else {
                damage =
                    "the stored subtrees of the first \(anchor.treeSize) leaves do not give the root the checkpoint "
                    + "of that size signs"
                start = 0
            }
        }
        let checkedFrom = start
        if damage == nil {
            var mismatch: String?
            var levels: [StoredLevelReader] = []
            let checked = try recomputeTree(from: start, frontier: &frontier) { node throws(LedgerError) in
                guard mismatch == nil else { return }
                while levels.count <= node.level { levels.append(StoredLevelReader(tree: tree, level: levels.count)) }
                if try levels[node.level].hash(at: node.index) != node.hash {
                    mismatch =
                        "tree/\(TreeStore.fileName(level: node.level)) entry \(node.index) differs from the hash "
                        + "recomputed from the log"
                }
            }
            guard mismatch != nil else {
                return TreeCheckReport(frontier: checked, checkedFrom: checkedFrom, damage: nil, rebuiltFrom: nil)
            }
            damage = mismatch
            // The right edge at `start` gave the signed root (or `start` is 0), so it is sound.
            frontier = storedFrontier(size: start) ?? MerkleFrontier()
        }
        // Rewrite every subtree beyond `start` from the log's leaves.
        try tree.truncate(to: start)
        let rebuilt = try recomputeTree(from: start, frontier: &frontier) { node in tree.add(node) }
        if let anchor, start == 0 {
            try tree.flush()
            guard storedFrontier(size: anchor.treeSize)?.rootHash == anchor.rootHash else {
                throw .corrupt(
                    segment: "checkpoints/", offset: 0, seq: anchor.treeSize,
                    reason: "the log's leaves do not give the root the signed checkpoint of size \(anchor.treeSize) "
                        + "holds: the log was altered; run `call-ledger verify` (the writer signs nothing over it)")
            }
        }
        try tree.markDurable()
        return TreeCheckReport(frontier: rebuilt, checkedFrom: checkedFrom, damage: damage, rebuiltFrom: start)
    }

    /// The frontier of the first `size` leaves from the stored tree's subtrees, or nil when they cannot be read.
    private func storedFrontier(size: UInt64) -> MerkleFrontier? {
        try? MerkleFrontier(size: size) { level, index in try tree.node(level: level, index: index) }
    }

    /// Appends the leaves of events `start..<size`, recomputed from the log, to `frontier` (the frontier of the
    /// first `start` leaves), calling `completed` with every subtree they complete; returns the new frontier.
    private func recomputeTree(
        from start: UInt64, frontier: inout MerkleFrontier,
        _ completed: (MerkleFrontier.Node) throws(LedgerError) -> Void
    ) throws(LedgerError) -> MerkleFrontier {
        var scratch: [UInt8] = []
        var next = start
        var failure: LedgerError?
        try forEachRecord(in: start..<size) { record throws(LedgerError) in
            guard record.seq == next else {
                throw .invalidRequest(
                    "index.sqlite skips from seq \(next) to \(record.seq); run `call-ledger reindex` to rebuild it")
            }
            next += 1
            frontier.append(leafHash: record.leafHash(scratch: &scratch)) { node in
                guard failure == nil else { return }
                do throws(LedgerError) { try completed(node) } catch { failure = error }
            }
            if let failure { throw failure }
        }
        guard next == size else {
            throw .invalidRequest(
                "index.sqlite ends at seq \(next), the log at \(size); run `call-ledger reindex` to rebuild it")
        }
        return frontier
    }

    /// The latest checkpoint in `checkpoints/` whose signature verifies and whose size is at most `limit`.
    func latestSignedCheckpoint(atMost limit: UInt64) throws(LedgerError) -> Checkpoint? {
        guard FileSystem.isDirectory(layout.checkpoints) else { return nil }
        for name in try FileSystem.contents(of: layout.checkpoints).reversed() where name.hasSuffix(".note") {
            let note = String(decoding: try FileSystem.read(FileSystem.join(layout.checkpoints, name)), as: UTF8.self)
            guard let checkpoint = try? Checkpoint.open(note: note, verifier: verifierKey),
                checkpoint.origin == configuration.origin, checkpoint.treeSize <= limit
            else { continue }
            return checkpoint
        }
        return nil
    }
}

/// Reads one level file of the stored tree forward in 1 MiB chunks (one read per 32768 nodes, not one per node).
private struct StoredLevelReader {
    let tree: TreeStore
    let level: Int
    private var buffer: [UInt8] = []
    private var bufferStart: UInt64 = 0

    init(tree: TreeStore, level: Int) {
        self.tree = tree
        self.level = level
    }

    /// The stored hash at `index`, or nil when the level file does not hold it.
    mutating func hash(at index: UInt64) throws(LedgerError) -> SHA256Digest? {
        if index < bufferStart || index >= bufferStart + UInt64(buffer.count / 32) {
            bufferStart = index
            buffer = try tree.nodes(level: level, from: index, count: 32_768)
        }
        let offset = Int(index - bufferStart) * 32
        guard offset + 32 <= buffer.count else { return nil }
        return buffer.withUnsafeBytes { raw in raw.baseAddress.map { SHA256Digest(loadingFrom: $0 + offset) } }
    }
}

extension TreeStore {
    /// The file name of level `level`: `level-NN.hashes`.
    static func fileName(level: Int) -> String {
        "level-\(level < 10 ? "0" : "")\(level).hashes"
    }
}
