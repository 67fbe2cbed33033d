// ClusterConfiguration: a deployment's YAML file (NATS servers, shard count, replication, lease and ack timings,
// tenants sharded by call id) and the stream, subject, bucket and key names derived from it.
import Foundation
import Yams

/// A cluster deployment: where NATS runs, how many shards, how intake is replicated, how writers hold leases.
public struct ClusterConfiguration: Sendable, Equatable {
    /// The deployment's name, `[A-Za-z0-9_-]`, 1 to 32 characters; it names the streams and the lease bucket.
    public var name: String
    /// The NATS client URLs (any of them; the client moves to another when one goes away).
    public var servers: [String]
    /// How many shards (1 to 1024).
    public var shards: Int
    /// Servers holding each intake message and lease (1 to 5; 3 by default).
    public var replicas = 3
    /// Seconds a stream remembers an idempotency key to drop a re-sent event (default 120).
    public var duplicateWindowSeconds = 120.0
    /// Seconds a writer's lease lives without renewal (default 6; renewed every third of it).
    public var leaseTTLSeconds = 6.0
    /// Seconds a fetched but unacknowledged event waits before JetStream redelivers it (default 10).
    public var ackWaitSeconds = 10.0
    /// Tenants whose calls are spread over the shards by call id instead of kept together by tenant.
    public var tenantsByCall: Set<String> = []

    /// A configuration with the defaults above.
    public init(name: String, servers: [String], shards: Int) {
        self.name = name
        self.servers = servers
        self.shards = shards
    }

    private static let keys: Set<String> = [
        "name", "servers", "shards", "replicas", "duplicate_window_seconds", "lease_ttl_seconds", "ack_wait_seconds",
        "tenants",
    ]

    /// Reads and validates the YAML file at `path`.
    public static func load(path: String) throws(ClusterError) -> ClusterConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .configuration(path: path, reason: "cannot read it: \(error.localizedDescription)")
        }
        return try parse(yaml: text, path: path)
    }

    /// Parses and validates YAML text; `path` names it in errors.
    public static func parse(yaml: String, path: String) throws(ClusterError) -> ClusterConfiguration {
        let loaded: Any?
        do {
            loaded = try Yams.load(yaml: yaml)
        } catch {
            throw .configuration(path: path, reason: "not YAML: \(error)")
        }
        guard let root = loaded as? [String: Any] else {
            throw .configuration(path: path, reason: "expected a mapping of settings at the top")
        }
        if let unknown = Set(root.keys).subtracting(keys).sorted().first {
            throw .configuration(
                path: path, reason: "unknown setting '\(unknown)' (known: \(keys.sorted().joined(separator: ", ")))")
        }
        func fail(_ reason: String) -> ClusterError { .configuration(path: path, reason: reason) }
        guard let name = root["name"] as? String, (1...32).contains(name.count),
            name.unicodeScalars.allSatisfy({
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_".contains(Character($0)))
            })
        else { throw fail("'name' must be 1 to 32 characters of A-Z, a-z, 0-9, - and _") }
        guard let servers = root["servers"] as? [String], !servers.isEmpty,
            servers.allSatisfy({ $0.hasPrefix("nats://") || $0.hasPrefix("tls://") })
        else { throw fail("'servers' must be a list of NATS URLs such as nats://127.0.0.1:4222") }
        guard let shards = root["shards"] as? Int, (1...1024).contains(shards) else {
            throw fail("'shards' must be a whole number from 1 to 1024")
        }
        var configuration = ClusterConfiguration(name: name, servers: servers, shards: shards)
        if let value = root["replicas"] {
            guard let replicas = value as? Int, (1...5).contains(replicas) else {
                throw fail("'replicas' must be a whole number from 1 to 5")
            }
            configuration.replicas = replicas
        }
        func seconds(_ key: String, _ range: ClosedRange<Double>) throws(ClusterError) -> Double? {
            guard let value = root[key] else { return nil }
            let number = (value as? Double) ?? (value as? Int).map(Double.init)
            guard let number, range.contains(number) else {
                throw fail("'\(key)' must be a number of seconds from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
        if let value = try seconds("duplicate_window_seconds", 1...86_400) {
            configuration.duplicateWindowSeconds = value
        }
        if let value = try seconds("lease_ttl_seconds", 1...3600) { configuration.leaseTTLSeconds = value }
        if let value = try seconds("ack_wait_seconds", 1...3600) { configuration.ackWaitSeconds = value }
        if let value = root["tenants"] {
            guard let tenants = value as? [String: Any] else {
                throw fail("'tenants' must map tenant ids to settings such as {shard_by: call}")
            }
            for (tenant, settings) in tenants {
                guard let settings = settings as? [String: Any], settings.count == 1,
                    let shardBy = settings["shard_by"] as? String, shardBy == "call" || shardBy == "tenant"
                else { throw fail("tenant '\(tenant)': expected {shard_by: call} or {shard_by: tenant}") }
                if shardBy == "call" { configuration.tenantsByCall.insert(tenant) }
            }
        }
        return configuration
    }

    /// The JetStream stream holding shard `shard`'s intake.
    public func streamName(shard: Int) -> String { "CALL_LEDGER_\(name)_\(shard)" }
    /// The subject events for shard `shard` are published on.
    public func subject(shard: Int) -> String { "call-ledger.\(name).\(shard)" }
    /// The key-value bucket holding the writers' leases.
    public var leaseBucket: String { "CALL_LEDGER_\(name)_leases" }
    /// The lease key of shard `shard`.
    public func leaseKey(shard: Int) -> String { "shard-\(shard)" }
    /// The durable pull consumer every writer of a shard shares.
    public static let consumerName = "writer"
}
