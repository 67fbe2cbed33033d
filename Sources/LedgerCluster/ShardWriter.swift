// ShardWriter: the writer of one shard. As standby it polls the shard's lease; once it holds it, it opens the
// shard's ledger, fetches from the shard's durable pull consumer, appends through LedgerWriter, and acknowledges
// to JetStream only what is durable (fsynced). It renews the lease every third of its TTL and stops appending
// as soon as it cannot prove it still holds it. Between batches it runs its maintenance (a retention pass) on a
// schedule, then brings the replica and the intake in line with what that erased (sealing the active segment first
// when the erasure reached events the replica does not hold yet).
import Foundation
import LedgerCore
public import LedgerStore
public import NATSClient

/// How one shard writer runs.
public struct ShardWriterOptions: Sendable {
    /// The shard it writes.
    public var shard: Int
    /// The shard's ledger directory (made with `call-ledger init`, or absent or empty: restored from the replica).
    public var ledgerDirectory: String
    /// The ledger's key file, if not DIR.key.
    public var keyFilePath: String?
    /// The writer's id in the lease record.
    public var holder: String
    /// Events fetched per batch (at most).
    public var batch = 256
    /// When set: once active, give the lease back and return after this many seconds without an event.
    public var stopWhenIdle: Double?
    /// Work run on the open ledger between batches, on a schedule (`cluster writer --retention-every`).
    public var maintenance: ShardMaintenance?
    /// Intake erase requests kept in flight at once when the writer erases the intake below the replica
    /// (`cluster writer --intake-erasures-in-flight`, FORMAT.md §13 "The intake").
    public var intakeErasuresInFlight = 64
    /// For tests: wait this many seconds after signing checkpoints before recording them in the root log (a kill in
    /// that window leaves a signed checkpoint unrecorded, for the next writer to record).
    public var rootDelay: Double?

    /// Options for `shard`, writing `ledgerDirectory`, known in the lease as `holder`.
    public init(shard: Int, ledgerDirectory: String, keyFilePath: String?, holder: String) {
        self.shard = shard
        self.ledgerDirectory = ledgerDirectory
        self.keyFilePath = keyFilePath
        self.holder = holder
    }
}

/// Work a shard writer runs on its open ledger between batches, every `every` seconds, the first time as soon as
/// it holds the lease: a retention pass. The replica is brought in line with the ledger after each run.
public struct ShardMaintenance: Sendable {
    /// Seconds between runs.
    public var every: Double
    /// The work, given the writer's open ledger; returns a line for the log. What it throws is reported, and the
    /// writer goes on.
    public var run: @Sendable (LedgerWriter) throws -> String

    /// Runs `run` every `every` seconds.
    public init(every: Double, run: @escaping @Sendable (LedgerWriter) throws -> String) {
        self.every = every
        self.run = run
    }
}

/// What a shard writer tells its caller as it runs.
public enum ShardWriterReport: Sendable {
    /// It holds the lease (at this revision) and writes the shard.
    case acquired(revision: UInt64)
    /// Its ledger directory held no ledger: it restored the shard from the replica and replayed the intake.
    case restored(RestoreReport)
    /// Events became durable in the ledger (and were then acknowledged to JetStream), with their stream sequences.
    case durable([(result: AppendResult, streamSeq: UInt64)])
    /// A message was not a valid event; JetStream was told never to redeliver it.
    case rejected(streamSeq: UInt64, reason: String)
    /// It lost the lease (or could not renew it within its TTL) and went back to standby.
    case lost(reason: String)
    /// A NATS call failed; it retries.
    case retrying(NATSError)
    /// Segments (and their tree entries) were copied to the replica: it now holds events `0..<through`.
    case replicated(through: UInt64)
    /// Intake messages the replica holds were erased from the intake stream (pipelined erase requests), taking `time`.
    case intakeErased(messages: Int, time: Duration)
    /// Copying to the replica failed; it tries again after the next batch.
    case replicaFailed(String)
    /// Its maintenance ran (the line it returned).
    case maintained(String)
    /// Its maintenance failed; it runs again at the next scheduled time.
    case maintenanceFailed(String)
    /// The replica was brought in line with erasure on the ledger.
    case erased(ReplicaErasure)
    /// It gave the lease back (idle) and stopped.
    case released
    /// The shard's checkpoints of these tree sizes were recorded in the root log.
    case rooted([UInt64])
    /// Recording checkpoints in the root log failed; it tries again after the next batch.
    case rootFailed(String)
}

