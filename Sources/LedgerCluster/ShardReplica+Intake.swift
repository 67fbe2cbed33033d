// ShardReplica+Intake: forgetting the shard's intake once the replica holds it (FORMAT.md §13, "Erasure and the
// replicas"). Every intake message below the last manifest entry's `replay_from` is in a replicated segment, so
// the writer erases it from the intake stream with JetStream's secure erase (each server overwrites its bytes in
// its message store), once per message, with up to `intakeErasuresInFlight` erase requests in flight; after a
// reconcile that erased anything it publishes filler on the intake's flush subject so that every server also
// compacts the intake stream's RAFT log. An erasure recorded in the part of the ledger the replica lacks seals the
// active segment first, so that replication, and the intake erasure after it, reach every message the writer
// consumed before the erasure.
import LedgerCore
import LedgerStore
import NATSClient

extension ClusterConfiguration {
    /// The intake subject of shard `shard` that carries only filler (the writer acknowledges its messages unread).
    public func flushSubject(shard: Int) -> String { subject(shard: shard) + ".flush" }
}

extension ShardReplicator {
    /// Intake messages erased per replication step at most, unless a reconcile erased something: a freshly
    /// replicated large segment is forgotten over several steps instead of stalling the writer's appends.
    static let intakeErasuresPerStep: UInt64 = 1024
    /// Intake messages erased between two lease renewals at most: one `eraseMessages` call, its requests
    /// pipelined `intakeErasuresInFlight` at a time.
    static let intakeErasureRun: UInt64 = 256

    /// Erases the intake messages below the replica's `replay_from` that are not erased yet (from the stream's
    /// first sequence when this writer has erased nothing yet), at most `intakeErasuresPerStep` unless `flush`
    /// is set; returns how many it erased. When `flush` is set (a reconcile erased something), it erases all of
    /// them, then publishes the filler that has every server compact the intake stream's RAFT log, which still
    /// holds the erased messages' bytes.
    @discardableResult
    func forgetIntake(flush: Bool, tick: () throws(ClusterError) -> Void) throws(ClusterError) -> Int {
        let stream = configuration.streamName(shard: shard)
        let connection = connection
        var erased = 0
        var sequence: UInt64
        if let from = intakeErasedFrom {
            sequence = from
        } else {
            let state = try nats { () throws(NATSError) in try connection.streamState(stream) }
            sequence = state?.firstSequence ?? 1
        }
        sequence = max(sequence, 1)
        let limit = ShardReplicator.intakeErasuresPerStep
        let end = flush || replayFloor <= sequence || replayFloor - sequence <= limit ? replayFloor : sequence + limit
        let started = ContinuousClock.now
        defer {
            intakeErased += erased
            intakeErasingTime += ContinuousClock.now - started
        }
        let inFlight = intakeErasuresInFlight
        while sequence < end {
            try tick()
            let run = sequence..<min(end, sequence + ShardReplicator.intakeErasureRun)
            erased += try nats { () throws(NATSError) in
                try connection.eraseMessages(stream: stream, sequences: run, inFlight: inFlight)
            }
            sequence = run.upperBound
            intakeErasedFrom = sequence
            if flush, erased > 0 { ReplicaFault.reach("intake-erased") }
        }
        intakeErasedFrom = max(sequence, intakeErasedFrom ?? 0)
        guard flush else { return erased }
        let filler = [UInt8](repeating: 0, count: ShardReplica.flushMessageBytes)
        let subject = configuration.flushSubject(shard: shard)
        for _ in 0..<ShardReplica.flushMessages {
            try tick()
            _ = try nats { () throws(NATSError) in try publish(subject, filler, unique: true) }
        }
        return erased
    }

    /// Seals `writer`'s active segment, whatever its size, when the part of the ledger the replica lacks records an
    /// erasure (a `retention.purged` event, or a purge journalled by a shred whose event is not appended yet): the
    /// events of an erased call there came from intake messages that only a replicated `replay_from` lets the
    /// writer erase. The sync that follows replicates the sealed segments (the newest segment being empty, the
    /// consumer's ack floor then gives their `replay_from`), brings the replica in line, and erases the intake up
    /// to `replay_from`, then publishes the filler. Everything is read from the disk and the replica, so a writer
    /// killed on the way leaves the erasure where the next one finds it (at its start) and does the rest.
    func sealForErasure(_ writer: LedgerWriter) throws(ClusterError) {
        if !loaded { try load() }
        let from = end
        do throws(LedgerError) {
            var erased = !(try writer.pendingPurges().isEmpty)
            if !erased {
                let purged: @Sendable (RecordView) -> Bool = { $0.eventType == .retentionPurged }
                _ = try LedgerReader(directory: layout.directory).scan(from..<UInt64.max, where: purged) { _ in
                    erased = true
                }
            }
            guard erased else { return }
            try writer.sealSegment()
            ReplicaFault.reach("sealed-for-erasure")
        } catch {
            throw .ledger(error)
        }
        intakeFlushDue = true
    }

    /// Runs a NATS call, its failure as `.nats`.
    private func nats<T>(_ body: () throws(NATSError) -> T) throws(ClusterError) -> T {
        do throws(NATSError) { return try body() } catch { throw .nats(error) }
    }
}
