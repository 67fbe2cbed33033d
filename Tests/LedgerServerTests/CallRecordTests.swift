// The issue-13 read endpoints through the real `call-ledger serve`: QA, retention status, consistency and
// redaction proofs answer what the CLI prints for the same ledger; audit bundles verify with tools/verify, open
// classes only for compliance with a purpose (access.granted first); the live stream shows appended lines.
import Foundation
import LedgerServer
import LedgerTestSupport
import Testing

@Suite("call-ledger serve: QA, retention, audit, proofs, live")
struct CallRecordTests {
    /// A ledger of simulated calls in which retention erased some of acme-bank's data, checkpointed.
    static func erasedLedger(_ scratch: ScratchDirectory) throws -> (ledger: String, erased: String) {
        let ledger = scratch.file("ledger")
        try #require(try callLedger("init", ledger).status == 0)
        let day = simulatedLines(calls: 6, seed: 3).joined(separator: "\n") + "\n"
        try #require(try callLedger("append", "--ledger", ledger, input: Data(day.utf8)).status == 0)
        let policies = Repository.root.appendingPathComponent("Projections/retention").path
        try #require(
            try callLedger(
                "retention", "assign", "--ledger", ledger, "--policy", policies + "/gdpr-storage-limitation.yaml",
                "--tenant", "acme-bank"
            ).status == 0)
        let run = try callLedger(
            "retention", "run", "--ledger", ledger, "--policies", policies, "--now", "2027-03-01T00:00:00Z")
        try #require(run.status == 0, "\(run.stderr)")
        try #require(try callLedger("checkpoint", "--ledger", ledger).status == 0)
        let events = try callLedger("cat", "--ledger", ledger).stdout.split(separator: "\n").map { try jsonObject($0) }
        let purged = try #require(events.first { $0["type"] as? String == "retention.purged" })
        return (ledger, try #require(purged["call"] as? String))
    }

