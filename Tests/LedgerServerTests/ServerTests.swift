// `call-ledger serve` through real HTTP: appending and reading back, streamed acknowledgements, rejected lines,
// the role × endpoint × tenant matrix, tokens, the access log, graceful shutdown, and the OpenAPI document.
import Foundation
import LedgerServer
import LedgerTestSupport
import Logging
import Prometheus
import Testing
import Yams

@Suite("call-ledger serve")
struct ServerTests {
    static let acmeCall = "c-acme-0001"
    static let globexCall = "c-globex-0001"

    /// A server holding one call of acme-bank (agent jdoe) and one of globex.
    static func seeded() async throws -> ServerProcess {
        let server = try ServerProcess()
        try await server.append(
            callLines(call: acmeCall, tenant: "acme-bank", secret: "Jane Roe")
                + callLines(call: globexCall, tenant: "globex", agent: "mike", secret: "Max Mustermann"))
        return server
    }

    @Test func appendedEventsReadBackAtOnce() async throws {
        let server = try ServerProcess()
        try await server.append(callLines(call: Self.acmeCall, tenant: "acme-bank", secret: "Jane Roe"))
        let transcript = try await server.request(
            "GET", "/v1/calls/\(Self.acmeCall)/transcript?format=text", token: Tokens.key(.qa))
        #expect(transcript.status == 200)
        #expect(transcript.body.contains("my name is [REDACTED:name]"), "\(transcript.body)")
        #expect(!transcript.body.contains("Jane Roe"))
        let calls = try await server.request("GET", "/v1/calls", token: Tokens.key(.supervisor))
        #expect(calls.status == 200)
        let page = try jsonObject(calls.body)
        let listed = try #require(page["calls"] as? [[String: Any]])
        #expect(listed.map { $0["call"] as? String } == [Self.acmeCall])
        let one = try await server.request("GET", "/v1/calls/\(Self.acmeCall)", token: Tokens.key(.agent))
        #expect(one.status == 200)
        #expect(try jsonObject(one.body)["agent"] as? String == "jdoe")
        // A second append is read back by the very next request (projections caught up before reading).
        try await server.append([
            #"{"type":"transcript.segment","call":"c-acme-0001","tenant":"acme-bank","source":"test/1","idempotency":"c-acme-0001:seg-2","body":{"utterance":"u2","final":true,"role":"agent","start_ms":4000,"end_ms":5000,"text":"how can I help","provider":"test"}}"#
        ])
        let again = try await server.request(
            "GET", "/v1/calls/\(Self.acmeCall)/transcript?format=text", token: Tokens.key(.qa))
        #expect(again.body.contains("how can I help"), "\(again.body)")
    }

