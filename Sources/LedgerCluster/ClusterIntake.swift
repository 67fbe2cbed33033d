// ClusterIntake: validates interchange lines as `append` does and publishes each to its shard's JetStream stream
// (replicas from the configuration) with the idempotency key as Nats-Msg-Id, retrying until the PubAck comes: one
// at a time, or many in flight with a call's events in order (`publish(_:)`, FORMAT.md §13 "Order").
import Foundation
public import LedgerCore
public import NATSClient

/// What a publish reached: `replicated` once JetStream stored it on a majority of the stream's replicas
/// (`duplicate` when the stream already held that idempotency key inside its duplicate window), and `durable`, with
/// its ledger seq, once the shard's writer fsynced it.
public struct IntakeAcknowledgement: Sendable, Equatable, Encodable {
    /// The event's idempotency key.
    public var idempotency: String
    /// Its shard.
    public var shard: Int
    /// The stream that holds it.
    public var stream: String
    /// Its sequence in that stream.
    public var streamSeq: UInt64
    /// `replicated`, `duplicate` (already replicated before), or `durable` (in the shard's ledger at `seq`).
    public var status: String
    /// Its seq in the shard's ledger, once durable.
    public var seq: UInt64?
}

/// Publishes validated events to the shard streams. Not shared between threads.
public final class ClusterIntake {
    /// The deployment.
    public let configuration: ClusterConfiguration
    private let connection: NATSConnection
    private var decoder: EventDecoder
    private var pipeline: PipelinedPublisher?
    /// Seconds a publish keeps retrying (same Nats-Msg-Id) before it fails, e.g. while a stream elects a leader.
    public var publishTimeout: Double

    /// Creates (or updates) every shard's stream, then is ready to publish.
    public init(
        configuration: ClusterConfiguration, connection: NATSConnection, maximumEventBytes: Int = 1 << 20,
        publishTimeout: Double = 30
    ) throws(ClusterError) {
        self.configuration = configuration
        self.connection = connection
        self.decoder = EventDecoder(maximumEventBytes: maximumEventBytes)
        self.publishTimeout = publishTimeout
        for shard in 0..<configuration.shards {
            _ = try Self.retrying(for: publishTimeout) { () throws(NATSError) in
                try connection.ensureStream(Self.streamConfiguration(configuration, shard: shard))
            }
        }
        _ = try Self.retrying(for: publishTimeout) { () throws(NATSError) in
            try connection.ensureStream(configuration.durableStreamConfiguration)
        }
    }

    /// The stream of `shard` as `configuration` asks for it.
    public static func streamConfiguration(_ configuration: ClusterConfiguration, shard: Int) -> StreamConfiguration {
        StreamConfiguration(
            name: configuration.streamName(shard: shard),
            subjects: [configuration.subject(shard: shard), configuration.flushSubject(shard: shard)],
            replicas: configuration.replicas, duplicateWindowSeconds: configuration.duplicateWindowSeconds)
    }

    /// Validates one interchange line (without its newline) and publishes it to its shard; returns once JetStream
    /// acknowledged it. An invalid line throws `.invalidEvent` and publishes nothing.
    public func publish(line: [UInt8], lineNumber: Int) throws(ClusterError) -> IntakeAcknowledgement {
        try publish(line: line, event: try decode(line: line, lineNumber: lineNumber))
    }

    /// Validates one interchange line (without its newline) as `append` does; an invalid line throws
    /// `.invalidEvent`.
    public func decode(line: [UInt8], lineNumber: Int) throws(ClusterError) -> DecodedEvent {
        let decoded: Result<DecodedEvent, EventDecodingError> = line.withUnsafeBytes { bytes in
            do throws(EventDecodingError) {
                return .success(try decoder.decode(bytes, lineNumber: lineNumber))
            } catch {
                return .failure(error)
            }
        }
        switch decoded {
        case .success(let event): return event
        case .failure(let error): throw .invalidEvent(error)
        }
    }