    /// `text` parsed as JSON and written again with sorted keys, so that equal documents compare equal.
    static func canonical(_ text: String) throws -> String {
        let value = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        return String(
            decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test func qaRetentionAndProofsAnswerWhatTheCLIPrints() async throws {
        let scratch = ScratchDirectory()
        let (ledger, erased) = try Self.erasedLedger(scratch)
        let policies = Repository.root.appendingPathComponent("Projections/retention").path
        let scorecard = Repository.root.appendingPathComponent("Projections/qa/support-call-basics.yaml").path
        let now = "2027-01-01T00:00:00Z"
        // The CLI's answers first (the server then holds the writer).
        let qa = try callLedger("qa", erased, "--ledger", ledger, "--scorecard", scorecard, "--json")
        try #require(qa.status == 0, "\(qa.stderr)")
        let retention = try callLedger(
            "retention", "status", "--ledger", ledger, "--policies", policies, "--call", erased, "--now", now, "--json")
        try #require(retention.status == 0, "\(retention.stderr)")
        let redaction = try callLedger("prove", "redaction", erased, "--ledger", ledger, "--json")
        try #require(redaction.status == 0, "\(redaction.stderr)")
        let consistency = try callLedger("prove", "consistency", "--ledger", ledger, "--from", "5", "--to", "40")
        try #require(consistency.status == 0, "\(consistency.stderr)")

        let server = try ServerProcess(existingLedger: ledger)
        let served = try await server.request("GET", "/v1/calls/\(erased)/qa", token: Tokens.key(.qa))
        #expect(served.status == 200, "\(served.body)")
        #expect(try Self.canonical(served.body) == (try Self.canonical(qa.stdout)))
        #expect(served.body.contains("\"evidence\""))
        let status = try await server.request(
            "GET", "/v1/calls/\(erased)/retention?now=\(now)", token: Tokens.key(.compliance))
        #expect(status.status == 200, "\(status.body)")
        #expect(try Self.canonical(status.body) == (try Self.canonical(retention.stdout)))
        #expect(status.body.contains("\"shredded\"") || status.body.contains("\"compacted\""), "\(status.body)")
        let proof = try await server.request("GET", "/v1/proofs/redaction/\(erased)", token: Tokens.key(.auditor))
        #expect(proof.status == 200, "\(proof.body)")
        #expect(try Self.canonical(proof.body) == (try Self.canonical(redaction.stdout)))
        let extended = try await server.request(
            "GET", "/v1/proofs/consistency?old=5&new=40", token: Tokens.key(.auditor))
        #expect(extended.status == 200, "\(extended.body)")
        #expect(
            try Self.canonical(extended.body) == (try Self.canonical(consistency.stdout)))
        // The independent verifier accepts the served redaction proof.
        let proofFile = scratch.file("proof.json")
        try proof.body.write(toFile: proofFile, atomically: true, encoding: .utf8)
        let verified = try run(Repository.root.appendingPathComponent("tools/verify").path, ["proof", proofFile])
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        // Bad and out-of-range sizes are the client's mistake.
        for query in ["old=9&new=3", "old=x&new=3", "new=3"] {
            let answer = try await server.request("GET", "/v1/proofs/consistency?\(query)", token: Tokens.key(.auditor))
            #expect(answer.status == 400, "\(query): \(answer.status)")
        }
        let beyond = try await server.request(
            "GET", "/v1/proofs/consistency?old=1&new=999999", token: Tokens.key(.auditor))
        #expect(beyond.status == 404)
    }

    @Test func auditBundlesOpenClassesOnlyForComplianceWithAPurposeAndVerify() async throws {
        let server = try await ServerTests.seeded()
        let call = ServerTests.acmeCall
        let verify = Repository.root.appendingPathComponent("tools/verify").path
        for role in [Role.auditor, .admin] {
            let answer = try await server.request("GET", "/v1/calls/\(call)/audit-bundle", token: Tokens.key(role))
            #expect(answer.status == 200, "\(role): \(answer.body)")
            let bundle = try jsonObject(answer.body)
            let classes = try #require(bundle["classes"] as? [String: Any])
            #expect(classes["opened"] as? [String] == [], "\(role)")
            #expect((bundle["keys"] as? [String: Any])?.isEmpty == true)
            #expect(!answer.body.contains("Jane Roe"))
            let refused = try await server.request(
                "GET", "/v1/calls/\(call)/audit-bundle?purpose=curious", token: Tokens.key(role))
            #expect(refused.status == 403, "\(role) opened a class: \(refused.status)")
            let file = server.scratch.file("bundle-\(role).json")
            try answer.body.write(toFile: file, atomically: true, encoding: .utf8)
            let verified = try run(verify, ["bundle", file])
            #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        }
        let compliance = Tokens.key(.compliance)
        let withoutPurpose = try await server.request(
            "GET", "/v1/calls/\(call)/audit-bundle?open=pii.name", token: compliance)
        #expect(withoutPurpose.status == 400 && withoutPurpose.body.contains("purpose"))
        let before = try callLedger("cat", "--ledger", server.ledger, "--call", call)
        #expect(!before.stdout.contains("access.granted"))
        let opened = try await server.request(
            "GET", "/v1/calls/\(call)/audit-bundle?purpose=subject%20access%20request", token: compliance)
        #expect(opened.status == 200, "\(opened.body)")
        let bundle = try jsonObject(opened.body)
        #expect((bundle["classes"] as? [String: Any])?["opened"] as? [String] == ["content", "pii.name"])
        // The grant was durable before the bundle was built: the bundle holds it.
        #expect(opened.body.contains("access.granted"), "the bundle lacks its own access.granted event")
        let after = try callLedger("cat", "--ledger", server.ledger, "--call", call)
        let grant = try #require(
            try after.stdout.split(separator: "\n").map { try jsonObject($0) }
                .first { $0["type"] as? String == "access.granted" })
        let body = try #require(grant["body"] as? [String: Any])
        #expect(body["purpose"] as? String == "subject access request")
        #expect(body["classes"] as? [String] == ["content", "pii.name"])
        let file = server.scratch.file("bundle-opened.json")
        try opened.body.write(toFile: file, atomically: true, encoding: .utf8)
        let verified = try run(verify, ["bundle", file])
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        #expect(verified.stdout.contains("Jane Roe") || opened.body.contains("Jane Roe"))
        let unknown = try await server.request(
            "GET", "/v1/calls/\(call)/audit-bundle?purpose=x&open=pii.card", token: compliance)
        #expect(unknown.status == 400, "\(unknown.body)")
    }

    @Test func theStreamShowsLinesAsTheyAreAppendedAndEndsWithTheCall() async throws {
        let server = try await ServerTests.seeded()
        let call = ServerTests.acmeCall
        let connection = try RawHTTPConnection(port: server.port)
        connection.send(
            "GET /v1/calls/\(call)/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(Tokens.key(.qa))\r\n\r\n"
        )
        let first = connection.read(until: "my name is [REDACTED:name]")
        #expect(first.hasPrefix("HTTP/1.1 200"), "\(first)")
        #expect(first.contains("text/event-stream"))
        #expect(first.contains("event: final"), "\(first)")
        // Another client appends a partial, then its final version, then the call's end.
        let segment = { (final: Bool, text: String) in
            #"{"type":"transcript.segment","call":"\#(call)","tenant":"acme-bank","source":"test/1","idempotency":"\#(call):u2:\#(final)","body":{"utterance":"u2","final":\#(final),"role":"agent","start_ms":4000,"end_ms":5000,"text":"\#(text)","provider":"test"}}"#
        }
        try await server.append([segment(false, "how can")])
        let partial = connection.read(until: "how can\"")
        #expect(partial.contains("event: partial"), "\(partial)")
        try await server.append([segment(true, "how can I help")])
        #expect(connection.read(until: "how can I help").contains("event: final"))
        try await server.append([
            #"{"type":"call.ended","call":"\#(call)","tenant":"acme-bank","source":"test/1","idempotency":"\#(call):ended","body":{"disconnected_at":"2026-11-26T09:05:12Z","disconnect_reason":"CUSTOMER_DISCONNECT","duration_ms":312000}}"#
        ])
        let all = connection.read(until: "the call ended")
        #expect(all.contains("event: end"), "\(all)")
        #expect(!all.contains("Jane Roe"))
        // A finished call: the lines so far, then the end, at once; an agent sees their own call redacted.
        let agent = try RawHTTPConnection(port: server.port)
        agent.send(
            "GET /v1/calls/\(call)/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(Tokens.key(.agent))\r\n\r\n"
        )
        let replay = agent.read(until: "the call ended")
        #expect(replay.contains("how can I help") && replay.contains("[REDACTED:name]"), "\(replay)")
        #expect(!replay.contains("Jane Roe"))
        let other = try await server.request("GET", "/v1/calls/\(call)/stream", token: Tokens.otherTenantQA)
        #expect(other.status == 404)
    }
}

/// A live stream of a call that has not ended does not hold the service up at SIGTERM.
@Suite struct LiveStreamShutdownTests {
    @Test func sigtermEndsAnOpenStreamSayingWhyAndTheServiceExitsZero() async throws {
        let server = try await ServerTests.seeded()
        let connection = try RawHTTPConnection(port: server.port)
        connection.send(
            "GET /v1/calls/\(ServerTests.acmeCall)/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Authorization: Bearer \(Tokens.key(.qa))\r\n\r\n")
        #expect(connection.read(until: "event: final").hasPrefix("HTTP/1.1 200"))
        kill(server.process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(30)
        while server.process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        let stopped = !server.process.isRunning
        if !stopped { kill(server.process.processIdentifier, SIGKILL) }
        server.process.waitUntilExit()
        #expect(stopped, "the service did not stop within 30 s of SIGTERM with a stream open")
        #expect(server.process.terminationStatus == 0)
        let rest = connection.read(until: "shutting down")
        #expect(rest.contains("event: end") && rest.contains("the service is shutting down"), "\(rest)")
    }
}
