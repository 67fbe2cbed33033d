// Replicated intake and writer failover on a real 3-node NATS JetStream cluster (tools/cluster on loopback),
// driven through the `call-ledger cluster` commands.
import Foundation
import LedgerCluster
import LedgerTestSupport
import Testing

/// Intake, failover, acknowledgement levels and `serve` in cluster mode: one test at a time, each with its own
/// 3-node cluster, so lease and failover timings are not squeezed by another cluster's kills.
@Suite(.serialized, .enabled(if: natsServerAvailable, "nats-server is not installed (tools/setup installs it)"))
struct ClusterTests {}

/// The shard replica, its erasure and restore, and the root log: serialized within, but run beside `ClusterTests`
/// (each test starts its own cluster on free ports), which halves the time the cluster tests add to a run.
@Suite(.serialized, .enabled(if: natsServerAvailable, "nats-server is not installed (tools/setup installs it)"))
struct ReplicaClusterTests {}

extension ClusterTests {
    @Test func publishedEventsReachTheirShardLedgersOnceAndRepublishingIsDropped() throws {
        let cluster = try LocalCluster()
        let config = try cluster.configuration(
            name: "spread", shards: 2, extra: "tenants:\n  acme-bank: {shard_by: call}")
        let configuration = try ClusterConfiguration.load(path: config)
        let lines = simulatedLines(calls: 12, seed: 7)
        let input = try writeLines(lines, to: cluster.scratch.file("events.jsonl"))
        let events = try decodeLines(lines)

        let published = try callLedger("cluster", "publish", "--config", config, input)
        #expect(published.status == 0, "\(published.stderr)")
        let acks = try published.stdout.split(separator: "\n").map { try jsonObject($0) }
        #expect(acks.count == lines.count)
        #expect(acks.allSatisfy { $0["status"] as? String == "replicated" })
        for (ack, event) in zip(acks, events) {
            #expect(ack["idempotency"] as? String == event.idempotency)
            #expect(ack["shard"] as? Int == configuration.shard(tenant: event.tenant, call: event.call))
        }

        let again = try callLedger("cluster", "publish", "--config", config, input)
        #expect(again.status == 0, "\(again.stderr)")
        let repeated = try again.stdout.split(separator: "\n").map { try jsonObject($0) }
        #expect(repeated.count == lines.count)
        #expect(repeated.allSatisfy { $0["status"] as? String == "duplicate" })

        var expected: [Int: [String]] = [:]
        for event in events {
            expected[configuration.shard(tenant: event.tenant, call: event.call), default: []].append(event.idempotency)
        }
        #expect(expected.count == 2, "both shards get events")
        for shard in 0..<2 {
            let ledger = try cluster.ledger("shard-\(shard)")
            let writer = try Child([
                "cluster", "writer", "--config", config, "--shard", "\(shard)", "--ledger", ledger,
                "--stop-when-idle", "2",
            ])
            let finished = writer.finish()
            #expect(finished.status == 0, "\(finished.stderr)")
            let durable = try finished.lines.map { try jsonObject($0) }
            #expect(durable.allSatisfy { $0["status"] as? String == "durable" })
            let contents = try ledgerKeys(ledger)
            #expect(contents.verified, "\(contents.verifyOutput)")
            #expect(contents.keys.sorted() == (expected[shard] ?? []).sorted())
        }
        let status = try clusterStatus(config)
        #expect(status.map { $0["last_seq"] as? Int ?? -1 }.reduce(0, +) == lines.count)
        #expect(status.allSatisfy { $0["lag"] as? Int == 0 && $0["lease_holder"] == nil })
    }

