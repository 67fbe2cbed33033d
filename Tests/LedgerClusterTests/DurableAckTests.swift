// Acknowledgement levels through `call-ledger cluster publish --wait durable` on a real 3-node NATS cluster: an
// event is `replicated` once JetStream holds it and `durable`, with its ledger seq, once a shard writer fsynced it,
// also when the first writer is killed between the two.
import Foundation
import LedgerCluster
import LedgerTestSupport
import NATSClient
import Testing

extension ClusterTests {
    @Test func aProducerWaitingForDurableGetsEachSeqEvenWhenTheWriterDiesBetweenReplicatedAndDurable() throws {
        let cluster = try LocalCluster()
        let config = try cluster.configuration(name: "durable", shards: 1, leaseTTL: 2, ackWait: 2)
        let ledger = try cluster.ledger("shard-0")

        // No writer: everything is replicated, nothing becomes durable.
        let early = simulatedLines(calls: 1, seed: 60)
        let alone = try callLedger(
            "cluster", "publish", "--config", config, "--wait", "durable", "--timeout", "3",
            try writeLines(early, to: cluster.scratch.file("early.jsonl")))
        #expect(alone.status == 1, "\(alone.stderr)")
        #expect(alone.stderr.contains("not reported durable within 3.0 s"), "\(alone.stderr)")
        let unsealed = try alone.stdout.split(separator: "\n").map { try jsonObject($0) }
        #expect(unsealed.count == early.count)
        #expect(unsealed.allSatisfy { $0["status"] as? String == "replicated" && $0["seq"] == nil })

        // The producer waits while the first writer is killed after some events were durable and before the rest.
        let lines = simulatedLines(calls: 3, seed: 61)
        let input = try writeLines(early + lines, to: cluster.scratch.file("events.jsonl"))
        let producer = try Child([
            "cluster", "publish", "--config", config, "--wait", "durable", "--timeout", "90", input,
        ])
        try waitForMessages(config, count: early.count + lines.count)
        let first = try Child([
            "cluster", "writer", "--config", config, "--shard", "0", "--ledger", ledger, "--id", "first", "--batch",
            "8",
        ])
        let deadline = Date().addingTimeInterval(60)
        while first.linesSoFar().isEmpty && Date() < deadline { usleep(20_000) }
        first.kill9()
        let killed = first.finish()
        #expect(!killed.lines.isEmpty, "the first writer made some events durable")
        #expect(killed.lines.count < early.count + lines.count, "and was killed before the others")
        let second = try Child([
            "cluster", "writer", "--config", config, "--shard", "0", "--ledger", ledger, "--id", "second",
        ])
        let answered = producer.finish(timeout: 120)
        second.kill9()
        second.finish()
        #expect(answered.status == 0, "\(answered.stderr)")
        let acks = try answered.lines.map { try jsonObject($0) }
        #expect(acks.count == early.count + lines.count)
        #expect(
            acks.allSatisfy { $0["status"] as? String == "durable" },
            "\(acks.filter { $0["status"] as? String != "durable" }.prefix(3))")

        let cat = try callLedger("cat", "--ledger", ledger)
        var seqs: [String: Int] = [:]
        for line in cat.stdout.split(separator: "\n") {
            let event = try jsonObject(line)
            if let key = event["idempotency"] as? String, let seq = event["seq"] as? Int { seqs[key] = seq }
        }
        #expect(seqs.count == early.count + lines.count, "every event once")
        let wrong = acks.filter { ack in seqs[ack["idempotency"] as? String ?? ""] != ack["seq"] as? Int }
        #expect(wrong.isEmpty, "acknowledged seqs differ from the ledger's: \(wrong.prefix(3))")
    }
}

extension ClusterTests {
    @Test func followingDurableReportsGivesEachEventItsLedgerSeqAsSoonAsTheWriterReportsIt() throws {
        let cluster = try LocalCluster()
        let config = try cluster.configuration(name: "follow", shards: 1, leaseTTL: 2, ackWait: 2)
        let configuration = try ClusterConfiguration.load(path: config)
        let ledger = try cluster.ledger("shard-0")
        let intake = try ClusterIntake(
            configuration: configuration, connection: try NATSConnection(servers: cluster.urls, name: "follow"))
        let since = Int64((Date().timeIntervalSince1970 - 1) * 1_000_000_000)
        let lines = simulatedLines(calls: 2, seed: 70)
        for (index, line) in lines.enumerated() {
            _ = try intake.publish(line: Array(line.utf8), lineNumber: index + 1)
        }
        let writer = try Child([
            "cluster", "writer", "--config", config, "--shard", "0", "--ledger", ledger, "--id", "follow",
        ])
        var reported: [String: UInt64] = [:]
        try intake.followDurable(since: since, timeout: 60) { shard, report in
            #expect(shard == 0)
            #expect(reported[report.idempotency] == nil, "reported once")
            reported[report.idempotency] = report.seq
            return reported.count < lines.count
        }

        // One more event, published 0.2 s after the follower started waiting, while the writer idles: its report
        // reaches the follower already waiting (how soon is measured by `tools/bench --only cluster`, not here).
        let late = simulatedLines(calls: 1, seed: 71)[0]
        let lateKey = try #require(try jsonObject(late)["idempotency"] as? String)
        let lateSince = Int64((Date().timeIntervalSince1970 - 1) * 1_000_000_000)
        let urls = cluster.urls
        Thread {
            usleep(200_000)
            guard let connection = try? NATSConnection(servers: urls, name: "late"),
                let other = try? ClusterIntake(configuration: configuration, connection: connection)
            else { return }
            _ = try? other.publish(line: Array(late.utf8), lineNumber: 1)
        }.start()
        var lateSeq: UInt64?
        try intake.followDurable(since: lateSince, timeout: 30) { _, report in
            guard report.idempotency == lateKey else { return true }
            lateSeq = report.seq
            return false
        }
        writer.kill9()
        writer.finish()

        let cat = try callLedger("cat", "--ledger", ledger)
        var seqs: [String: UInt64] = [:]
        for line in cat.stdout.split(separator: "\n") {
            let event = try jsonObject(line)
            if let key = event["idempotency"] as? String, let seq = event["seq"] as? Int { seqs[key] = UInt64(seq) }
        }
        #expect(reported.count == lines.count)
        #expect(reported.allSatisfy { seqs[$0.key] == $0.value }, "each report carries the event's ledger seq")
        #expect(lateSeq != nil && lateSeq == seqs[lateKey])
    }
}

/// Waits until the shard streams took `count` events in total (last stream seqs: the writer erases what the
/// replica holds).
private func waitForMessages(_ config: String, count: Int, timeout: Double = 60) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if let total = try? clusterStatus(config).reduce(0, { $0 + ($1["last_seq"] as? Int ?? 0) }), total >= count {
            return
        }
        usleep(100_000)
    }
    throw HarnessError(description: "the streams did not reach \(count) events within \(timeout) s")
}
