// ClusterStatus: per shard, the intake stream (messages, leader, replicas), the writer's lease and the durable
// consumer's lag, as NATS reports them now, and the replica's state as the shard's writer last published it.
import Foundation
public import NATSClient

/// One shard as seen from NATS.
public struct ShardStatus: Sendable, Equatable, Encodable {
    /// The shard.
    public var shard: Int
    /// Its intake stream.
    public var stream: String
    /// Events the stream holds.
    public var messages: UInt64
    /// The stream sequence of the last event stored.
    public var lastSeq: UInt64
    /// The server leading the stream's replica group.
    public var leader: String?
    /// The other replicas (`name`, and `current` or `lagging` or `offline`).
    public var replicas: [String: String]
    /// The writer holding the lease, nil when none does (no writer, or its lease expired or was released).
    public var leaseHolder: String?
    /// The lease holder's process id.
    public var leasePid: Int32?
    /// Milliseconds since the lease was last renewed.
    public var leaseAgeMs: Int64?
    /// Events stored but not yet delivered to a writer.
    public var pending: UInt64
    /// Events delivered to a writer and not yet acknowledged (not yet durable in the ledger).
    public var ackPending: Int64
    /// Everything up to this stream sequence is durable in the shard's ledger.
    public var durableThrough: UInt64
    /// Events not yet durable in the ledger: `pending + ackPending`.
    public var lag: UInt64
    /// The replicated ledger as its writer last published it (segments replicated and sealed, last manifest entry,
    /// keys, pending erasures); nil before a writer published any.
    public var replica: ReplicaStatus?
}

extension ClusterConfiguration {
    /// The status of every shard.
    public func status(connection: NATSConnection) throws(ClusterError) -> [ShardStatus] {
        var states: [ShardStatus] = []
        let bucket: KeyValueBucket
        do throws(NATSError) {
            bucket = try connection.keyValueBucket(leaseBucket, ttl: leaseTTLSeconds, replicas: replicas)
        } catch {
            throw .nats(error)
        }
        for shard in 0..<shards {
            do throws(NATSError) {
                let stream = try connection.streamState(streamName(shard: shard))
                let consumer = try connection.consumerState(
                    stream: streamName(shard: shard), durable: ClusterConfiguration.consumerName)
                let lease = try ShardLease.read(bucket: bucket, key: leaseKey(shard: shard))
                let replica = try replicaStatus(shard: shard, connection: connection)
                let held = lease.flatMap { $0.record.released ? nil : $0.record }
                var replicaStates: [String: String] = [:]
                for replica in stream?.replicas ?? [] {
                    replicaStates[replica.name] = replica.offline ? "offline" : replica.current ? "current" : "lagging"
                }
                let pending = consumer?.pending ?? stream?.messages ?? 0
                let ackPending = consumer?.ackPending ?? 0
                states.append(
                    ShardStatus(
                        shard: shard, stream: streamName(shard: shard), messages: stream?.messages ?? 0,
                        lastSeq: stream?.lastSequence ?? 0, leader: stream?.leader, replicas: replicaStates,
                        leaseHolder: held?.holder, leasePid: held?.pid,
                        leaseAgeMs: held.map { Int64(Date().timeIntervalSince1970 * 1000) - $0.renewedMs },
                        pending: pending, ackPending: ackPending, durableThrough: consumer?.ackFloor ?? 0,
                        lag: pending + UInt64(max(ackPending, 0)), replica: replica))
            } catch {
                throw .nats(error)
            }
        }
        return states
    }

    /// The last state shard `shard`'s writer published on `….state` of the replica stream, nil when none.
    func replicaStatus(shard: Int, connection: NATSConnection) throws(NATSError) -> ReplicaStatus? {
        let message: StoredMessage?
        do throws(NATSError) {
            message = try connection.lastMessage(
                stream: replicaStream, subject: "\(replicaSubject(shard: shard)).state")
        } catch {
            if error.isNotFound { return nil }
            throw error
        }
        return message.flatMap { try? ShardReplica.decoder().decode(ReplicaStatus.self, from: Data($0.data)) }
    }
}