/// Runs one shard's writer until it stops (idle) or fails on the ledger. Not shared between threads.
public final class ShardWriter {
    /// The deployment.
    public let configuration: ClusterConfiguration
    /// How it runs.
    public let options: ShardWriterOptions
    private let connection: NATSConnection

    /// A writer for `options.shard` of `configuration`, talking to NATS through `connection`.
    public init(
        configuration: ClusterConfiguration, options: ShardWriterOptions, connection: NATSConnection
    )
        throws(ClusterError)
    {
        guard (0..<configuration.shards).contains(options.shard) else {
            throw .configuration(
                path: configuration.name,
                reason: "shard \(options.shard) does not exist (shards 0 to \(configuration.shards - 1))")
        }
        self.configuration = configuration
        self.options = options
        self.connection = connection
    }

    private enum Outcome {
        case idle
        case lost(String)
    }

    /// Waits for the lease, writes while holding it, and goes back to waiting when it is lost; returns after
    /// `stopWhenIdle` seconds without events. Ledger failures end it with `.ledger`.
    public func run(report: (ShardWriterReport) -> Void) throws(ClusterError) {
        let ttl = configuration.leaseTTLSeconds
        let connection = connection
        let configuration = configuration
        let streamConfiguration = ClusterIntake.streamConfiguration(configuration, shard: options.shard)
        let bucket = try ClusterIntake.retrying(for: 60) { () throws(NATSError) in
            try connection.ensureStream(streamConfiguration)
            try connection.ensureStream(configuration.durableStreamConfiguration)
            return try connection.keyValueBucket(
                configuration.leaseBucket, ttl: ttl, replicas: configuration.replicas)
        }
        let lease = ShardLease(
            bucket: bucket, key: configuration.leaseKey(shard: options.shard), holder: options.holder)
        while true {
            do throws(NATSError) {
                guard try lease.tryAcquire() else {
                    Thread.sleep(forTimeInterval: ttl / 3)
                    continue
                }
            } catch {
                report(.retrying(error))
                Thread.sleep(forTimeInterval: ttl / 3)
                continue
            }
            report(.acquired(revision: lease.revision ?? 0))
            switch try write(holding: lease, report: report) {
            case .idle:
                try? lease.release()
                report(.released)
                return
            case .lost(let reason):
                report(.lost(reason: reason))
            }
        }
    }

    /// Tracks the lease's renewals: when it is due, and whether this writer may still write.
    private struct Renewal {
        let ttl: Double
        var confirmed = Date()

        var isDue: Bool { Date().timeIntervalSince(confirmed) >= ttl / 3 }
        /// Past two thirds of the TTL without a renewal the lease may lapse before a write ends: stop writing.
        var isUnsafe: Bool { Date().timeIntervalSince(confirmed) >= ttl * 2 / 3 }
    }

    private func renew(_ lease: ShardLease, _ renewal: inout Renewal, report: (ShardWriterReport) -> Void) -> String? {
        guard renewal.isDue else { return nil }
        let attempt = Date()
        do throws(NATSError) {
            guard try lease.renew() else { return "another writer holds the lease now" }
            renewal.confirmed = attempt
        } catch {
            report(.retrying(error))
        }
        return renewal.isUnsafe ? "the lease was not renewed for \(configuration.leaseTTLSeconds * 2 / 3) s" : nil
    }