    @Test func killedWritersFailOverWithoutLosingOrRepeatingAReplicatedEvent() throws {
        let cluster = try LocalCluster()
        let config = try cluster.configuration(name: "failover", shards: 1)
        let ledger = try rootedLedger(cluster, "shard-0", checkpointEvery: 250)
        let publisher = Publisher(config: config, cluster: cluster, chunks: 4, seed: 100)
        var writers = try (0..<2).map { index in
            try Child([
                "cluster", "writer", "--config", config, "--shard", "0", "--ledger", ledger, "--id", "w\(index)",
            ])
        }
        var generator = SystemRandomNumberGenerator()
        var kills = 0
        var nextID = 2
        while kills < 10 {
            usleep(UInt32.random(in: 300_000...1_500_000, using: &generator))
            let holder = try waitForHolder(config, among: writers)
            holder.kill9()
            holder.finish()
            kills += 1
            writers.removeAll { $0 === holder }
            writers.append(
                try Child([
                    "cluster", "writer", "--config", config, "--shard", "0", "--ledger", ledger, "--id", "w\(nextID)",
                ]))
            nextID += 1
        }
        let replicated = try publisher.finish()
        try waitUntilDrained(config, messages: replicated.count)
        for writer in writers {
            writer.kill9()
            writer.finish()
        }
        let contents = try ledgerKeys(ledger)
        #expect(contents.verified, "\(contents.verifyOutput)")
        #expect(Set(contents.keys).count == contents.keys.count, "no event twice")
        #expect(Set(replicated).isSubset(of: Set(contents.keys)), "every replicated event is in the ledger")
        #expect(kills == 10)
        try expectRootCoversTheShard(cluster: cluster, config: config, ledger: ledger, events: contents.keys.count)
    }

    /// After writers were killed: the Python verifier accepts the shard's ledger; the next writer records what a
    /// killed one signed and did not record, so the root log holds each of the shard's checkpoints once; a signed
    /// root covers them, and an event's proof through the shard and the root passes both verifiers.
    private func expectRootCoversTheShard(
        cluster: LocalCluster, config: String, ledger: String, events: Int
    ) throws {
        let python = try run(pythonVerifier, ["ledger", ledger])
        #expect(python.status == 0, "\(python.stdout) \(python.stderr)")
        let next = try Child([
            "cluster", "writer", "--config", config, "--shard", "0", "--ledger", ledger, "--id", "after",
            "--stop-when-idle", "1",
        ])
        #expect(next.finish().status == 0)
        let sizes = try rootLeaves(config).map(\.size)
        #expect(!sizes.isEmpty && sizes == checkpointSizes(ledger), "each checkpoint recorded once, in order")

        let rootKeyFile = cluster.scratch.file("root.key")
        let made = try callLedger("cluster", "root", "key", "--config", config, "--out", rootKeyFile)
        try #require(made.status == 0, "\(made.stderr)")
        let signed = try callLedger("cluster", "root", "sign", "--config", config, "--key-file", rootKeyFile)
        try #require(signed.status == 0, "\(signed.stderr)")
        let proved = try callLedger(
            "cluster", "prove", "--config", config, "--shard", "0", "--seq", "\(events / 2)", "--ledger", ledger)
        try #require(proved.status == 0, "\(proved.stderr)")
        let path = cluster.scratch.file("proof.json")
        try proved.stdout.write(toFile: path, atomically: true, encoding: .utf8)
        let pins = [
            "--root-key", made.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "--shard-key",
            try String(contentsOfFile: ledger + "/verifier.key", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines),
        ]
        let swift = try callLedger(arguments: ["cluster", "check-proof", path] + pins)
        #expect(swift.status == 0, "\(swift.stderr)")
        let checked = try run(pythonVerifier, ["cluster-proof", path] + pins)
        #expect(checked.status == 0, "\(checked.stdout) \(checked.stderr)")
    }

    @Test func aKilledNATSNodeUnderLoadLosesNothing() throws {
        let cluster = try LocalCluster()
        let config = try cluster.configuration(name: "nodes", shards: 1, leaseTTL: 6, ackWait: 4)
        let ledger = try cluster.ledger("shard-0")
        let writers = try (0..<2).map { index in
            try Child([
                "cluster", "writer", "--config", config, "--shard", "0", "--ledger", ledger, "--id", "w\(index)",
            ])
        }
        let publisher = Publisher(config: config, cluster: cluster, chunks: 4, seed: 300)
        usleep(1_500_000)
        let node = Int.random(in: 1...3)
        try cluster.kill(node: node)
        usleep(4_000_000)
        try cluster.restart(node: node)
        usleep(3_000_000)
        let replicated = try publisher.finish()
        try waitUntilDrained(config, messages: replicated.count)
        for writer in writers {
            writer.kill9()
            writer.finish()
        }
        let contents = try ledgerKeys(ledger)
        #expect(contents.verified, "\(contents.verifyOutput)")
        #expect(Set(contents.keys).count == contents.keys.count, "no event twice")
        #expect(Set(replicated).isSubset(of: Set(contents.keys)), "every replicated event is in the ledger")
        #expect(replicated.count == Set(replicated).count)
    }

