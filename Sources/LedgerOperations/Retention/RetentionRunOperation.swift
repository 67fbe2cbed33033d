// Erasing what is due: finish an interrupted run's purges, record changed policy files, sign a checkpoint, destroy
// the due data keys in chunks with their retention.purged events, compact the erased ciphertext away, and sign a
// final checkpoint. Safe to kill at any point and run again.
import Foundation
public import LedgerCore
public import LedgerProjections
public import LedgerStore

/// A retention run: erases every (call, class) due at `now` under `policies`.
public struct RetentionRunOperation: Sendable {
    /// What a run did.
    public struct Summary: Sendable, Equatable, Encodable {
        /// Purges of an interrupted run (or zero-retention purges) whose events this run appended.
        public var recoveredPurges: Int
        /// Policies whose changed file this run recorded.
        public var definitionsChanged: [String]
        /// Calls erased.
        public var calls: Int
        /// (call, class) keys destroyed.
        public var classes: Int
        /// `retention.purged` events appended for this run's erasures.
        public var purgedEvents: Int
        /// What compaction rewrote.
        public var compaction: CompactionReport
        /// Seconds compaction took.
        public var compactionSeconds: Double
        /// The checkpoint signed before the erasure, if any was erased.
        public var checkpointTreeSize: UInt64?
        /// Its root, hex.
        public var checkpointRoot: String?
        /// The checkpoint signed at the end, if the run changed anything.
        public var finalCheckpointTreeSize: UInt64?
        /// Seconds the run took.
        public var seconds: Double
        /// Calls erased per second.
        public var callsPerSecond: Double
    }

    /// The ledger.
    public var ledger: LedgerLocation
    /// The policies at hand.
    public var policies: [RetentionPolicy]
    /// The run's time, UTC µs: what is due then is erased.
    public var now: Int64

    /// A run at `now` under `policies`.
    public init(ledger: LedgerLocation, policies: [RetentionPolicy], now: Int64) {
        self.ledger = ledger
        self.policies = policies
        self.now = now
    }

    /// Runs: takes the writer lock; appends the `retention.purged` events of journaled purges an earlier run (or
    /// zero retention) left; appends `projection.definition.changed` for a due policy whose file digest differs
    /// from the one the log last recorded; signs a checkpoint; then, `OwnEventLog.batchSize` purges at a time,
    /// destroys the due keys (journaling the purges), appends their events and clears the journal; compacts; and
    /// signs a final checkpoint. `progress` hears stages `retention` and `compaction`.
    public func run(progress: any OperationProgress = NoProgress()) throws -> Summary {
        let writer = try ledger.writer()
        defer { try? writer.close() }
        return try run(with: writer, progress: progress)
    }

    /// Runs as `run(progress:)` does, through `writer`, the ledger's writer already open in this process (a
    /// shard's `cluster writer` runs retention between batches this way); leaves it open.
    public func run(with writer: LedgerWriter, progress: any OperationProgress = NoProgress()) throws -> Summary {
        let start = Date()
        let leftover = try writer.pendingPurges()
        if !leftover.isEmpty {
            _ = try OwnEventLog.append(leftover.map(Self.purgedEvent), with: writer)
            try writer.clearPendingPurges(leftover)
        }
        let reader = try ledger.reader()
        let engine = ProjectionEngine(reader: reader)
        let due = try engine.retentionPlan(policies: policies, now: now, statuses: [.due])
        var changed: [DefinitionChangedEvent] = []
        for policy in policies {
            guard let first = due.first(where: { $0.policy == policy.name }),
                let recorded = try engine.recordedPolicyDigest(policy.name), recorded != policy.digest.hex
            else { continue }
            changed.append(
                DefinitionChangedEvent(
                    projection: "retention",
                    definition: DefinitionReference(
                        name: policy.name, version: policy.version, digest: policy.digest.hex),
                    path: nil, tenant: first.tenant, logSize: reader.size))
        }
        if !changed.isEmpty { _ = try OwnEventLog.append(changed, with: writer) }
        guard !due.isEmpty else {
            let compactionStart = Date()
            let compaction = try compact(with: writer, progress: progress)
            let after = leftover.isEmpty && compaction.calls.isEmpty ? nil : try writer.checkpoint().checkpoint
            return Summary(
                recoveredPurges: leftover.count, definitionsChanged: [], calls: 0, classes: 0, purgedEvents: 0,
                compaction: compaction, compactionSeconds: Date().timeIntervalSince(compactionStart),
                checkpointTreeSize: nil, checkpointRoot: nil, finalCheckpointTreeSize: after?.treeSize,
                seconds: Date().timeIntervalSince(start), callsPerSecond: 0)
        }
        let checkpoint = try writer.checkpoint().checkpoint
        let purges = Self.purges(of: due, after: checkpoint)
        var done = 0
        for chunk in purges.chunked(by: OwnEventLog.batchSize) {
            try writer.shred(chunk)
            _ = try OwnEventLog.append(chunk.map(Self.purgedEvent), with: writer)
            try writer.clearPendingPurges(chunk)
            done += chunk.count
            progress.update("retention", done: UInt64(done), total: UInt64(purges.count))
        }
        progress.finish("retention")
        let compactionStart = Date()
        let compaction = try compact(with: writer, progress: progress)
        let compactionSeconds = Date().timeIntervalSince(compactionStart)
        let after = try writer.checkpoint().checkpoint
        let seconds = Date().timeIntervalSince(start)
        let calls = Set(purges.map(\.call)).count
        return Summary(
            recoveredPurges: leftover.count, definitionsChanged: changed.map(\.definition.name), calls: calls,
            classes: due.count, purgedEvents: purges.count, compaction: compaction,
            compactionSeconds: compactionSeconds, checkpointTreeSize: checkpoint.treeSize,
            checkpointRoot: checkpoint.rootHash.hex, finalCheckpointTreeSize: after.treeSize, seconds: seconds,
            callsPerSecond: seconds > 0 ? Double(calls) / seconds : 0)
    }

