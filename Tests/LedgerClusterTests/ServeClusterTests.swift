// `call-ledger serve --cluster` as a process over a real 3-node NATS cluster with one writer per shard: POST
// /v1/events publishes each valid line to its shard and acknowledges it `replicated` (or `duplicate`), or, with
// ?ack=durable, `durable` with the seq its shard's ledger holds; a bad line gets its own error, the others go on.
import Foundation
import LedgerCore
import LedgerTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension ClusterTests {
    @Test func serveInClusterModePublishesEachEventOnceAndAcknowledgesDurableWithTheShardSeq() async throws {
        let cluster = try LocalCluster()
        let (config, ledgers, writers) = try startShardWriters(cluster, name: "serve", shards: 2)
        defer { stopWriters(writers) }
        let server = try ClusterServeProcess(config: config, scratch: cluster.scratch)

        let events = simulatedLines(calls: 4, seed: 71)
        let first = Array(events[..<(events.count / 2)])
        let second = Array(events[(events.count / 2)...])
        // Line 3 of the first request misspells its idempotency key: rejected alone (as `append` rejects it), the lines
        // around it published.
        let broken = first[2].replacingOccurrences(of: #""idempotency":"#, with: #""idempotence":"#)
        var withBadLine = first
        withBadLine.insert(broken, at: 2)

        let replicated = try await server.post(withBadLine, query: "ack=replicated")
        #expect(replicated.status == 200, "\(replicated.body)")
        let replicatedAcks = try replicated.lines()
        try #require(replicatedAcks.count == withBadLine.count, "\(replicated.body)")
        let rejection = replicatedAcks[2]
        #expect(rejection["status"] as? String == "rejected" && rejection["line"] as? Int == 3, "\(rejection)")
        #expect(rejection["field"] as? String == "idempotence", "\(rejection)")
        #expect((rejection["reason"] as? String)?.hasPrefix("unknown envelope field") == true, "\(rejection)")
        var shardOf: [String: Int] = [:]
        for (index, ack) in replicatedAcks.enumerated() where index != 2 {
            #expect(ack["status"] as? String == "replicated" && ack["seq"] == nil, "\(ack)")
            #expect((ack["stream_seq"] as? Int ?? 0) > 0, "\(ack)")
            shardOf[ack["idempotency"] as? String ?? ""] = ack["shard"] as? Int
        }

        let durable = try await server.post(second, query: "ack=durable&ack_timeout=30")
        #expect(durable.status == 200, "\(durable.body)")
        let durableAcks = try durable.lines()
        try #require(durableAcks.count == second.count, "\(durable.body)")
        #expect(durableAcks.allSatisfy { $0["status"] as? String == "durable" }, "\(durableAcks.prefix(3))")
        for ack in durableAcks { shardOf[ack["idempotency"] as? String ?? ""] = ack["shard"] as? Int }

        // The same lines again: JetStream drops them; a durable wait finds the report of the first copy.
        let again = try await server.post(first, query: "ack=replicated")
        #expect(try again.lines().allSatisfy { $0["status"] as? String == "duplicate" }, "\(again.body)")
        let againDurable = try await server.post(first, query: "ack=durable")
        let firstDurable = try againDurable.lines()
        #expect(firstDurable.count == first.count && firstDurable.allSatisfy { $0["status"] as? String == "durable" })

        try waitUntilDrained(config, messages: events.count, timeout: 30)
        var seqs: [String: (shard: Int, seq: Int)] = [:]
        var total = 0
        for (shard, ledger) in ledgers.enumerated() {
            let cat = try callLedger("cat", "--ledger", ledger)
            try #require(cat.status == 0, "\(cat.stderr)")
            for line in cat.stdout.split(separator: "\n") {
                let event = try jsonObject(line)
                guard let key = event["idempotency"] as? String, let seq = event["seq"] as? Int else { continue }
                total += 1
                seqs[key] = (shard, seq)
            }
        }
        #expect(total == events.count && seqs.count == events.count, "every event exactly once: \(total)")
        #expect(shardOf.allSatisfy { key, shard in seqs[key]?.shard == shard }, "each in the shard its ack named")
        let wrong = (durableAcks + firstDurable).filter { ack in
            let held = seqs[ack["idempotency"] as? String ?? ""]
            return held == nil || held?.seq != ack["seq"] as? Int || held?.shard != ack["shard"] as? Int
        }
        #expect(wrong.isEmpty, "durable seqs differ from the shard ledgers': \(wrong.prefix(3))")

        // No writer: a durable wait runs out and says so per event, with the level reached, never `durable`.
        for writer in writers { writer.kill9() }
        let late = simulatedLines(calls: 1, seed: 72)
        let unsealed = try await server.post(late, query: "ack=durable&ack_timeout=2")
        let unsealedAcks = try unsealed.lines()
        #expect(unsealedAcks.count == late.count, "\(unsealed.body)")
        #expect(
            unsealedAcks.allSatisfy {
                $0["status"] as? String == "replicated" && $0["seq"] == nil
                    && ($0["reason"] as? String)?.hasPrefix("not reported durable within 2.0 s") == true
            }, "\(unsealedAcks.prefix(2))")

        // Roles as in ledger mode; what a cluster node does not serve says so.
        let qa = try await server.post(first, query: "", token: ClusterServeProcess.qaKey)
        #expect(qa.status == 403, "\(qa.body)")
        let atomic = try await server.post(first, query: "atomic=true")
        #expect(atomic.status == 400 && atomic.body.contains("cluster mode"), "\(atomic.body)")
        let read = try await server.request("GET", "/v1/calls", token: ClusterServeProcess.ingestKey)
        #expect(read.status == 501 && read.body.contains("cluster mode"), "\(read.body)")
        #expect(server.terminate() == 0)
    }
}

