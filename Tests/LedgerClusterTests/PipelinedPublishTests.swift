// Pipelined intake through `call-ledger serve --cluster` on a real 3-node NATS cluster: concurrent requests whose
// events interleave several calls (so many are in flight at once) are each acknowledged, held exactly once by
// their shard's ledger and in request order; with a stream leader's NATS node killed meanwhile, nothing
// acknowledged is lost and every call's events keep their order.
import Foundation
import LedgerTestSupport
import Testing

extension ClusterTests {
    @Test func concurrentPipelinedRequestsAreAcknowledgedAndHeldOnceInRequestOrder() async throws {
        let cluster = try LocalCluster()
        let (config, ledgers, writers) = try startShardWriters(cluster, name: "pipelined", shards: 2)
        defer { stopWriters(writers) }
        let server = try ClusterServeProcess(config: config, scratch: cluster.scratch)
        let requests = (0..<6).map { interleavedCalls(calls: 4, seed: 400 + UInt64($0)) }

        let answers = try await withThrowingTaskGroup(of: (Int, ClusterServeProcess.Answer).self) { group in
            for (index, lines) in requests.enumerated() {
                group.addTask { (index, try await server.post(lines, query: "ack=replicated")) }
            }
            return try await group.reduce(into: [Int: ClusterServeProcess.Answer]()) { $0[$1.0] = $1.1 }
        }
        var shardOf: [String: Int] = [:]
        for (index, lines) in requests.enumerated() {
            let answer = try #require(answers[index])
            #expect(answer.status == 200, "\(answer.body.prefix(300))")
            let acks = try answer.lines()
            try #require(acks.count == lines.count, "\(answer.body.suffix(300))")
            #expect(acks.allSatisfy { $0["status"] as? String == "replicated" }, "\(acks.prefix(2))")
            #expect(acks.map { $0["idempotency"] as? String ?? "" } == lines.map(idempotency))
            for ack in acks { shardOf[ack["idempotency"] as? String ?? ""] = ack["shard"] as? Int }
            for shard in 0..<2 {
                let streamSeqs = acks.filter { $0["shard"] as? Int == shard }.map { $0["stream_seq"] as? Int ?? 0 }
                #expect(streamSeqs == streamSeqs.sorted(), "request \(index): stream order is request order")
            }
        }

        let total = requests.map(\.count).reduce(0, +)
        try waitUntilDrained(config, messages: total, timeout: 60)
        let held = try ledgers.map { try ledgerKeys($0) }
        #expect(held.allSatisfy { $0.verified }, "\(held.map { $0.verifyOutput })")
        let all = held.flatMap(\.keys)
        #expect(all.count == total && Set(all).count == total, "every event exactly once: \(all.count) of \(total)")
        for (shard, ledger) in held.enumerated() {
            #expect(ledger.keys.allSatisfy { shardOf[$0] == shard }, "each event in the shard its ack named")
            for (index, lines) in requests.enumerated() {
                let mine = Set(lines.map(idempotency))
                let sent = lines.map(idempotency).filter { shardOf[$0] == shard }
                #expect(
                    ledger.keys.filter(mine.contains) == sent, "request \(index) in request order in shard \(shard)")
            }
        }
        #expect(server.terminate() == 0)
    }

    @Test func aNATSNodeKilledDuringPipelinedPublishesLosesNothingAcknowledgedAndKeepsEachCallInOrder() async throws {
        let cluster = try LocalCluster()
        let (config, ledgers, writers) = try startShardWriters(cluster, name: "pipekill", shards: 2)
        defer { stopWriters(writers) }
        let server = try ClusterServeProcess(config: config, scratch: cluster.scratch)
        let stopping = Flag()
        let sent = try await withThrowingTaskGroup(of: [(lines: [String], acks: [Acknowledged])].self) { group in
            for client in 0..<4 {
                group.addTask {
                    var done: [(lines: [String], acks: [Acknowledged])] = []
                    var round: UInt64 = 0
                    while !stopping.isSet || round < 2 {
                        let lines = interleavedCalls(calls: 4, seed: 500 + UInt64(client) * 100 + round)
                        let answer = try await server.post(lines, query: "ack=replicated")
                        done.append(
                            (
                                lines,
                                try answer.lines().map {
                                    Acknowledged(key: $0["idempotency"] as? String, status: $0["status"] as? String)
                                }
                            ))
                        round += 1
                    }
                    return done
                }
            }
            try await Task.sleep(for: .seconds(1.5))
            // The leader of shard 0's stream (server names n1 to n3): its publishes in flight get no PubAck.
            var leader: String?
            for _ in 0..<20 where leader == nil {
                leader = (try? clusterStatus(config))?.first?["leader"] as? String
                if leader == nil { try await Task.sleep(for: .seconds(0.25)) }
            }
            let node = leader.flatMap { Int($0.dropFirst()) } ?? Int.random(in: 1...3)
            try cluster.kill(node: node)
            try await Task.sleep(for: .seconds(4))
            try cluster.restart(node: node)
            try await Task.sleep(for: .seconds(2))
            stopping.set()
            return try await group.reduce(into: []) { $0 += $1 }
        }

        var acknowledged: [String] = []
        for (lines, acks) in sent {
            for (line, ack) in zip(lines, acks) where ["replicated", "duplicate"].contains(ack.status) {
                #expect(ack.key == idempotency(line))
                acknowledged.append(idempotency(line))
            }
        }
        #expect(acknowledged.count > 1000, "\(acknowledged.count) acknowledged")
        // A broken intake may acknowledge events no stream holds: the checks below then name them.
        try? waitUntilDrained(config, messages: Set(acknowledged).count, timeout: 45)
        let held = try ledgers.map { try ledgerKeys($0) }
        #expect(held.allSatisfy { $0.verified }, "\(held.map { $0.verifyOutput })")
        let all = held.flatMap(\.keys)
        #expect(Set(all).count == all.count, "no event twice")
        #expect(Set(acknowledged).isSubset(of: Set(all)), "every acknowledged event is in a shard ledger")
        var position: [String: Int] = [:]
        for ledger in held { for (index, key) in ledger.keys.enumerated() { position[key] = index } }
        for (lines, _) in sent {
            for (call, keys) in Dictionary(grouping: lines, by: callOf).mapValues({ $0.map(idempotency) }) {
                let positions = keys.compactMap { position[$0] }
                #expect(positions == positions.sorted(), "call \(call): its events in request order")
            }
        }
        #expect(server.terminate() == 0)
    }
}

/// The events of `calls` simulated calls merged one event of each call in turn (each call's events in order), so
/// a request holds runs of distinct calls.
private func interleavedCalls(calls: Int, seed: UInt64) -> [String] {
    var perCall = Dictionary(grouping: simulatedLines(calls: calls, seed: seed), by: callOf).values.map { $0[...] }
    var merged: [String] = []
    while perCall.contains(where: { !$0.isEmpty }) {
        for index in perCall.indices where !perCall[index].isEmpty { merged.append(perCall[index].removeFirst()) }
    }
    return merged
}

private func idempotency(_ line: String) -> String { (try? jsonObject(line)["idempotency"] as? String) ?? "" }

private func callOf(_ line: String) -> String { (try? jsonObject(line)["call"] as? String) ?? "" }

/// One event's answer: its idempotency key and status.
private struct Acknowledged: Sendable {
    var key: String?
    var status: String?
}

/// A flag set once, read from other tasks.
private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
