// `call-ledger serve --cluster` serving the vendor-document endpoints over a real 3-node NATS cluster with one
// writer per shard: a document (POST /v1/ingest/{kind}), a Gladia callback and a Firehose delivery put in the shard
// ledgers exactly the events a ledger-mode `call-ledger ingest` of the same input appends, once each, answered
// `durable` with the shard ledger's seq under ?ack=durable; a retried callback and a redelivered Firehose request
// publish nothing, and a rejected document publishes none of its events.
import Foundation
import LedgerCore
import LedgerTestSupport
import Testing

extension ClusterTests {
    static let gladiaSecret = "gladia-callback-secret-0123456789"
    static let ctrKey = "firehose-ctr-access-key-0123456789"

    @Test func serveInClusterModeIngestsVendorDocumentsIntoTheShardsAsTheCLIDoes() async throws {
        let cluster = try LocalCluster()
        let (config, ledgers, writers) = try startShardWriters(cluster, name: "ingest", shards: 2)
        defer { stopWriters(writers) }
        let push = cluster.scratch.file("push.yaml")
        try """
        gladia_webhooks:
          gladia-acme:
            secret: \(Self.gladiaSecret)
            tenant: acme-bank
        firehose:
          ctr:
            records: connect-ctr
            access_key: \(Self.ctrKey)
            tenant: acme-bank
        """.write(toFile: push, atomically: true, encoding: .utf8)
        let server = try ClusterServeProcess(
            config: config, scratch: cluster.scratch, extraArguments: ["--config", push])
        let bearer = "Bearer \(ClusterServeProcess.ingestKey)"

        // A document whose last record cannot be read, posted with atomic=true: refused whole, nothing published
        // (the first pass reads every record before any event is published).
        let ctrFile = Repository.fixture("connect/ctr-stream.jsonl").path
        let ctrLines = try String(contentsOfFile: ctrFile, encoding: .utf8).split(separator: "\n").map(String.init)
        var cutShort = ctrLines
        cutShort[cutShort.count - 1] = String(cutShort[cutShort.count - 1].prefix(80))
        let refused = try await server.send(
            "POST", "/v1/ingest/connect-ctr?atomic=true&ack=durable",
            headers: ["Authorization": bearer, "Content-Type": "application/x-ndjson"],
            body: Data(cutShort.joined(separator: "\n").utf8))
        #expect(refused.status == 422, "\(refused.body)")
        #expect(refused.body.contains("--atomic: 1 record(s) were rejected; nothing appended"), "\(refused.body)")
        #expect(try Self.publishedMessages(config) == 0, "a refused document published events")

        // A document: the CLI's events, each acknowledged durable at the seq its shard's ledger holds.
        let transcribeFile = Repository.fixture("transcribe/docs-batch-output-speaker-diarization.json").path
        let document = try await server.send(
            "POST", "/v1/ingest/transcribe?ack=durable&ack_timeout=30",
            headers: ["Authorization": bearer, "Content-Type": "application/json"],
            body: try Data(contentsOf: URL(fileURLWithPath: transcribeFile)))
        #expect(document.status == 200, "\(document.body)")
        let expectedDocument = try Self.cliIngested("transcribe", file: transcribeFile)
        let summary = try jsonObject(document.body)
        let documentAcks = summary["events"] as? [[String: Any]] ?? []
        #expect(summary["accepted"] as? Bool == true && summary["appended"] as? Int == expectedDocument.count)
        #expect(documentAcks.count == expectedDocument.count, "\(document.body)")
        #expect(documentAcks.allSatisfy { $0["status"] as? String == "durable" && $0["seq"] is Int }, "\(documentAcks)")

        // A Gladia callback, then its retry: the second publishes nothing.
        let gladiaFile = Repository.fixture("gladia/prerecorded-result.json").path
        let result = try jsonObject(try String(contentsOfFile: gladiaFile, encoding: .utf8))
        let id = try #require(result["id"] as? String)
        let callback = try JSONSerialization.data(withJSONObject: [
            "id": id, "event": "transcription.success", "payload": ["id": id, "result": result["result"] ?? [:]],
        ])
        let callbackFile = cluster.scratch.file("callback.json")
        try callback.write(to: URL(fileURLWithPath: callbackFile))
        let expectedCallback = try Self.cliIngested("gladia", file: callbackFile, ["--tenant", "acme-bank"])
        let json = ["Content-Type": "application/json"]
        let hook = try await server.send(
            "POST", "/v1/webhooks/gladia?secret=\(Self.gladiaSecret)&ack=durable", headers: json, body: callback)
        #expect(hook.status == 200, "\(hook.body)")
        let hookSummary = try jsonObject(hook.body)
        #expect(hookSummary["ingested"] as? Bool == true && hookSummary["appended"] as? Int == expectedCallback.count)
        let hookAcks = hookSummary["events"] as? [[String: Any]] ?? []
        #expect(
            hookAcks.count == expectedCallback.count && hookAcks.allSatisfy { $0["status"] as? String == "durable" })
        let retried = try await server.send(
            "POST", "/v1/webhooks/gladia", headers: json.merging(["X-Webhook-Secret": Self.gladiaSecret]) { $1 },
            body: callback)
        let retriedSummary = try jsonObject(retried.body)
        #expect(retried.status == 200, "\(retried.body)")
        #expect(
            retriedSummary["appended"] as? Int == 0 && retriedSummary["duplicate"] as? Int == expectedCallback.count)

        // A Firehose delivery of contact records, then its redelivery (same request id): answered in Firehose's
        // format both times, the second publishing nothing.
        let requestID = "ed4acda5-034f-9f42-bba1-f29aea6d7d8f"
        let delivery = try JSONSerialization.data(withJSONObject: [
            "requestId": requestID, "timestamp": 1_733_400_000_000,
            "records": ctrLines.map { ["data": Data($0.utf8).base64EncodedString()] },
        ])
        let firehoseHeaders = [
            "Content-Type": "application/json", "X-Amz-Firehose-Protocol-Version": "1.0",
            "X-Amz-Firehose-Request-Id": requestID, "X-Amz-Firehose-Access-Key": Self.ctrKey,
        ]
        let expectedRecords = try Self.cliIngested("connect-ctr", file: ctrFile, ["--tenant", "acme-bank"])
        for attempt in 0..<2 {
            let answer = try await server.send(
                "POST", "/v1/firehose/ctr?ack=durable", headers: firehoseHeaders, body: delivery)
            let object = try jsonObject(answer.body)
            #expect(answer.status == 200, "attempt \(attempt): \(answer.body)")
            #expect(object["requestId"] as? String == requestID && object["timestamp"] is Int)
            #expect(object["errorMessage"] == nil, "attempt \(attempt): \(answer.body)")
        }

        // The shard ledgers: the events of the three ledger-mode ingests, each once, at the seqs acknowledged.
        let expected = expectedDocument + expectedCallback + expectedRecords
        #expect(try Self.publishedMessages(config) == expected.count, "a redelivery or retry was published again")
        try waitUntilDrained(config, messages: expected.count, timeout: 30)
        var stored: [String: [String]] = [:]
        var placed: [String: (shard: Int, seq: Int)] = [:]
        for (shard, ledger) in ledgers.enumerated() {
            let cat = try callLedger("cat", "--ledger", ledger)
            try #require(cat.status == 0, "\(cat.stderr)")
            for line in cat.stdout.split(separator: "\n") {
                let (key, event) = try Self.comparable(line)
                stored[key, default: []].append(event)
                placed[key] = (shard, try #require(try jsonObject(line)["seq"] as? Int))
            }
        }
        let wanted = try Dictionary(expected.map { try Self.comparable($0) }) { first, _ in first }
        #expect(wanted.count == expected.count, "the fixtures' events have distinct keys")
        let twice = stored.filter { $0.value.count != 1 }.keys.sorted()
        #expect(twice.isEmpty, "stored more than once: \(twice.prefix(3))")
        #expect(Set(stored.keys) == Set(wanted.keys), "missing: \(Set(wanted.keys).subtracting(stored.keys).sorted())")
        let differing = wanted.filter { key, event in stored[key]?.first != event }.keys.sorted()
        #expect(differing.isEmpty, "differ from the CLI's: \(differing.prefix(3))")
        let misplaced = (documentAcks + hookAcks).filter { ack in
            let held = placed[ack["idempotency"] as? String ?? ""]
            return held == nil || held?.shard != ack["shard"] as? Int || held?.seq != ack["seq"] as? Int
        }
        #expect(misplaced.isEmpty, "durable acks name another shard or seq: \(misplaced.prefix(2))")

        // Roles as in ledger mode.
        let qa = try await server.send(
            "POST", "/v1/ingest/transcribe",
            headers: ["Authorization": "Bearer \(ClusterServeProcess.qaKey)", "Content-Type": "application/json"],
            body: Data("{}".utf8))
        #expect(qa.status == 403, "\(qa.body)")
        #expect(server.terminate() == 0)
    }

    /// The messages the deployment's shard streams took (their last seqs), in total (`cluster status` retried for up to 15 s while
    /// the streams or the lease bucket are not answering yet).
    static func publishedMessages(_ config: String) throws -> Int {
        let deadline = Date().addingTimeInterval(15)
        while true {
            do {
                return try clusterStatus(config).reduce(0) { $0 + ($1["last_seq"] as? Int ?? 0) }
            } catch {
                if Date() >= deadline { throw error }
                usleep(250_000)
            }
        }
    }

    /// The events `call-ledger ingest --from kind arguments file` appends to a fresh ledger, as `cat` prints them.
    static func cliIngested(_ kind: String, file: String, _ arguments: [String] = []) throws -> [String] {
        let scratch = ScratchDirectory()
        let ledger = scratch.file("ledger")
        try #require(try callLedger("init", ledger).status == 0)
        let ingested = try callLedger(arguments: ["ingest", "--ledger", ledger, "--from", kind] + arguments + [file])
        try #require(ingested.status == 0, "ingest: \(ingested.stderr)")
        let cat = try callLedger("cat", "--ledger", ledger)
        try #require(cat.status == 0, "cat: \(cat.stderr)")
        return cat.stdout.split(separator: "\n").map(String.init)
    }

    /// An event `cat` printed, keyed by its idempotency key, without what differs between two ledgers holding it:
    /// its seq, the time it was appended and the digests of its sealed parts (each ledger seals with its own keys).
    static func comparable(_ line: some StringProtocol) throws -> (key: String, event: String) {
        var event = try jsonObject(line)
        let key = try #require(event["idempotency"] as? String)
        for field in ["seq", "time", "sealed"] { event[field] = nil }
        let data = try JSONSerialization.data(withJSONObject: event, options: [.sortedKeys, .withoutEscapingSlashes])
        return (key, String(decoding: data, as: UTF8.self))
    }
}