    private func write(holding lease: ShardLease, report: (ShardWriterReport) -> Void) throws(ClusterError) -> Outcome {
        var renewal = Renewal(ttl: configuration.leaseTTLSeconds)
        if !FileManager.default.fileExists(atPath: options.ledgerDirectory + "/ledger.json") {
            do throws(ClusterError) {
                let restored = try configuration.restore(
                    shard: options.shard, directory: options.ledgerDirectory, keyFilePath: options.keyFilePath,
                    connection: connection
                ) { () throws(ClusterError) in
                    if let reason = renew(lease, &renewal, report: report) { throw .leaseLost(reason: reason) }
                }
                report(.restored(restored))
            } catch {
                switch error {
                case .leaseLost(let reason): return .lost(reason)
                case .nats(let failure):
                    report(.retrying(failure))
                    return .lost("the restore from the replica failed: \(failure)")
                default: throw error
                }
            }
        }
        let writer: LedgerWriter
        while true {
            if let reason = renew(lease, &renewal, report: report) { return .lost(reason) }
            do throws(LedgerError) {
                writer = try Self.openLedger(options, lockWait: configuration.leaseTTLSeconds / 4)
                break
            } catch {
                guard case .locked = error else { throw .ledger(error) }
            }
        }
        defer { try? writer.close() }
        let consumer: PullConsumer
        while true {
            if let reason = renew(lease, &renewal, report: report) { return .lost(reason) }
            do throws(NATSError) {
                consumer = try connection.pullConsumer(
                    stream: configuration.streamName(shard: options.shard), durable: ClusterConfiguration.consumerName,
                    ackWait: configuration.ackWaitSeconds, maxAckPending: max(options.batch * 4, 1000))
                break
            } catch {
                report(.retrying(error))
                Thread.sleep(forTimeInterval: 0.25)
            }
        }
        let replicator = ShardReplicator(
            configuration: configuration, shard: options.shard, directory: options.ledgerDirectory,
            connection: connection, holder: options.holder, intakeErasuresInFlight: options.intakeErasuresInFlight)
        let recorder = ShardRootRecorder(
            configuration: configuration, shard: options.shard, directory: options.ledgerDirectory,
            connection: connection)
        recordRoot(recorder, report: report)
        var decoder = EventDecoder(maximumEventBytes: writer.configuration.maximumEventBytes)
        var lastEvent = Date()
        var nextMaintenance = Date()
        while true {
            if let reason = renew(lease, &renewal, report: report) { return .lost(reason) }
            if let maintenance = options.maintenance, Date() >= nextMaintenance {
                if renewal.isUnsafe { return .lost("the lease was not renewed before the maintenance") }
                do {
                    report(.maintained(try maintenance.run(writer)))
                } catch {
                    report(.maintenanceFailed("\(error)"))
                }
                nextMaintenance = Date().addingTimeInterval(maintenance.every)
                replicator.reconcileDue = true
                if let reason = try replicate(replicator, writer, lease: lease, renewal: &renewal, report: report) {
                    return .lost(reason)
                }
            }
            let batch: FetchedBatch
            do throws(NATSError) {
                batch = try consumer.fetch(batch: options.batch, timeout: configuration.leaseTTLSeconds / 6)
            } catch {
                report(.retrying(error))
                Thread.sleep(forTimeInterval: 0.25)
                continue
            }
            if batch.messages.isEmpty {
                if let reason = try replicate(replicator, writer, lease: lease, renewal: &renewal, report: report) {
                    return .lost(reason)
                }
                recordRoot(recorder, report: report)
                if let idle = options.stopWhenIdle, Date().timeIntervalSince(lastEvent) >= idle { return .idle }
                continue
            }
            lastEvent = Date()
            var events: [DecodedEvent] = []
            var indices: [Int] = []
            var filler: [Int] = []
            for (index, message) in batch.messages.enumerated() {
                if message.subject == configuration.flushSubject(shard: options.shard) {
                    filler.append(index)
                    continue
                }
                let decoded: Result<DecodedEvent, EventDecodingError> = message.data.withUnsafeBytes { bytes in
                    do throws(EventDecodingError) {
                        return .success(try decoder.decode(bytes, lineNumber: 1))
                    } catch {
                        return .failure(error)
                    }
                }
                switch decoded {
                case .success(let event):
                    events.append(event)
                    indices.append(index)
                case .failure(let error):
                    try? batch.terminate(index)
                    report(.rejected(streamSeq: message.streamSequence, reason: "\(error)"))
                }
            }
            if renewal.isUnsafe { return .lost("the lease was not renewed before the append") }
            let results: [AppendResult]
            do throws(LedgerError) {
                results = try writer.append(events)
            } catch {
                throw .ledger(error)
            }
            if let reason = try replicate(replicator, writer, lease: lease, renewal: &renewal, report: report) {
                return .lost(reason)
            }
            recordRoot(recorder, report: report)
            let streamSeqs = indices.map { batch.messages[$0].streamSequence }
            do throws(NATSError) {
                try reportDurable(results, streamSeqs: streamSeqs)
                try batch.acknowledge(indices + filler)
            } catch {
                // Unacknowledged, the batch comes again after the ack wait and is reported then (as duplicates).
                report(.retrying(error))
            }
            report(.durable(zip(results, streamSeqs).map { ($0, $1) }))
        }
    }