    @Test func acknowledgementsStreamWhileTheBodyIsStillComing() async throws {
        let server = try ServerProcess()
        let lines = callLines(call: Self.acmeCall, tenant: "acme-bank", secret: "Jane Roe")
        let connection = try RawHTTPConnection(port: server.port)
        connection.send(
            "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(Tokens.key(.ingest))\r\n"
                + "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n")
        connection.sendChunk(lines[0] + "\n")
        // The first event is acknowledged before the second line is even sent.
        let first = connection.read(until: #""seq":0"#)
        #expect(first.contains(#"{"seq":0,"idempotency":"c-acme-0001:started","status":"appended"}"#), "\(first)")
        #expect(!first.contains(#""seq":1"#))
        connection.sendChunk(lines[1] + "\n")
        connection.send("0\r\n\r\n")
        let all = connection.read(until: #""seq":1"#)
        #expect(all.contains(#"{"seq":1,"idempotency":"c-acme-0001:seg-1","status":"appended"}"#), "\(all)")
    }

    /// However a body is cut into pieces (inside a line, a UTF-8 character or a CRLF), every line is answered
    /// once, in order: events by seq, a bad line by its number counting blank ones, blank lines not at all, a
    /// last line without a newline included.
    @Test func bodiesCutAnywhereAreAnsweredLineByLineInOrder() async throws {
        let server = try ServerProcess()
        var seed = UInt64.random(in: 1...UInt64.max)
        func next(_ bound: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((seed >> 33) % UInt64(bound))
        }
        let initialSeed = seed
        var seq = 0
        for round in 0..<4 {
            var body: [UInt8] = []
            var expected: [String] = []
            let count = 20 + next(40)
            for index in 1...count {
                let ending = next(4) == 0 ? "\r\n" : "\n"
                switch next(10) {
                case 0: body += Array(("  " + ending).utf8)
                case 1: body += Array(ending.utf8)
                case 2:
                    body += Array((#"{"type":"call.started","call":"c-acme-0001","tenant":"acme-bank"}"# + ending).utf8)
                    expected.append("line \(index)")
                default:
                    let key = "cut-\(round)-\(index)"
                    let line =
                        #"{"type":"transcript.segment","call":"c-acme-0001","tenant":"acme-bank","source":"t","idempotency":"\#(key)","body":{"utterance":"\#(key)","final":true,"role":"agent","start_ms":0,"end_ms":1,"text":"Zoë 🙂 \#(index)","provider":"t"}}"#
                    body += Array((line + (index == count && next(2) == 0 ? "" : ending)).utf8)
                    expected.append("seq \(seq)")
                    seq += 1
                }
            }
            let connection = try RawHTTPConnection(port: server.port)
            connection.send(
                "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(Tokens.key(.ingest))\r\n"
                    + "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            var start = 0
            while start < body.count {
                let end = min(body.count, start + 1 + next(300))
                connection.sendChunk(bytes: body[start..<end])
                start = end
            }
            connection.send("0\r\n\r\n")
            let response = connection.read(until: "\r\n0\r\n\r\n", seconds: 20)
            let answers = response.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("{") }.map { line in
                if let range = line.range(of: #""seq":"#) {
                    return "seq " + line[range.upperBound...].prefix { $0.isNumber }
                }
                let number = line.range(of: #""line":"#).map { line[$0.upperBound...].prefix { $0.isNumber } } ?? "?"
                return "line \(number)"
            }
            #expect(answers == expected, "seed \(initialSeed), round \(round): \(response.suffix(400))")
        }
    }

    @Test func aRejectedLineIsReportedAndTheRestAppended() async throws {
        let server = try ServerProcess()
        let lines = callLines(call: Self.acmeCall, tenant: "acme-bank", secret: "Jane Roe")
        let bad =
            #"{"type":"call.started","call":"c-bad","tenant":"acme-bank","source":"t","idempotency":"bad","body":{"channel":"FAX"}}"#
        let body = [lines[0], bad, lines[1]].joined(separator: "\n") + "\n"
        // atomic: nothing is appended, every rejected line is named.
        let atomic = try await server.request("POST", "/v1/events?atomic=true", token: Tokens.key(.ingest), body: body)
        #expect(atomic.status == 422)
        let errors = try atomic.jsonLines()
        #expect(errors.count == 1)
        #expect(errors.first?["line"] as? Int == 2)
        #expect(errors.first?["field"] as? String == "body.channel")
        #expect(errors.first?["status"] as? String == "rejected")
        let empty = try callLedger("cat", "--ledger", server.ledger)
        #expect(empty.status == 0 && empty.stdout.isEmpty, "\(empty.stdout)")
        // Not atomic: line 2 is rejected, lines 1 and 3 appended, answers in input order.
        let streamed = try await server.request("POST", "/v1/events", token: Tokens.key(.ingest), body: body)
        #expect(streamed.status == 200)
        let answers = try streamed.jsonLines()
        #expect(answers.count == 3)
        #expect(answers[0]["seq"] as? Int == 0)
        #expect(answers[1]["line"] as? Int == 2 && answers[1]["field"] as? String == "body.channel")
        #expect(answers[2]["seq"] as? Int == 1)
        let written = try callLedger("cat", "--ledger", server.ledger)
        #expect(written.stdout.split(separator: "\n").count == 2)
    }

    /// What each role gets on each endpoint for its own tenant's call and for another tenant's, written out here
    /// independently of the server's table.
    static func expectedStatus(_ endpoint: String, role: Role, own: Bool) -> Int {
        let readers: Set<Role> = [.agent, .qa, .supervisor, .compliance, .admin]
        switch endpoint {
        case "checkpoint": return role == .ingest ? 403 : 200
        case "events": return role == .ingest || role == .admin ? 200 : 403
        case "calls": return readers.contains(role) ? 200 : 403
        case "call", "transcript": return readers.contains(role) ? (own ? 200 : 404) : 403
        case "raw": return role == .compliance ? (own ? 200 : 404) : 403
        case "proof", "bundle": return [.auditor, .compliance, .admin].contains(role) ? (own ? 200 : 404) : 403
        // Ledger-wide: the same answer for either tenant.
        case "consistency": return [.auditor, .compliance, .admin].contains(role) ? 200 : 403
        // No call of the seeded ledger was erased: allowed roles get 404 for both (the body says why).
        case "redaction": return [.auditor, .compliance, .admin].contains(role) ? 404 : 403
        case "qa", "stream": return readers.contains(role) ? (own ? 200 : 404) : 403
        case "retention": return [.compliance, .admin].contains(role) ? (own ? 200 : 404) : 403
        // Writes name their tenant: one the token does not cover is refused (403), as is a role that may not write.
        case "ingest": return [.ingest, .admin].contains(role) && own ? 200 : 403
        // Without a WebSocket upgrade the relay says 426 to a principal it would serve.
        case "live": return [.ingest, .admin].contains(role) && own ? 426 : 403
        default: return 0
        }
    }

    @Test func everyRoleOnEveryEndpointForOwnAndOtherTenant() async throws {
        let server = try await Self.seeded()
        let contactRecord = try String(
            contentsOf: Repository.fixture("connect/ctr-inbound-voice.json"), encoding: .utf8)
        // seq 0-1: acme-bank's call, seq 2-3: globex's.
        var cells = 0
        for role in Role.allCases {
            let token = Tokens.key(role)
            for own in [true, false] {
                let call = own ? Self.acmeCall : Self.globexCall
                let tenant = own ? "acme-bank" : "globex"
                let requests: [(String, String, String, String?)] = [
                    ("checkpoint", "GET", "/v1/checkpoint", nil),
                    ("calls", "GET", "/v1/calls?tenant=\(tenant)", nil),
                    ("call", "GET", "/v1/calls/\(call)", nil),
                    ("transcript", "GET", "/v1/calls/\(call)/transcript", nil),
                    ("raw", "GET", "/v1/calls/\(call)/transcript?view=raw&purpose=audit", nil),
                    ("proof", "GET", "/v1/proofs/inclusion?seq=\(own ? 1 : 3)", nil),
                    ("qa", "GET", "/v1/calls/\(call)/qa", nil),
                    ("retention", "GET", "/v1/calls/\(call)/retention", nil),
                    ("bundle", "GET", "/v1/calls/\(call)/audit-bundle", nil),
                    ("consistency", "GET", "/v1/proofs/consistency?old=1&new=\(own ? 2 : 3)", nil),
                    ("redaction", "GET", "/v1/proofs/redaction/\(call)", nil),
                    ("stream", "GET", "/v1/calls/\(call)/stream", nil),
                    ("ingest", "POST", "/v1/ingest/connect-ctr?tenant=\(tenant)", contactRecord),
                    ("live", "GET", "/v1/live/\(call)?tenant=\(tenant)", nil),
                    (
                        "events", "POST", "/v1/events",
                        #"{"type":"call.started","call":"m-\#(role)-\#(own)","tenant":"\#(tenant)","source":"t","idempotency":"m-\#(role)-\#(own)","body":{"channel":"VOICE"}}"#
                    ),
                ]
                for (endpoint, method, path, body) in requests {
                    let answer =
                        endpoint == "stream"
                        ? try Self.streamHead(port: server.port, path: path, token: token)
                        : try await server.request(
                            method, path, token: token, body: body,
                            contentType: endpoint == "ingest" ? "application/json" : "application/x-ndjson")
                    let expected = Self.expectedStatus(endpoint, role: role, own: own)
                    #expect(
                        answer.status == expected, "\(role) \(endpoint) own=\(own): \(answer.status) \(answer.body)")
                    cells += 1
                    if endpoint == "redaction", answer.status == 404 {
                        #expect(answer.body.contains(own ? "retention.purged" : "may see"), "\(answer.body)")
                    }
                    guard answer.status == 200 else { continue }
                    switch endpoint {
                    case "calls":
                        let listed = try #require(try jsonObject(answer.body)["calls"] as? [[String: Any]])
                        let ids = listed.compactMap { $0["call"] as? String }
                        #expect(!ids.contains(Self.globexCall), "\(role) sees another tenant's call")
                        #expect(ids.contains(Self.acmeCall) == own, "\(role) own=\(own): \(ids)")
                    case "transcript":
                        #expect(!answer.body.contains("Jane Roe"), "\(role) default view shows personal data")
                        if role == .agent { #expect(!answer.body.contains("my name is"), "agent sees text") }
                    case "raw": #expect(answer.body.contains("Jane Roe"))
                    case "bundle":
                        #expect(!answer.body.contains("Jane Roe"), "\(role) bundle opened a class")
                        let classes = try jsonObject(answer.body)["classes"] as? [String: Any]
                        #expect(classes?["opened"] as? [String] == [], "\(role) bundle opened a class")
                    case "qa": #expect(answer.body.contains(#""call":"\#(call)""#))
                    case "stream":
                        #expect(answer.body.contains("[REDACTED:name]") && !answer.body.contains("Jane Roe"))
                    case "events":
                        let line = try #require(try answer.jsonLines().first)
                        #expect(own ? line["seq"] != nil : line["field"] as? String == "tenant", "\(line)")
                    case "ingest":
                        let summary = try jsonObject(answer.body)
                        let stored = (summary["appended"] as? Int ?? 0) + (summary["duplicate"] as? Int ?? 0)
                        #expect(stored > 0, "\(answer.body)")
                    default: break
                    }
                }
            }
        }
        #expect(cells == Role.allCases.count * 2 * 15)
    }

    /// The status line of a stream request and what arrived until its first line of text (or its end).
    static func streamHead(port: Int, path: String, token: String) throws -> Answer {
        let connection = try RawHTTPConnection(port: port)
        connection.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n\r\n")
        let head = connection.read(until: "\r\n\r\n")
        let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        let body = status == 200 ? connection.read(until: "event: final") : connection.read(until: "}")
        return Answer(status: status, body: body, contentType: "")
    }

    @Test func aMethodAPathDoesNotDeclareAnswers405NamingTheAllowedOnes() async throws {
        let server = try ServerProcess()
        for (method, path, allowed) in [
            ("PUT", "/v1/checkpoint", "GET"), ("DELETE", "/v1/calls/c-1", "GET"), ("GET", "/v1/events", "POST"),
            ("PATCH", "/v1/ingest/gladia", "POST"), ("POST", "/v1/calls/c-1/transcript", "GET"),
            ("DELETE", "/healthz", "GET"), ("QUERY", "/v1/calls", "GET"),
        ] {
            let answer = try await server.request(method, path, token: Tokens.key(.admin))
            #expect(answer.status == 405, "\(method) \(path): \(answer.status) \(answer.body)")
            #expect(answer.body.contains("allowed: \(allowed)"), "\(method) \(path): \(answer.body)")
        }
        // A path that does not exist is still 404.
        #expect(try await server.request("PUT", "/v1/nothing", token: Tokens.key(.admin)).status == 404)
        #expect(try server.storedEvents().isEmpty)
    }

    @Test func missingExpiredAndForeignTokensAnswer401() async throws {
        let server = try await Self.seeded()
        let path = "/v1/calls"
        #expect(try await server.request("GET", path, token: nil).status == 401)
        #expect(try await server.request("GET", path, token: "not-a-key").status == 401)
        #expect(try await server.request("GET", path, token: "a.b.c").status == 401)
        let expired = try await server.jwt(role: .qa, tenants: ["acme-bank"], expiresIn: -60)
        let answer = try await server.request("GET", path, token: expired)
        #expect(answer.status == 401)
        #expect(answer.body.contains("expired"), "\(answer.body)")
        let other = try ServerProcess()
        let foreign = try await other.jwt(role: .qa, tenants: ["acme-bank"])
        #expect(try await server.request("GET", path, token: foreign).status == 401)
        let valid = try await server.jwt(role: .qa, tenants: ["acme-bank"])
        let listed = try await server.request("GET", path, token: valid)
        #expect(listed.status == 200)
        #expect(listed.body.contains(Self.acmeCall) && !listed.body.contains(Self.globexCall))
        #expect(!server.log.contains(Tokens.key(.qa)) && !server.log.contains(valid))
    }

    @Test func rawReadNeedsAPurposeAndIsLoggedBeforeTheAnswer() async throws {
        let server = try await Self.seeded()
        let token = Tokens.key(.compliance)
        let base = "/v1/calls/\(Self.acmeCall)/transcript?view=raw"
        let without = try await server.request("GET", base, token: token)
        #expect(without.status == 400)
        #expect(without.body.contains("purpose"))
        let before = try callLedger("cat", "--ledger", server.ledger, "--call", Self.acmeCall)
        #expect(!before.stdout.contains("access.granted"))
        let answer = try await server.request("GET", base + "&format=text&purpose=subject%20access", token: token)
        #expect(answer.status == 200)
        #expect(answer.body.contains("my name is Jane Roe"), "\(answer.body)")
        // Durable by the time the answer arrived: another process reads it from the log.
        let after = try callLedger("cat", "--ledger", server.ledger, "--call", Self.acmeCall)
        let grant = try #require(
            try after.stdout.split(separator: "\n").map { try jsonObject($0) }
                .first { $0["type"] as? String == "access.granted" })
        let body = try #require(grant["body"] as? [String: Any])
        #expect(body["principal"] as? String == "compliance-person")
        #expect(body["role"] as? String == "compliance")
        #expect(body["purpose"] as? String == "subject access")
        #expect(body["view"] as? String == "raw")
        #expect(body["classes"] as? [String] == ["pii.name"])
        #expect(!server.log.contains("Jane Roe") && !server.log.contains("subject access"))
        // It is part of the call's audit export.
        #expect(try await server.request("GET", "/v1/checkpoint", token: Tokens.key(.auditor)).status == 200)
        let bundle = server.scratch.file("bundle.json")
        let export = try callLedger("audit", "export", "--ledger", server.ledger, Self.acmeCall, "-o", bundle)
        #expect(export.status == 0, "\(export.stderr)")
        #expect(try String(contentsOfFile: bundle, encoding: .utf8).contains("access.granted"))
    }

    @Test func sigtermFinishesInFlightAppendsAndExitsZero() async throws {
        let server = try ServerProcess()
        let acknowledged = try await withThrowingTaskGroup(of: [String].self) { group in
            for client in 0..<4 {
                group.addTask {
                    var seen: [String] = []
                    for round in 0..<100 {
                        let lines = (0..<20).map { index in
                            #"{"type":"call.started","call":"s-\#(client)-\#(round)","tenant":"acme-bank","source":"t","idempotency":"s-\#(client)-\#(round)-\#(index)","body":{"channel":"VOICE"}}"#
                        }
                        guard
                            let answer = try? await server.request(
                                "POST", "/v1/events", token: Tokens.key(.ingest), body: lines.joined(separator: "\n"))
                        else { break }
                        for line in answer.body.split(separator: "\n") {
                            if let object = try? jsonObject(line), let key = object["idempotency"] as? String {
                                seen.append(key)
                            }
                        }
                    }
                    return seen
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(400))
                #expect(server.terminate() == 0, "\(server.log)")
                return []
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        // SIGTERM came while clients were still sending (not all 8000 events were acknowledged).
        #expect(!acknowledged.isEmpty && acknowledged.count < 8000, "\(acknowledged.count) acknowledged")
        let stored = try callLedger("cat", "--ledger", server.ledger)
        let keys = Set(
            try stored.stdout.split(separator: "\n").compactMap { try jsonObject($0)["idempotency"] as? String })
        #expect(acknowledged.allSatisfy { keys.contains($0) }, "acknowledged but missing after SIGTERM")
        let verified = try callLedger("verify", "--ledger", server.ledger)
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
    }

    @Test func badRequestsAnswer4xxWithAReasonAndAppendNothing() async throws {
        let server = try ServerProcess(extraArguments: ["--max-body-bytes", "2000"])
        let line = callLines(call: Self.acmeCall, tenant: "acme-bank", secret: "Jane Roe")[0]
        let ingest = Tokens.key(.ingest)
        let wrongType = try await server.request(
            "POST", "/v1/events", token: ingest, body: line, contentType: "application/json")
        #expect(wrongType.status == 415 && wrongType.body.contains("x-ndjson"), "\(wrongType.body)")
        let oversized = try await server.request(
            "POST", "/v1/events", token: ingest, body: String(repeating: line + "\n", count: 10))
        #expect(oversized.status == 413, "\(oversized.body)")
        let badAtomic = try await server.request("POST", "/v1/events?atomic=yes", token: ingest, body: line)
        #expect(badAtomic.status == 400)
        let notJSON = try await server.request("POST", "/v1/events?atomic=true", token: ingest, body: "{not json")
        #expect(notJSON.status == 422 && notJSON.body.contains(#""line":1"#), "\(notJSON.body)")
        #expect(try await server.request("GET", "/v1/calls/nope", token: Tokens.key(.qa)).status == 404)
        let qa = Tokens.key(.qa)
        for query in ["view=everything", "format=pdf", "as_of=yesterday"] {
            let answer = try await server.request("GET", "/v1/calls/nope/transcript?\(query)", token: qa)
            #expect(answer.status == 400, "\(query): \(answer.status) \(answer.body)")
        }
        #expect(try await server.request("GET", "/v1/calls?limit=0", token: qa).status == 400)
        #expect(
            try await server.request("GET", "/v1/proofs/inclusion?seq=x", token: Tokens.key(.auditor)).status == 400)
        let stored = try callLedger("cat", "--ledger", server.ledger)
        #expect(stored.stdout.isEmpty, "\(stored.stdout)")
    }

    @Test func settingsComeFromTheConfigFileAndTheEnvironment() async throws {
        let server = try ServerProcess(configFile: true)
        try await server.append(callLines(call: Self.acmeCall, tenant: "acme-bank", secret: "Jane Roe"))
        #expect(try await server.request("GET", "/v1/calls", token: Tokens.key(.qa)).status == 200)
        let metrics = try await server.request("GET", "/metrics", token: nil)
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("ledger_events_appended_total 2"), "\(metrics.body)")
        let scratch = ScratchDirectory()
        let config = scratch.file("bad.yaml")
        try "ledger: /nowhere\nprot: 80\n".write(toFile: config, atomically: true, encoding: .utf8)
        let refused = try callLedger("serve", "--config", config)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("unknown setting 'prot'"), "\(refused.stderr)")
    }

    @Test func openAPIDocumentListsExactlyTheRegisteredRoutes() async throws {
        let scratch = ScratchDirectory()
        let created = try callLedger("init", scratch.file("ledger"))
        try #require(created.status == 0)
        let service = try LedgerService(directory: scratch.file("ledger"), keyFile: nil, lockWait: 0)
        defer { try? service.close() }
        let server = LedgerServer(
            service: service, authenticator: Authenticator(apiKeys: APIKeyStore(), jwt: nil),
            configuration: ServerConfiguration(ledger: scratch.file("ledger")), registry: PrometheusCollectorRegistry(),
            logger: Logger(label: "test"))
        let registered = Set(server.router().routes.map(\.description))
        let text = try String(contentsOf: Repository.root.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
        let paths = try #require(document["paths"] as? [String: Any])
        var documented: Set<String> = []
        for (path, item) in paths {
            let operations = try #require(item as? [String: Any])
            for method in operations.keys where ["get", "post", "put", "delete", "patch"].contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        #expect(documented == registered)
    }
}
