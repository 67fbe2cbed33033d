// ClusterIntake: validates interchange lines as `append` does and publishes each to its shard's JetStream stream
// (replicas from the configuration) with the idempotency key as Nats-Msg-Id, retrying until the PubAck comes.
import Foundation
import LedgerCore
public import NATSClient

/// What a publish reached: `replicated` once JetStream stored it on a majority of the stream's replicas
/// (`duplicate` when the stream already held that idempotency key inside its duplicate window).
public struct IntakeAcknowledgement: Sendable, Equatable, Encodable {
    /// The event's idempotency key.
    public var idempotency: String
    /// Its shard.
    public var shard: Int
    /// The stream that holds it.
    public var stream: String
    /// Its sequence in that stream.
    public var streamSeq: UInt64
    /// `replicated`, or `duplicate` (already replicated before).
    public var status: String
}

/// Publishes validated events to the shard streams. Not shared between threads.
public final class ClusterIntake {
    /// The deployment.
    public let configuration: ClusterConfiguration
    private let connection: NATSConnection
    private var decoder: EventDecoder
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
    }

    /// The stream of `shard` as `configuration` asks for it.
    public static func streamConfiguration(_ configuration: ClusterConfiguration, shard: Int) -> StreamConfiguration {
        StreamConfiguration(
            name: configuration.streamName(shard: shard), subjects: [configuration.subject(shard: shard)],
            replicas: configuration.replicas, duplicateWindowSeconds: configuration.duplicateWindowSeconds)
    }

    /// Validates one interchange line (without its newline) and publishes it to its shard; returns once JetStream
    /// acknowledged it. An invalid line throws `.invalidEvent` and publishes nothing.
    public func publish(line: [UInt8], lineNumber: Int) throws(ClusterError) -> IntakeAcknowledgement {
        let decoded: Result<DecodedEvent, EventDecodingError> = line.withUnsafeBytes { bytes in
            do throws(EventDecodingError) {
                return .success(try decoder.decode(bytes, lineNumber: lineNumber))
            } catch {
                return .failure(error)
            }
        }
        let event: DecodedEvent
        switch decoded {
        case .success(let value): event = value
        case .failure(let error): throw .invalidEvent(error)
        }
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
}