    /// Tells producers waiting for `durable` which events are: one message per batch on the shard's durable
    /// subject, JSON lines `{"idempotency","seq","stream_seq"}`, published before the batch is acknowledged.
    private func reportDurable(_ results: [AppendResult], streamSeqs: [UInt64]) throws(NATSError) {
        guard !results.isEmpty else { return }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var payload: [UInt8] = []
        for (result, streamSeq) in zip(results, streamSeqs) {
            let line = DurableReport(idempotency: result.idempotency, seq: result.seq, streamSeq: streamSeq)
            if let bytes = try? encoder.encode(line) { payload += Array(bytes) + [0x0A] }
        }
        let subject = configuration.durableSubject(shard: options.shard)
        _ = try connection.publish(
            subject: subject, data: payload,
            messageID: "\(subject):\(streamSeqs.first ?? 0)-\(streamSeqs.last ?? 0):\(options.holder)", timeout: 10)
    }

    /// Copies what was sealed to the replica, before the batch just appended is acknowledged (so the consumer's
    /// ack floor read for a freshly sealed segment covers only events before it), renewing the lease between
    /// chunks; when the ledger may have changed under the replica (at start, after maintenance), first seals the
    /// active segment if the part the replica lacks records an erasure. Returns why the lease was lost, if it was;
    /// ledger failures end the writer.
    private func replicate(
        _ replicator: ShardReplicator, _ writer: LedgerWriter, lease: ShardLease, renewal: inout Renewal,
        report: (ShardWriterReport) -> Void
    ) throws(ClusterError) -> String? {
        let before = replicator.end
        let (erasedBefore, erasingBefore) = (replicator.intakeErased, replicator.intakeErasingTime)
        let connection = connection
        let stream = configuration.streamName(shard: options.shard)
        var lost: String?
        do throws(ClusterError) {
            if replicator.reconcileDue { try replicator.sealForErasure(writer) }
            let erasure = try replicator.sync(
                ackFloor: { () throws(NATSError) in
                    try connection.consumerState(stream: stream, durable: ClusterConfiguration.consumerName)?.ackFloor
                        ?? 0
                },
                tick: { () throws(ClusterError) in
                    if let reason = renew(lease, &renewal, report: report) { throw .leaseLost(reason: reason) }
                })
            if let erasure, erasure.changedReplica || erasure.flushBytes > 0 { report(.erased(erasure)) }
        } catch {
            switch error {
            case .ledger: throw error
            case .leaseLost(let reason): lost = reason
            default: report(.replicaFailed("\(error)"))
            }
        }
        if replicator.end != before { report(.replicated(through: replicator.end)) }
        if replicator.intakeErased != erasedBefore {
            report(
                .intakeErased(
                    messages: replicator.intakeErased - erasedBefore,
                    time: replicator.intakeErasingTime - erasingBefore))
        }
        return lost
    }

    /// Records the checkpoints the ledger signed (and any a killed predecessor signed) in the root log.
    private func recordRoot(_ recorder: ShardRootRecorder, report: (ShardWriterReport) -> Void) {
        do throws(ClusterError) {
            if let delay = options.rootDelay, !(try recorder.pending().isEmpty) {
                Thread.sleep(forTimeInterval: delay)
            }
            let sizes = try recorder.record()
            if !sizes.isEmpty { report(.rooted(sizes)) }
        } catch {
            report(.rootFailed("\(error)"))
        }
    }

    /// Opens the shard's ledger (made beforehand with `call-ledger init`).
    static func openLedger(_ options: ShardWriterOptions, lockWait: Double) throws(LedgerError) -> LedgerWriter {
        try LedgerWriter(directory: options.ledgerDirectory, keyFilePath: options.keyFilePath, lockWait: lockWait)
    }
}