    /// Publishes `line`, already decoded as `event`, to the event's shard; returns once JetStream acknowledged it.
    public func publish(line: [UInt8], event: DecodedEvent) throws(ClusterError) -> IntakeAcknowledgement {
        let shard = configuration.shard(tenant: event.tenant, call: event.call)
        let subject = configuration.subject(shard: shard)
        let connection = connection
        let started = Date()
        var lastError: NATSError?
        while Date().timeIntervalSince(started) < publishTimeout {
            do throws(NATSError) {
                let ack = try connection.publish(
                    subject: subject, data: line, messageID: event.idempotency, timeout: min(5, publishTimeout))
                return IntakeAcknowledgement(
                    idempotency: event.idempotency, shard: shard, stream: ack.stream, streamSeq: ack.sequence,
                    status: ack.duplicate ? "duplicate" : "replicated")
            } catch {
                lastError = error
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
        throw .publishTimedOut(
            idempotency: event.idempotency, seconds: publishTimeout,
            last: lastError ?? NATSError(operation: "publish to \(subject)", message: "no attempt in time"))
    }

    /// Publishes `events` (lines already decoded) to their shards with many in flight at once, in runs: a run is
    /// the longest stretch of consecutive events of distinct calls; its events leave in order on the one connection
    /// together, each acknowledged by its own PubAck, and the next run starts once every event of this one is
    /// acknowledged. So without failures the events reach each shard stream in request order, and even with a retry
    /// (timeouts, no responders during a leader election, a node gone: each event retried with the same
    /// Nats-Msg-Id for up to `publishTimeout` seconds, as `publish(line:event:)` does) two events of one call are
    /// never in flight together, so a call's events always keep their order; only events of different calls in one
    /// run can swap, which no reader sees (FORMAT.md §13, "Order"). Returns one result per event, in order, up to
    /// the end of the run that held the first failure (events of that run after it may be acknowledged too).
    public func publish(
        _ events: [(line: [UInt8], event: DecodedEvent)]
    ) -> [Result<IntakeAcknowledgement, ClusterError>] {
        var results: [Result<IntakeAcknowledgement, ClusterError>] = []
        var start = 0
        while start < events.count {
            var calls = Set<String>()
            var end = start
            while end < events.count, calls.insert(Self.orderKey(events[end].event)).inserted { end += 1 }
            let run = publishRun(events[start..<end])
            results += run
            if run.contains(where: { if case .failure = $0 { true } else { false } }) { break }
            start = end
        }
        return results
    }

    /// The events whose relative order a reader sees: those of one call.
    private static func orderKey(_ event: DecodedEvent) -> String { "\(event.tenant)\u{0}\(event.call)" }

    /// Publishes one run with every event in flight, retrying the failed ones (together, in order) until each is
    /// acknowledged or `publishTimeout` passed since the run started.
    private func publishRun(
        _ run: ArraySlice<(line: [UInt8], event: DecodedEvent)>
    ) -> [Result<IntakeAcknowledgement, ClusterError>] {
        let shards = run.map { configuration.shard(tenant: $0.event.tenant, call: $0.event.call) }
        var results = [Result<IntakeAcknowledgement, ClusterError>?](repeating: nil, count: run.count)
        var waiting = Array(0..<run.count)
        var lastErrors = [NATSError?](repeating: nil, count: run.count)
        let started = Date()
        while !waiting.isEmpty {
            let messages = waiting.map { index in
                let (line, event) = run[run.startIndex + index]
                return OutgoingMessage(
                    subject: configuration.subject(shard: shards[index]), data: line, messageID: event.idempotency)
            }
            let answers: [Result<PublishAck, NATSError>]
            do throws(NATSError) {
                answers = try pipelined().publish(messages, timeout: min(5, publishTimeout))
            } catch {
                answers = messages.map { _ in .failure(error) }
            }
            var failed: [Int] = []
            for (index, answer) in zip(waiting, answers) {
                switch answer {
                case .success(let ack):
                    results[index] = .success(
                        IntakeAcknowledgement(
                            idempotency: run[run.startIndex + index].event.idempotency, shard: shards[index],
                            stream: ack.stream, streamSeq: ack.sequence,
                            status: ack.duplicate ? "duplicate" : "replicated"))
                case .failure(let error):
                    lastErrors[index] = error
                    failed.append(index)
                }
            }
            waiting = failed
            guard !waiting.isEmpty else { break }
            Thread.sleep(forTimeInterval: 0.2)
            guard Date().timeIntervalSince(started) < publishTimeout else { break }
        }
        return results.enumerated().map { index, result in
            result
                ?? .failure(
                    .publishTimedOut(
                        idempotency: run[run.startIndex + index].event.idempotency, seconds: publishTimeout,
                        last: lastErrors[index]
                            ?? NATSError(
                                operation: "publish to \(configuration.subject(shard: shards[index]))",
                                message: "no attempt in time")))
        }
    }

    /// The pipelined publisher on this intake's connection, made at its first use.
    private func pipelined() throws(NATSError) -> PipelinedPublisher {
        if let pipeline { return pipeline }
        let made = try connection.pipelinedPublisher()
        pipeline = made
        return made
    }

    /// Runs `body` until it succeeds or `seconds` passed (NATS answers "no responders" while a leader is elected).
    static func retrying<T>(for seconds: Double, _ body: () throws(NATSError) -> T) throws(ClusterError) -> T {
        let started = Date()
        while true {
            do throws(NATSError) {
                return try body()
            } catch {
                if Date().timeIntervalSince(started) >= seconds { throw .nats(error) }
                Thread.sleep(forTimeInterval: 0.25)
            }
        }
    }

    /// Waits up to `timeout` seconds until the shard writers report each of `acks` durable; returns them with
    /// status `durable` and their seq, the others unchanged. `since` (nanoseconds since 1970) is when the
    /// publishing started: reports are read from one duplicate window before it, so an event JetStream dropped as a
    /// duplicate finds the report of its first copy.
    public func awaitDurable(
        _ acks: [IntakeAcknowledgement], since: Int64, timeout: Double
    ) throws(ClusterError) -> [IntakeAcknowledgement] {
        try Self.awaitDurable(
            acks, since: since, timeout: timeout, configuration: configuration, connection: connection)
    }

    /// `awaitDurable(_:since:timeout:)` over any connection to the deployment `configuration` names.
    public static func awaitDurable(
        _ acks: [IntakeAcknowledgement], since: Int64, timeout: Double, configuration: ClusterConfiguration,
        connection: NATSConnection
    ) throws(ClusterError) -> [IntakeAcknowledgement] {
        var waiting: [String: [Int]] = [:]
        for (index, ack) in acks.enumerated() { waiting["\(ack.shard) \(ack.idempotency)", default: []].append(index) }
        var result = acks
        guard !waiting.isEmpty else { return result }
        let start = since - Int64(configuration.duplicateWindowSeconds * 1_000_000_000)
        try followDurable(since: start, timeout: timeout, configuration: configuration, connection: connection) {
            shard, report in
            for index in waiting.removeValue(forKey: "\(shard) \(report.idempotency)") ?? [] {
                result[index].status = "durable"
                result[index].seq = report.seq
            }
            return !waiting.isEmpty
        }
        return result
    }

    /// Reads the shard writers' durable reports stored from `since` (nanoseconds since 1970) on, as they come,
    /// calling `body` with each report's shard as soon as its message arrives (a fetch returns once messages came;
    /// so the time of the call is when the event became visible as durable to a producer), until `body` returns
    /// false or `timeout` seconds passed.
    public func followDurable(
        since: Int64, timeout: Double, _ body: (_ shard: Int, _ report: DurableReport) -> Bool
    ) throws(ClusterError) {
        try Self.followDurable(
            since: since, timeout: timeout, configuration: configuration, connection: connection, body)
    }

    /// `followDurable(since:timeout:_:)` over any connection to the deployment `configuration` names.
    public static func followDurable(
        since: Int64, timeout: Double, configuration: ClusterConfiguration, connection: NATSConnection,
        _ body: (_ shard: Int, _ report: DurableReport) -> Bool
    ) throws(ClusterError) {
        let deadline = Date().addingTimeInterval(timeout)
        let consumer: PullConsumer
        do throws(NATSError) {
            consumer = try connection.replayConsumer(
                stream: configuration.durableStream, subject: configuration.durableSubject(shard: nil),
                start: .time(nanoseconds: since))
        } catch {
            throw .nats(error)
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        while Date() < deadline {
            let fetched: FetchedBatch
            do throws(NATSError) {
                fetched = try consumer.fetch(batch: 256, timeout: min(1, max(deadline.timeIntervalSinceNow, 0.01)))
            } catch {
                if error.isTimeout { continue }
                throw .nats(error)
            }
            for message in fetched.messages {
                guard let token = message.subject.split(separator: ".").last, let shard = Int(token) else { continue }
                for line in message.data.split(separator: 0x0A) {
                    guard let report = try? decoder.decode(DurableReport.self, from: Data(line)) else { continue }
                    if !body(shard, report) { return }
                }
            }
        }
    }
}

/// One event a shard writer made durable, as it reports it on the durable-acknowledgement stream.
public struct DurableReport: Codable, Sendable, Equatable {
    /// The event's idempotency key.
    public var idempotency: String
    /// Its seq in the shard's ledger.
    public var seq: UInt64
    /// The intake stream sequence it was delivered from.
    public var streamSeq: UInt64

    /// A report of one durable event.
    public init(idempotency: String, seq: UInt64, streamSeq: UInt64) {
        self.idempotency = idempotency
        self.seq = seq
        self.streamSeq = streamSeq
    }
}

extension ClusterConfiguration {
    /// The stream the shard writers report durable events on.
    public var durableStream: String { "CALL_LEDGER_\(name)_durable" }
    /// The subject shard `shard`'s writer reports on (all shards' subjects when nil).
    public func durableSubject(shard: Int?) -> String { "call-ledger.\(name).durable.\(shard.map(String.init) ?? ">")" }
    /// Seconds a durable report is kept.
    public var durableRetentionSeconds: Double { max(3600, duplicateWindowSeconds * 4) }

    /// The durable-acknowledgement stream as this configuration asks for it.
    public var durableStreamConfiguration: StreamConfiguration {
        var stream = StreamConfiguration(
            name: durableStream, subjects: [durableSubject(shard: nil)], replicas: replicas,
            duplicateWindowSeconds: duplicateWindowSeconds)
        stream.maxAgeSeconds = durableRetentionSeconds
        return stream
    }
}
