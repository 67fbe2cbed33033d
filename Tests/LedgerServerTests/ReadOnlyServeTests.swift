// `call-ledger serve --read-only` beside a writer: a second `serve` process holds the ledger's writer lock and
// appends; the read-only one reads what it wrote at once, streams it live, refuses every write with 503 leaving the
// log byte for byte as it was, refuses personal-data reads it cannot log, and never takes the lock.
import Foundation
import LedgerServer
import LedgerTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@Suite struct ReadOnlyServeTests {
    static let call = "c-ro-0001"

    /// Every file under `segments/` and `checkpoints/` of `ledger`, by path: the log and its signed checkpoints.
    static func logFiles(_ ledger: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for folder in ["segments", "checkpoints"] {
            let path = ledger + "/" + folder
            for name in try FileManager.default.contentsOfDirectory(atPath: path) {
                files[folder + "/" + name] = try Data(contentsOf: URL(fileURLWithPath: path + "/" + name))
            }
        }
        return files
    }

    @Test func aReadOnlyServerReadsWhatAnotherWriterAppendsAndRefusesEveryWrite() async throws {
        // The writer signs checkpoints only when asked, so "none stored yet" below does not depend on how long a
        // loaded machine takes between its start and the second append (a CI run once took over 300 s).
        let writer = try ServerProcess(initArguments: ["--checkpoint-every-seconds", "86400"])
        try await writer.append(callLines(call: Self.call, tenant: "acme-bank", secret: "Jane Roe"))
        // Started while the writer holds the lock.
        let reader = try ServerProcess(extraArguments: ["--read-only"], existingLedger: writer.ledger)
        #expect(reader.log.contains("read-only"), "\(reader.log)")
        let first = try await reader.request("GET", "/v1/calls/\(Self.call)/transcript", token: Tokens.key(.qa))
        #expect(first.status == 200 && first.body.contains("[REDACTED:name]"), "\(first.status) \(first.body)")
        #expect(!first.body.contains("Jane Roe"))
        // What the writer appends next is read by the reader's very next request.
        try await writer.append(callLines(call: "c-ro-0002", tenant: "acme-bank", secret: "John Doe"))
        let second = try await reader.request("GET", "/v1/calls/c-ro-0002", token: Tokens.key(.supervisor))
        #expect(second.status == 200, "\(second.body)")
        let listed = try await reader.request("GET", "/v1/calls", token: Tokens.key(.qa))
        #expect(listed.body.contains("c-ro-0001") && listed.body.contains("c-ro-0002"), "\(listed.body)")

        // No checkpoint is stored yet: the reader signs none (503 saying so); once the writer signed one, the
        // reader serves that very note.
        let none = try await reader.request("GET", "/v1/checkpoint", token: Tokens.key(.auditor))
        #expect(none.status == 503 && none.body.contains("signs none"), "\(none.status) \(none.body)")
        let signed = try await writer.request("GET", "/v1/checkpoint", token: Tokens.key(.auditor))
        #expect(signed.status == 200)
        let stored = try await reader.request("GET", "/v1/checkpoint", token: Tokens.key(.auditor))
        #expect(stored.status == 200 && stored.body == signed.body, "\(stored.body)")
        let proof = try await reader.request("GET", "/v1/proofs/inclusion?seq=1", token: Tokens.key(.auditor))
        #expect(proof.status == 200, "\(proof.body)")
        let consistency = try await reader.request(
            "GET", "/v1/proofs/consistency?old=1&new=4", token: Tokens.key(.auditor))
        #expect(consistency.status == 200, "\(consistency.body)")
        let bundle = try await reader.request("GET", "/v1/calls/\(Self.call)/audit-bundle", token: Tokens.key(.auditor))
        #expect(bundle.status == 200, "\(bundle.status) \(bundle.body.prefix(300))")
        let metrics = try await reader.request("GET", "/metrics", token: nil)
        #expect(metrics.status == 200)

        // Every write answers 503 naming the lock's holder; nothing reaches the log.
        let before = try Self.logFiles(writer.ledger)
        let line = callLines(call: "c-ro-0003", tenant: "acme-bank", secret: "X").joined(separator: "\n") + "\n"
        let writes: [(String, String, String?, String?, String)] = [
            ("POST", "/v1/events", Tokens.ingestAll, line, "application/x-ndjson"),
            ("POST", "/v1/events?atomic=true", Tokens.key(.admin), line, "application/x-ndjson"),
            (
                "POST", "/v1/ingest/transcribe?call=c-ro-0003&tenant=acme-bank", Tokens.key(.ingest), "{}",
                "application/json"
            ),
            ("POST", "/v1/webhooks/gladia", nil, "{}", "application/json"),
            ("POST", "/v1/firehose/connect", nil, "{}", "application/json"),
            ("GET", "/v1/live/c-ro-0003?tenant=acme-bank", Tokens.key(.ingest), nil, "application/json"),
        ]
        for (method, path, token, body, type) in writes {
            let answer = try await reader.request(method, path, token: token, body: body, contentType: type)
            #expect(answer.status == 503, "\(method) \(path): \(answer.status) \(answer.body)")
            #expect(answer.body.contains("read-only") && answer.body.contains("pid"), "\(path): \(answer.body)")
            #expect(answer.contentType.hasPrefix("application/json"), "\(path): \(answer.contentType)")
        }
        // A role that may not write still gets its 403 first.
        let forbidden = try await reader.request("POST", "/v1/events", token: Tokens.key(.qa), body: line)
        #expect(forbidden.status == 403)

        // Personal data: no way to log the access here, so refused before anything is read; summaries are served.
        let raw = try await reader.request(
            "GET", "/v1/calls/\(Self.call)/transcript?view=raw&purpose=subject%20access", token: Tokens.key(.compliance)
        )
        #expect(raw.status == 503 && raw.body.contains("access.granted"), "\(raw.status) \(raw.body)")
        #expect(!raw.body.contains("Jane Roe"))
        let opened = try await reader.request(
            "GET", "/v1/calls/\(Self.call)/audit-bundle?purpose=dsar", token: Tokens.key(.compliance))
        #expect(opened.status == 503 && opened.body.contains("access.granted"), "\(opened.status) \(opened.body)")
        let summary = try await reader.request(
            "GET", "/v1/calls/\(Self.call)/transcript?view=summary", token: Tokens.key(.compliance))
        #expect(summary.status == 200)
        let redacted = try await reader.request(
            "GET", "/v1/calls/\(Self.call)/transcript?view=redacted", token: Tokens.key(.compliance))
        #expect(redacted.status == 200 && !redacted.body.contains("Jane Roe"))
        #expect(try Self.logFiles(writer.ledger) == before, "a refused write or read changed the log")

        #expect(reader.terminate() == 0)
    }

    @Test func theLiveStreamDeliversWhatAnotherWriterAppends() async throws {
        let writer = try ServerProcess()
        try await writer.append(callLines(call: Self.call, tenant: "acme-bank", secret: "Jane Roe"))
        let reader = try ServerProcess(extraArguments: ["--read-only"], existingLedger: writer.ledger)
        let connection = try RawHTTPConnection(port: reader.port)
        connection.send(
            "GET /v1/calls/\(Self.call)/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Authorization: Bearer \(Tokens.key(.qa))\r\n\r\n")
        let head = connection.read(until: "my name is [REDACTED:name]")
        #expect(head.hasPrefix("HTTP/1.1 200") && head.contains("event: final"), "\(head)")
        // Each line appended by the writer process arrives on the reader's stream; the time from sending the
        // append to receiving the line is measured.
        var latencies: [Double] = []
        var afterAck: [Double] = []
        func milliseconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
        }
        for index in 0..<60 {
            let text = "line number \(index) here"
            let line =
                #"{"type":"transcript.segment","call":"\#(Self.call)","tenant":"acme-bank","source":"test/1","idempotency":"\#(Self.call):l\#(index)","body":{"utterance":"l\#(index)","final":true,"role":"agent","start_ms":\#(4000 + index * 100),"end_ms":\#(4050 + index * 100),"text":"\#(text)","provider":"test"}}"#
            let start = ContinuousClock.now
            try await writer.append([line])
            let acknowledged = ContinuousClock.now
            let received = connection.read(until: text, seconds: 10)
            let delivered = ContinuousClock.now
            try #require(received.contains(text), "line \(index) never arrived: \(received.suffix(500))")
            latencies.append(milliseconds(delivered - start))
            afterAck.append(milliseconds(delivered - acknowledged))
        }
        func percentiles(_ values: [Double]) -> (p50: Double, p99: Double) {
            let sorted = values.sorted()
            return (sorted[sorted.count / 2], sorted[min(sorted.count - 1, sorted.count * 99 / 100)])
        }
        let (p50, p99) = percentiles(latencies)
        let (ackP50, ackP99) = percentiles(afterAck)
        print(
            "read-only stream over \(latencies.count) appends: append sent to line delivered p50 \(p50) ms, "
                + "p99 \(p99) ms; append acknowledged to line delivered p50 \(ackP50) ms, p99 \(ackP99) ms")
        #expect(p50 < 1000, "p50 \(p50) ms")
        try await writer.append([
            #"{"type":"call.ended","call":"\#(Self.call)","tenant":"acme-bank","source":"test/1","idempotency":"\#(Self.call):ended","body":{"disconnected_at":"2026-11-26T09:05:12Z","disconnect_reason":"CUSTOMER_DISCONNECT","duration_ms":312000}}"#
        ])
        let all = connection.read(until: "the call ended", seconds: 10)
        #expect(all.contains("event: end"), "\(all.suffix(300))")
        #expect(!all.contains("Jane Roe"))
        // Role filtering as in writer mode: another tenant's token does not find the call.
        let other = try await reader.request("GET", "/v1/calls/\(Self.call)/stream", token: Tokens.otherTenantQA)
        #expect(other.status == 404)
    }

    @Test func aReadOnlyServerNeverTakesTheWriterLock() async throws {
        let scratch = ScratchDirectory()
        let ledger = scratch.file("ledger")
        let created = try callLedger("init", ledger)
        try #require(created.status == 0, "\(created.stderr)")
        // The read-only server first, on a ledger no one writes; a writer opens it meanwhile without waiting.
        let reader = try ServerProcess(extraArguments: ["--read-only"], existingLedger: ledger)
        let writer = try ServerProcess(extraArguments: ["--lock-wait", "0"], existingLedger: ledger)
        try await writer.append(callLines(call: Self.call, tenant: "acme-bank", secret: "Jane Roe"))
        let read = try await reader.request("GET", "/v1/calls/\(Self.call)", token: Tokens.key(.qa))
        #expect(read.status == 200, "\(read.body)")
        #expect(writer.terminate() == 0)
        // And an `append` process takes the lock while the reader still runs.
        let appended = try callLedger(
            "append", "--ledger", ledger, "--wait", "0",
            input: Data(
                (callLines(call: "c-ro-0002", tenant: "acme-bank", secret: "X").joined(separator: "\n") + "\n").utf8))
        #expect(appended.status == 0, "\(appended.stderr)")
        let again = try await reader.request("GET", "/v1/calls/c-ro-0002", token: Tokens.key(.qa))
        #expect(again.status == 200, "\(again.body)")
    }

    @Test func readOnlyComesFromTheOptionTheEnvironmentOrTheConfigFileAndMayNameACluster() throws {
        let scratch = ScratchDirectory()
        let file = scratch.file("serve.yaml")
        try "ledger: /l\nread_only: true\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try ServerConfiguration.resolve(file: file, environment: [:], options: [:]).readOnly)
        let fromEnvironment = try ServerConfiguration.resolve(
            file: nil, environment: ["CALL_LEDGER_DIR": "/l", "CALL_LEDGER_SERVE_READ_ONLY": "true"], options: [:])
        #expect(fromEnvironment.readOnly)
        let overridden = try ServerConfiguration.resolve(
            file: file, environment: ["CALL_LEDGER_SERVE_READ_ONLY": "false"], options: [:])
        #expect(!overridden.readOnly)
        let both = try ServerConfiguration.resolve(
            file: nil, environment: [:], options: [.ledger: "/l", .cluster: "/d.yaml", .readOnly: "true"])
        #expect(both.readOnly && both.ledger == "/l" && both.cluster == "/d.yaml")
        #expect(throws: ServerError.self) {
            try ServerConfiguration.resolve(file: nil, environment: [:], options: [.ledger: "/l", .readOnly: "maybe"])
        }
        #expect(throws: ServerError.self) {
            try ServerConfiguration.resolve(file: nil, environment: [:], options: [.cluster: "/d", .readOnly: "true"])
        }
        #expect(throws: ServerError.self) {
            try ServerConfiguration.resolve(file: nil, environment: [:], options: [.ledger: "/l", .cluster: "/d"])
        }
    }
}