    /// The due items grouped into one purge per (call, policy), in plan order, each naming `checkpoint`.
    static func purges(of due: [RetentionItem], after checkpoint: Checkpoint) -> [PendingPurge] {
        var grouped: [String: PendingPurge] = [:]
        var order: [String] = []
        for item in due {
            let key = item.call + "\u{0}" + item.policy
            if grouped[key] == nil {
                order.append(key)
                grouped[key] = PendingPurge(
                    call: item.call, tenant: item.tenant, classes: [], policy: item.policy,
                    policyVersion: item.policyVersion, policyDigest: item.policyDigest, treeSize: checkpoint.treeSize,
                    root: checkpoint.rootHash.hex, method: "crypto-shred")
            }
            grouped[key]?.classes.append(item.dataClass)
        }
        return order.compactMap { grouped[$0] }
    }

    /// Compacts away every erased (call, class) that the log does not yet record as compacted (this run's purges
    /// and any an interrupted run left), reporting stage `compaction`; removes it from the transcript and CRM
    /// projections' record copies of those calls only; then appends one `retention.compacted` per call.
    /// Killed anywhere in between, the next run finds the same pairs uncompacted and does the rest.
    private func compact(with writer: LedgerWriter, progress: any OperationProgress) throws -> CompactionReport {
        let pending = try ProjectionEngine(reader: try ledger.reader()).retentionPurgesToCompact()
        guard !pending.isEmpty else { return CompactionReport() }
        let compaction = try writer.compact(erased: Set(pending.map { $0.call + "\u{0}" + $0.dataClass })) {
            done, total in progress.update("compaction", done: UInt64(done), total: UInt64(total))
        }
        progress.finish("compaction")
        guard !compaction.calls.isEmpty else { return compaction }
        var erased: Set<String> = []
        for (call, done) in compaction.calls {
            for dataClass in done.classes { erased.insert(call + "\u{0}" + dataClass) }
        }
        _ = try ProjectionEngine(reader: try ledger.reader()).removeErasedCiphertext(erased)
        var latest: [String: RetentionPurge] = [:]
        for purge in pending where purge.seq >= latest[purge.call]?.seq ?? 0 { latest[purge.call] = purge }
        let events = compaction.calls.keys.sorted().compactMap { call -> RetentionCompactedEvent? in
            guard let done = compaction.calls[call], let purge = latest[call] else { return nil }
            return RetentionCompactedEvent(
                call: call, tenant: purge.tenant, purgeSeq: purge.seq, classes: done.classes, parts: done.parts,
                segments: done.segments)
        }
        for chunk in events.chunked(by: OwnEventLog.batchSize) { _ = try OwnEventLog.append(chunk, with: writer) }
        return compaction
    }

    /// The `retention.purged` event of a purge.
    public static func purgedEvent(_ purge: PendingPurge) -> RetentionPurgedEvent {
        RetentionPurgedEvent(
            call: purge.call, tenant: purge.tenant, classes: purge.classes,
            policy: DefinitionReference(name: purge.policy, version: purge.policyVersion, digest: purge.policyDigest),
            method: purge.method, treeSize: purge.treeSize, root: purge.root)
    }
}

extension Array {
    /// The elements in consecutive slices of at most `size`, in order.
    func chunked(by size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