    @Test func anInvalidLineStopsThePublishWithExitTwoAfterPublishingTheLinesBeforeIt() throws {
        let cluster = try LocalCluster()
        let config = try cluster.configuration(name: "invalid", shards: 1)
        var lines = simulatedLines(calls: 1, seed: 9)
        let valid = lines.count
        lines.append(#"{"type":"call.started","call":"c1"}"#)
        lines += simulatedLines(calls: 1, seed: 10)
        let input = try writeLines(lines, to: cluster.scratch.file("events.jsonl"))
        let published = try callLedger("cluster", "publish", "--config", config, input)
        #expect(published.status == 2)
        #expect(published.stderr.contains("line \(valid + 1)"), "\(published.stderr)")
        #expect(published.stdout.split(separator: "\n").count == valid)
        let status = try clusterStatus(config)
        #expect(status.first?["messages"] as? Int == valid)
    }

    @Test func aBadConfigurationIsRefusedWithItsReason() throws {
        let scratch = ScratchDirectory()
        let path = scratch.file("bad.yaml")
        try "name: x\nservers: [nats://127.0.0.1:1]\nshards: 0\n".write(toFile: path, atomically: true, encoding: .utf8)
        let result = try callLedger("cluster", "status", "--config", path)
        #expect(result.status == 1)
        #expect(result.stderr.contains("'shards' must be a whole number from 1 to 1024"), "\(result.stderr)")
    }
}

/// The writer holding the lease, once one of `writers` does.
private func waitForHolder(_ config: String, among writers: [Child], timeout: Double = 60) throws -> Child {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if let pid = try? clusterStatus(config).first?["lease_pid"] as? Int,
            let holder = writers.first(where: { Int($0.pid) == pid })
        {
            return holder
        }
        usleep(100_000)
    }
    throw HarnessError(description: "no writer took the lease within \(timeout) s")
}

/// Publishes files of simulated events one after the other on a background thread (at least `chunks`, and on
/// until `finish`), collecting the idempotency keys JetStream acknowledged as replicated (or duplicate: replicated
/// before).
final class Publisher: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var keys: [String] = []
    private var failure: String?
    private var stopping = false

    init(config: String, cluster: LocalCluster, chunks: Int, seed: UInt64) {
        let scratch = cluster.scratch
        Thread {
            var chunk = 0
            while chunk < chunks || !self.lock.withLock({ self.stopping }) {
                do {
                    let file = try writeLines(
                        simulatedLines(calls: 2, seed: seed + UInt64(chunk)),
                        to: scratch.file("chunk-\(seed)-\(chunk).jsonl"))
                    let result = try callLedger("cluster", "publish", "--config", config, file)
                    let acked = try result.stdout.split(separator: "\n").compactMap {
                        try jsonObject($0)["idempotency"] as? String
                    }
                    self.lock.withLock { self.keys += acked }
                    if result.status != 0 { self.lock.withLock { self.failure = result.stderr } }
                } catch {
                    self.lock.withLock { self.failure = "\(error)" }
                }
                chunk += 1
            }
            self.done.signal()
        }.start()
    }

    /// Stops after the chunk being published (once at least `chunks` were); the acknowledged keys, or an error
    /// when a publish failed.
    func finish() throws -> [String] {
        lock.withLock { stopping = true }
        done.wait()
        return try lock.withLock {
            if let failure { throw HarnessError(description: "publish failed: \(failure)") }
            return keys
        }
    }
}
