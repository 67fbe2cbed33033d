// ClusterPublisher: the intake of a `serve` node in cluster mode. It publishes validated events through one shared
// ClusterIntake (one NATS connection, one request at a time, its events pipelined) and waits for durable reports on a connection of
// its own per wait, so a slow wait never holds the publishers; the blocking NATS calls run off the async pool.
import Dispatch
public import LedgerCore
import NATSClient
import Synchronization

/// Publishes events to their shards' streams and waits for their durable reports; shareable between requests.
public final class ClusterPublisher: Sendable {
    /// The deployment.
    public let configuration: ClusterConfiguration
    private let intake: Mutex<ClusterIntake>
    /// The largest event published, in bytes (as a shard's ledger accepts by default).
    public static let maximumEventBytes = 1 << 20

    /// Connects to the deployment's servers and creates (or updates) its streams, retrying for up to
    /// `publishTimeout` seconds, which also bounds each event's publish retries.
    public init(configuration: ClusterConfiguration, publishTimeout: Double = 30) throws(ClusterError) {
        self.configuration = configuration
        let connection: NATSConnection
        do throws(NATSError) {
            connection = try NATSConnection(servers: configuration.servers, name: "call-ledger serve")
        } catch {
            throw .nats(error)
        }
        intake = Mutex(
            try ClusterIntake(
                configuration: configuration, connection: connection, maximumEventBytes: Self.maximumEventBytes,
                publishTimeout: publishTimeout))
    }

    /// Publishes the lines (already decoded as their events) with many in flight, in order (see
    /// `ClusterIntake.publish(_:)`); the first failure ends the batch, so the answer has one result per line up to
    /// and including it, and perhaps a few after it (acknowledged in the same run).
    public func publish(
        _ events: [(line: [UInt8], event: DecodedEvent)]
    ) async -> [Result<IntakeAcknowledgement, ClusterError>] {
        await offPool { [self] in publishBlocking(events) }
    }

    /// `publish(_:)` on the calling thread, which it blocks until the last publish is acknowledged (for callers
    /// already off the cooperative pool, such as an ingest on a dispatch thread).
    public func publishBlocking(
        _ events: [(line: [UInt8], event: DecodedEvent)]
    ) -> [Result<IntakeAcknowledgement, ClusterError>] {
        intake.withLock { intake in intake.publish(events) }
    }

    /// Waits up to `timeout` seconds for the shard writers to report `acks` durable (see
    /// `ClusterIntake.awaitDurable`); `since` is when their publishing started, in nanoseconds since 1970.
    public func awaitDurable(
        _ acks: [IntakeAcknowledgement], since: Int64, timeout: Double
    ) async -> Result<[IntakeAcknowledgement], ClusterError> {
        let configuration = configuration
        return await offPool {
            Result { () throws(ClusterError) in
                let connection: NATSConnection
                do throws(NATSError) {
                    connection = try NATSConnection(servers: configuration.servers, name: "call-ledger serve durable")
                } catch {
                    throw .nats(error)
                }
                return try ClusterIntake.awaitDurable(
                    acks, since: since, timeout: timeout, configuration: configuration, connection: connection)
            }
        }
    }

    /// Runs blocking `body` on a dispatch thread, leaving the cooperative pool to the requests.
    private func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: body()) }
        }
    }
}
