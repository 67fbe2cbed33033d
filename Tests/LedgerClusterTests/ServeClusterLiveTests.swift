// `call-ledger serve --cluster` relaying a live session (WebSocket /v1/live/{call}) over a real 3-node NATS cluster
// with one writer per shard: a Gladia live capture relayed message by message puts in the shard ledgers exactly the
// events a ledger-mode relay of the same capture appends (the whole capture's `call-ledger ingest --from
// gladia-live`, partials included), once each, every message answered with its events `durable` at the seq its
// shard's ledger holds under ?ack=durable; the capture relayed again publishes nothing.
import Foundation
import HTTPTypes
import HummingbirdWSClient
import LedgerTestSupport
import Logging
import Testing

extension ClusterTests {
    static let liveCapture = Repository.fixture("gladia/live-stream-from-prerecorded.jsonl").path

    @Test func serveInClusterModeRelaysALiveSessionIntoTheShardsAsTheLedgerRelayAppendsIt() async throws {
        let cluster = try LocalCluster()
        let (config, ledgers, writers) = try startShardWriters(cluster, name: "live", shards: 2)
        defer { stopWriters(writers) }
        let server = try ClusterServeProcess(config: config, scratch: cluster.scratch)
        let messages = try String(contentsOfFile: Self.liveCapture, encoding: .utf8).split(separator: "\n")
            .map(String.init)
        let expected = try Self.cliIngested(
            "gladia-live", file: Self.liveCapture, ["--call", "live-7", "--tenant", "acme-bank", "--roles", "0=agent"])

        // Finals wait for their entities (long enough for a loaded machine), as in a ledger-mode relay.
        let answers = try await Self.relay(
            server, call: "live-7", query: "?tenant=acme-bank&roles=0=agent&entity_wait_ms=60000&ack=durable",
            messages: messages)
        #expect(answers.map { $0["message"] as? Int } == Array(1...messages.count))
        #expect(!answers.contains { $0["status"] as? String == "rejected" }, "\(answers.prefix(3))")
        let acks = answers.flatMap { $0["acks"] as? [[String: Any]] ?? [] }
        #expect(acks.count == expected.count, "one ack per event")
        #expect(
            acks.allSatisfy { $0["status"] as? String == "durable" && $0["seq"] is Int && $0["stream_seq"] is Int },
            "\(acks.filter { $0["status"] as? String != "durable" }.prefix(2))")

        // The shard ledgers: the ledger-mode relay's events (partials included), each once, at the seqs acknowledged.
        try waitUntilDrained(config, messages: expected.count, timeout: 30)
        #expect(try Self.publishedMessages(config) == expected.count)
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
        #expect(wanted.count == expected.count, "the capture's events have distinct keys")
        #expect(wanted.values.contains { $0.contains(#""final":false"#) }, "the capture has partials")
        #expect(stored.filter { $0.value.count != 1 }.isEmpty, "stored more than once")
        #expect(Set(stored.keys) == Set(wanted.keys), "missing: \(Set(wanted.keys).subtracting(stored.keys).sorted())")
        let differing = wanted.filter { key, event in stored[key]?.first != event }.keys.sorted()
        #expect(differing.isEmpty, "differ from the ledger relay's: \(differing.prefix(3))")
        let misplaced = acks.filter { ack in
            let held = placed[ack["idempotency"] as? String ?? ""]
            return held == nil || held?.shard != ack["shard"] as? Int || held?.seq != ack["seq"] as? Int
        }
        #expect(misplaced.isEmpty, "durable acks name another shard or seq: \(misplaced.prefix(2))")

        // A reconnected relay resending the capture: every event a duplicate, nothing published.
        let again = try await Self.relay(
            server, call: "live-7", query: "?tenant=acme-bank&roles=0=agent&entity_wait_ms=60000", messages: messages)
        let resent = again.flatMap { $0["acks"] as? [[String: Any]] ?? [] }
        #expect(resent.count == expected.count && resent.allSatisfy { $0["status"] as? String == "duplicate" })
        #expect(try Self.publishedMessages(config) == expected.count, "the resent capture was published again")

        // Without an upgrade the route says why, as in ledger mode (not the cluster mode's 501).
        let plain = try await server.send(
            "GET", "/v1/live/live-7?tenant=acme-bank",
            headers: ["Authorization": "Bearer \(ClusterServeProcess.ingestKey)"], body: nil)
        #expect(plain.status == 426, "\(plain.body)")
        #expect(server.terminate() == 0)
    }

    /// Sends `messages` one at a time on `/v1/live/{call}` of `server` and returns the answer to each.
    static func relay(
        _ server: ClusterServeProcess, call: String, query: String, messages: [String]
    ) async throws -> [[String: Any]] {
        let (texts, received) = AsyncStream.makeStream(of: String.self)
        var headers = HTTPFields()
        headers[.authorization] = "Bearer \(ClusterServeProcess.ingestKey)"
        let closed = try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(server.port)/v1/live/\(call)\(query)",
            configuration: .init(additionalHeaders: headers), logger: Logger(label: "cluster-live-test")
        ) { inbound, outbound, _ in
            var answers = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
            for message in messages {
                try await outbound.write(.text(message))
                guard case .text(let text) = try await answers.next() else { break }
                received.yield(text)
            }
            try await outbound.close(.normalClosure, reason: nil)
        }
        received.finish()
        var answers: [[String: Any]] = []
        for await text in texts { answers.append(try jsonObject(text)) }
        try #require(
            answers.count == messages.count,
            "\(answers.count) answers to \(messages.count) messages; closed with \(String(describing: closed))")
        return answers
    }
}
