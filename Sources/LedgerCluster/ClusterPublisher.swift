// ClusterPublisher: the intake of a `serve` node in cluster mode. It publishes validated events through a few
// ClusterIntakes (each its own NATS connection; a request's events pipelined on one of them, requests in parallel
// over them) and waits for durable reports on a connection of its own per wait, so a slow wait never holds the
// publishers; the blocking NATS calls run off the async pool.
import Dispatch
public import LedgerCore
import NATSClient
import Synchronization

/// Publishes events to their shards' streams and waits for their durable reports; shareable between requests.
public final class ClusterPublisher: Sendable {
    /// The deployment.
    public let configuration: ClusterConfiguration
    private let publishTimeout: Double
    /// The intakes, each made at its first use (the first one at start); a request takes a free one.
    private let intakes: [IntakeSlot]
    private let nextIntake = Atomic<Int>(0)
    /// The largest event published, in bytes (as a shard's ledger accepts by default).
    public static let maximumEventBytes = 1 << 20

    /// Connects to the deployment's servers and creates (or updates) its streams, retrying for up to
    /// `publishTimeout` seconds, which also bounds each event's publish retries; up to `connections` requests
    /// publish at once, each on its own connection.
    public init(
        configuration: ClusterConfiguration, publishTimeout: Double = 30, connections: Int = 8
    ) throws(ClusterError) {
        self.configuration = configuration
        self.publishTimeout = publishTimeout
        let first = try Self.intake(configuration, publishTimeout: publishTimeout)
        intakes = [IntakeSlot(first)] + (1..<max(connections, 1)).map { _ in IntakeSlot(nil) }
    }

    private static func intake(
        _ configuration: ClusterConfiguration, publishTimeout: Double
    ) throws(ClusterError) -> ClusterIntake {
        let connection: NATSConnection
        do throws(NATSError) {
            connection = try NATSConnection(servers: configuration.servers, name: "call-ledger serve")
        } catch {
            throw .nats(error)
        }
        return try ClusterIntake(
            configuration: configuration, connection: connection, maximumEventBytes: maximumEventBytes,
            publishTimeout: publishTimeout)
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
        for slot in intakes {
            let results = slot.intake.withLockIfAvailable { intake in
                Self.publish(events, on: &intake, configuration: configuration, publishTimeout: publishTimeout)
            }
            if let results { return results }
        }
        let busy = nextIntake.add(1, ordering: .relaxed).newValue
        return intakes[busy % intakes.count].intake.withLock { intake in
            Self.publish(events, on: &intake, configuration: configuration, publishTimeout: publishTimeout)
        }
    }

    /// Publishes `events` on `intake`, made first when nil.
    private static func publish(
        _ events: [(line: [UInt8], event: DecodedEvent)], on intake: inout ClusterIntake?,
        configuration: ClusterConfiguration, publishTimeout: Double
    ) -> [Result<IntakeAcknowledgement, ClusterError>] {
        do throws(ClusterError) {
            if let intake { return intake.publish(events) }
            let made = try Self.intake(configuration, publishTimeout: publishTimeout)
            intake = made
            return made.publish(events)
        } catch {
            return [.failure(error)]
        }
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

/// One intake of a `ClusterPublisher` behind its lock (nil until first used).
private final class IntakeSlot: Sendable {
    let intake: Mutex<ClusterIntake?>

    init(_ intake: sending ClusterIntake?) { self.intake = Mutex(intake) }
}
