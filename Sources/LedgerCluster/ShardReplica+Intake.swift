// ShardReplica+Intake: forgetting the shard's intake once the replica holds it (FORMAT.md §13, "Erasure and the
// replicas"). Every intake message below the last manifest entry's `replay_from` is in a replicated segment, so
// the writer erases it from the intake stream with JetStream's secure erase (each server overwrites its bytes in
// its message store), once per message, with up to `intakeErasuresInFlight` erase requests in flight; after a
// reconcile that erased anything it publishes filler on the intake's flush subject so that every server also
// compacts the intake stream's RAFT log.
import LedgerCore
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

    /// Runs a NATS call, its failure as `.nats`.
    private func nats<T>(_ body: () throws(NATSError) -> T) throws(ClusterError) -> T {
        do throws(NATSError) { return try body() } catch { throw .nats(error) }
    }
}