/// A `call-ledger serve --cluster` process with an ingest and a QA API key, on a free port.
final class ClusterServeProcess: @unchecked Sendable {
    static let ingestKey = "cluster-ingest-key-0123456789abcdef"
    static let qaKey = "cluster-qa-key-0123456789abcdef"
    static let complianceKey = "cluster-compliance-key-0123456789abcdef"
    let process = Process()
    let port: Int

    struct Answer {
        var status: Int
        var body: String

        func lines() throws -> [[String: Any]] { try body.split(separator: "\n").map { try jsonObject($0) } }
    }

    init(
        config: String, scratch: ScratchDirectory, extraArguments: [String] = [], log name: String = "serve.log"
    ) throws {
        func hash(_ key: String) -> String { Array(key.utf8).withUnsafeBytes { SHA256.hash($0) }.hex }
        let keys = scratch.file("serve-keys.yaml")
        try """
        keys:
          - sha256: \(hash(Self.ingestKey))
            principal: intake
            role: ingest
            tenants: ["*"]
          - sha256: \(hash(Self.qaKey))
            principal: reviewer
            role: qa
            tenants: ["*"]
          - sha256: \(hash(Self.complianceKey))
            principal: dpo
            role: compliance
            tenants: ["*"]

        """.write(toFile: keys, atomically: true, encoding: .utf8)
        let log = scratch.file(name)
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: Repository.executable)
        process.arguments = ["serve", "--cluster", config, "--port", "0", "--api-keys", keys] + extraArguments
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.contains("call-ledger: serving") }),
                let portText = line.split(separator: ":").last, let port = Int(portText)
            {
                self.port = port
                return
            }
            if !process.isRunning { break }
            usleep(50_000)
        }
        process.terminate()
        throw HarnessError(
            description: "serve --cluster did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// Posts `lines` to /v1/events with `query`.
    func post(_ lines: [String], query: String, token: String = ingestKey) async throws -> Answer {
        try await request("POST", "/v1/events?\(query)", token: token, body: lines.joined(separator: "\n") + "\n")
    }

    func request(_ method: String, _ path: String, token: String, body: String? = nil) async throws -> Answer {
        var headers = ["Authorization": "Bearer \(token)"]
        if body != nil { headers["Content-Type"] = "application/x-ndjson" }
        return try await send(method, path, headers: headers, body: body.map { Data($0.utf8) })
    }

    /// A request with `headers` and `body` as given.
    func send(_ method: String, _ path: String, headers: [String: String], body: Data?) async throws -> Answer {
        var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)\(path)")))
        request.httpMethod = method
        request.timeoutInterval = 60
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = body
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        return Answer(status: http.statusCode, body: String(decoding: data, as: UTF8.self))
    }

    /// Sends SIGTERM and waits for the exit status.
    func terminate() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

@Test func serveRefusesALedgerAndAClusterFileTogetherAndAClusterFileItCannotRead() throws {
    let scratch = ScratchDirectory()
    let keys = scratch.file("keys.yaml")
    try "keys: []\n".write(toFile: keys, atomically: true, encoding: .utf8)
    let both = try callLedger(
        "serve", "--ledger", scratch.file("ledger"), "--cluster", scratch.file("deploy.yaml"), "--api-keys", keys)
    #expect(both.status == 1)
    #expect(both.stderr.contains("cluster mode reads and writes no ledger"), "\(both.stderr)")
    let missing = try callLedger("serve", "--cluster", scratch.file("deploy.yaml"), "--api-keys", keys)
    #expect(missing.status == 1)
    #expect(missing.stderr.contains("deploy.yaml") && missing.stderr.contains("cannot read it"), "\(missing.stderr)")
}
