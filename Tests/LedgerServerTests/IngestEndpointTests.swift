// POST /v1/ingest/{kind}, POST /v1/webhooks/gladia and POST /v1/firehose/{source} through the real
// `call-ledger serve`: vendor fixtures give the same events as `call-ledger ingest`, a redelivery appends nothing,
// and bad input (wrong secret or key, malformed JSON, wrong content type, a body over the limit) is answered 4xx
// with a precise message and nothing appended.
import CompressNIO
import Foundation
import LedgerServer
import LedgerTestSupport
import NIOCore
import Testing

@Suite("serve: ingest endpoints")
struct IngestEndpointTests {
    static let gladiaResult = Repository.fixture("gladia/prerecorded-result.json").path

    // MARK: - POST /v1/ingest/{kind}

    @Test func ingestedDocumentGivesTheEventsOfTheCLI() async throws {
        let server = try ServerProcess()
        let body = try Data(contentsOf: URL(fileURLWithPath: Self.gladiaResult))
        let headers = ["Authorization": "Bearer \(Tokens.key(.ingest))", "Content-Type": "application/json"]
        let first = try await server.send(
            "POST", "/v1/ingest/gladia?roles=0=agent,1=customer", headers: headers, body: body)
        #expect(first.status == 200, "\(first.body)")
        let summary = try jsonObject(first.body)
        let expected = try cliIngested(
            "gladia", file: Self.gladiaResult, ["--tenant", "acme-bank", "--roles", "0=agent,1=customer"])
        #expect(summary["accepted"] as? Bool == true)
        #expect(summary["appended"] as? Int == expected.count)
        #expect(summary["duplicate"] as? Int == 0)
        let acks = try #require(summary["events"] as? [[String: Any]])
        #expect(acks.map { $0["idempotency"] as? String } == (try idempotencyKeys(expected)))
        // The token's only tenant is the default, and the events are those the CLI appends.
        let stored = try server.storedEvents()
        #expect(stored == expected, "\(firstDifference(stored, expected))")
        let again = try await server.send(
            "POST", "/v1/ingest/gladia?roles=0=agent,1=customer", headers: headers, body: body)
        let repeated = try jsonObject(again.body)
        #expect(again.status == 200)
        #expect(repeated["appended"] as? Int == 0 && repeated["duplicate"] as? Int == expected.count)
        #expect(try server.storedEvents().count == expected.count)
    }

    @Test func rejectedRecordsOfAStreamAreListedAndTheOthersAppended() async throws {
        let server = try ServerProcess()
        var lines = try String(contentsOf: Repository.fixture("connect/ctr-stream.jsonl"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        lines[1] = String(lines[1].prefix(80))
        let body = Data(lines.joined(separator: "\n").utf8)
        let headers = ["Authorization": "Bearer \(Tokens.key(.ingest))", "Content-Type": "application/x-ndjson"]
        let atomic = try await server.send("POST", "/v1/ingest/connect-ctr?atomic=true", headers: headers, body: body)
        #expect(atomic.status == 422, "\(atomic.body)")
        let refused = try jsonObject(atomic.body)
        let reason = (refused["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(reason.contains("body: --atomic: 1 record(s) were rejected; nothing appended"), "\(reason)")
        #expect(try server.storedEvents().isEmpty)
        let answer = try await server.send("POST", "/v1/ingest/connect-ctr", headers: headers, body: body)
        #expect(answer.status == 200, "\(answer.body)")
        let summary = try jsonObject(answer.body)
        let rejected = try #require(summary["rejected"] as? [[String: Any]])
        #expect(rejected.count == 1 && rejected.first?["file"] as? String == "body:2", "\(rejected)")
        #expect((summary["appended"] as? Int ?? 0) > 0)
        #expect(try server.storedEvents().count == summary["appended"] as? Int)
    }

    @Test func badIngestRequestsAreRefusedPreciselyWithNothingAppended() async throws {
        let server = try ServerProcess(extraArguments: ["--max-body-bytes", "2000"])
        let json = "application/json"
        func post(
            _ path: String, token: String? = Tokens.key(.ingest), type: String = json, _ body: String
        ) async throws -> (Int, String) {
            var headers = ["Content-Type": type]
            if let token { headers["Authorization"] = "Bearer \(token)" }
            let answer = try await server.send("POST", path, headers: headers, body: Data(body.utf8))
            return (answer.status, answer.body)
        }
        let malformed = try await post(
            "/v1/ingest/gladia", #"{"id":"x","status":"done","result":{"transcription":{"utterances":[{"start":1"#)
        #expect(malformed.0 == 422 && malformed.1.contains("body"), "\(malformed)")
        let wrongType = try await post("/v1/ingest/gladia", type: "text/plain", "{}")
        #expect(wrongType.0 == 415 && wrongType.1.contains("send the vendor document as application"), "\(wrongType)")
        let unknown = try await post("/v1/ingest/nope", "{}")
        #expect(unknown.0 == 404 && unknown.1.contains("unknown adapter \\\"nope\\\""), "\(unknown)")
        let oversized = try await post("/v1/ingest/gladia", String(repeating: " ", count: 2001) + "{}")
        #expect(oversized.0 == 413 && oversized.1.contains("2000-byte limit"), "\(oversized)")
        let foreign = try await post("/v1/ingest/gladia?track=AUDIO_TO_CUSTOMER", "{}")
        #expect(foreign.0 == 400 && foreign.1.contains("track does not apply to gladia"), "\(foreign)")
        let needed = try await post("/v1/ingest/kvs-fragments?track=AUDIO_TO_CUSTOMER", "{}")
        #expect(needed.0 == 400 && needed.1.contains("kvs-fragments needs the call query parameter"), "\(needed)")
        let query = try await post("/v1/ingest/gladia?colour=red", "{}")
        #expect(query.0 == 400 && query.1.contains("unknown query parameter 'colour'"), "\(query)")
        let roles = try await post("/v1/ingest/gladia?roles=0=boss", "{}")
        #expect(roles.0 == 400 && roles.1.contains("0=boss"), "\(roles)")
        let tenant = try await post("/v1/ingest/gladia?tenant=globex", "{}")
        #expect(tenant.0 == 403, "\(tenant)")
        let role = try await post("/v1/ingest/gladia", token: Tokens.key(.qa), "{}")
        #expect(role.0 == 403, "\(role)")
        let anonymous = try await post("/v1/ingest/gladia", token: nil, "{}")
        #expect(anonymous.0 == 401, "\(anonymous)")
        let other = try await post("/v1/ingest/gladia", #"{"Participants":[],"Transcript":[]}"#)
        #expect(other.0 == 422 && other.1.contains("body"), "\(other)")
        #expect(try server.storedEvents().isEmpty)
    }

    // MARK: - POST /v1/webhooks/gladia

    /// The callback Gladia posts when a pre-recorded job is done, around the fixture's result.
    static func successCallback() throws -> Data {
        let source = try jsonObject(try String(contentsOfFile: gladiaResult, encoding: .utf8))
        let id = try #require(source["id"] as? String)
        let callback: [String: Any] = [
            "id": id, "event": "transcription.success",
            "payload": ["id": id, "result": try #require(source["result"])],
        ]
        return try JSONSerialization.data(withJSONObject: callback)
    }

    @Test func gladiaCallbackIsIngestedOnceHoweverOftenItIsRetried() async throws {
        let server = try ServerProcess.withPushSources()
        let body = try Self.successCallback()
        let path = "/v1/webhooks/gladia?secret=\(PushSecrets.gladia)"
        let first = try await server.send("POST", path, headers: ["Content-Type": "application/json"], body: body)
        #expect(first.status == 200, "\(first.body)")
        let summary = try jsonObject(first.body)
        let file = ScratchDirectory()
        try body.write(to: URL(fileURLWithPath: file.file("callback.json")))
        let expected = try cliIngested("gladia", file: file.file("callback.json"), ["--tenant", "acme-bank"])
        #expect(summary["appended"] as? Int == expected.count && summary["event"] as? String == "transcription.success")
        let stored = try server.storedEvents()
        #expect(stored == expected, "\(firstDifference(stored, expected))")
        // Retried, with the secret in the header this time: nothing more.
        let retried = try await server.send(
            "POST", "/v1/webhooks/gladia",
            headers: ["Content-Type": "application/json", "X-Webhook-Secret": PushSecrets.gladia], body: body)
        #expect(retried.status == 200)
        #expect(try jsonObject(retried.body)["duplicate"] as? Int == expected.count)
        #expect(try server.storedEvents().count == expected.count)
    }

    @Test func gladiaLiveCallbackIsReadAsALiveMessage() async throws {
        let server = try ServerProcess.withPushSources()
        let lines = try String(
            contentsOf: Repository.fixture("gladia/live-stream-from-prerecorded.jsonl"), encoding: .utf8
        )
        .split(separator: "\n")
        let final = try #require(
            lines.first { $0.contains(#""type":"transcript""#) && $0.contains(#""is_final":true"#) })
        let message = try jsonObject(final)
        let callback: [String: Any] = [
            "id": message["session_id"] ?? "", "event": "live.transcript", "payload": message,
        ]
        let answer = try await server.send(
            "POST", "/v1/webhooks/gladia?secret=\(PushSecrets.gladia)&call=live-1",
            headers: ["Content-Type": "application/json"], body: try JSONSerialization.data(withJSONObject: callback))
        #expect(answer.status == 200, "\(answer.body)")
        #expect(try jsonObject(answer.body)["from"] as? String == "gladia-live")
        let stored = try server.storedEvents()
        #expect(stored.count == 1)
        let event = try jsonObject(try #require(stored.first))
        #expect(event["type"] as? String == "transcript.segment" && event["call"] as? String == "live-1")
        #expect(event["tenant"] as? String == "acme-bank")
    }

    @Test func gladiaCallbackWithoutTheSecretOrWithBadJSONAppendsNothing() async throws {
        let server = try ServerProcess.withPushSources()
        let body = try Self.successCallback()
        let json = ["Content-Type": "application/json"]
        let wrong = try await server.send(
            "POST", "/v1/webhooks/gladia?secret=\(PushSecrets.ctr)", headers: json, body: body)
        #expect(wrong.status == 401 && wrong.body.contains("secret"), "\(wrong.body)")
        let missing = try await server.send("POST", "/v1/webhooks/gladia", headers: json, body: body)
        #expect(missing.status == 401)
        let path = "/v1/webhooks/gladia?secret=\(PushSecrets.gladia)"
        let malformed = try await server.send(
            "POST", path, headers: json, body: Data(#"{"event":"transcription.success","#.utf8))
        #expect(malformed.status == 400 && malformed.body.contains("not a JSON object"), "\(malformed.body)")
        let text = try await server.send("POST", path, headers: ["Content-Type": "text/plain"], body: body)
        #expect(text.status == 415)
        let failed = try await server.send(
            "POST", path, headers: json,
            body: Data(#"{"id":"x","event":"transcription.error","payload":{"id":"x","error":"audio too short"}}"#.utf8)
        )
        let notification = try jsonObject(failed.body)
        #expect(failed.status == 200 && notification["ingested"] as? Bool == false, "\(failed.body)")
        let idOnly = try await server.send(
            "POST", path, headers: json,
            body: Data(
                #"{"event":"transcription.success","payload":{"id":"45463597-20b7-4af7-b3b3-f5fb778203ab"}}"#.utf8))
        #expect(idOnly.status == 422 && idOnly.body.contains("fetch GET /v2/pre-recorded/45463597"), "\(idOnly.body)")
        #expect(try server.storedEvents().isEmpty)
    }

    // MARK: - POST /v1/firehose/{source}

    /// A Firehose request body of `records` (each record's bytes base64-encoded).
    static func firehoseBody(_ records: [Data], requestID: String) throws -> Data {
        let body: [String: Any] = [
            "requestId": requestID, "timestamp": 1_733_400_000_000,
            "records": records.map { ["data": $0.base64EncodedString()] },
        ]
        return try JSONSerialization.data(withJSONObject: body)
    }

    static func firehoseHeaders(key: String, requestID: String) -> [String: String] {
        [
            "Content-Type": "application/json", "X-Amz-Firehose-Protocol-Version": "1.0",
            "X-Amz-Firehose-Request-Id": requestID, "X-Amz-Firehose-Access-Key": key,
        ]
    }

    static var ctrRecords: [Data] {
        get throws {
            try String(contentsOf: Repository.fixture("connect/ctr-stream.jsonl"), encoding: .utf8)
                .split(separator: "\n").map { Data($0.utf8) }
        }
    }

    @Test func firehoseContactRecordsAreIngestedOnceAndGzipIsRead() async throws {
        let server = try ServerProcess.withPushSources()
        let requestID = "ed4acda5-034f-9f42-bba1-f29aea6d7d8f"
        let body = try Self.firehoseBody(try Self.ctrRecords, requestID: requestID)
        var buffer = ByteBuffer(bytes: body)
        let gzipped = try buffer.compress(with: .gzip())
        var headers = Self.firehoseHeaders(key: PushSecrets.ctr, requestID: requestID)
        headers["Content-Encoding"] = "gzip"
        let first = try await server.send(
            "POST", "/v1/firehose/ctr", headers: headers, body: Data(gzipped.readableBytesView))
        #expect(first.status == 200, "\(first.body)")
        #expect(first.contentType.hasPrefix("application/json"))
        let answer = try jsonObject(first.body)
        #expect(answer["requestId"] as? String == requestID && answer["timestamp"] is Int)
        #expect(answer["errorMessage"] == nil)
        let expected = try cliIngested(
            "connect-ctr", file: Repository.fixture("connect/ctr-stream.jsonl").path, ["--tenant", "acme-bank"])
        let stored = try server.storedEvents()
        #expect(stored == expected, "\(firstDifference(stored, expected))")
        // Redelivered (Firehose retries with the same request id), uncompressed this time: nothing appended.
        let again = try await server.send(
            "POST", "/v1/firehose/ctr", headers: Self.firehoseHeaders(key: PushSecrets.ctr, requestID: requestID),
            body: body)
        #expect(again.status == 200, "\(again.body)")
        #expect(try server.storedEvents().count == expected.count)
    }

    @Test func firehoseContactLensEventsAreIngested() async throws {
        let server = try ServerProcess.withPushSources()
        let file = Repository.fixture("connect/docs-contact-lens-realtime-segment-stream-events.json").path
        let events = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [Any])
        let records = try events.map { try JSONSerialization.data(withJSONObject: $0, options: [.prettyPrinted]) }
        let requestID = "lens-request-1"
        let answer = try await server.send(
            "POST", "/v1/firehose/lens", headers: Self.firehoseHeaders(key: PushSecrets.lens, requestID: requestID),
            body: try Self.firehoseBody(records, requestID: requestID))
        #expect(answer.status == 200, "\(answer.body)")
        let expected = try cliIngested("contact-lens", file: file, ["--tenant", "acme-bank"])
        #expect(try idempotencyKeys(try server.storedEvents()) == (try idempotencyKeys(expected)))
    }

    @Test func firehoseUnreadableRecordIsReportedAndTheOthersAppended() async throws {
        let server = try ServerProcess.withPushSources()
        var records = try Self.ctrRecords
        records.insert(Data(#"{"ContactId": "#.utf8), at: 1)
        let body: [String: Any] = [
            "requestId": "r-2", "timestamp": 1_733_400_000_000,
            "records": records.map { ["data": $0.base64EncodedString()] } + [["data": "%%% not base64"]],
        ]
        let answer = try await server.send(
            "POST", "/v1/firehose/ctr", headers: Self.firehoseHeaders(key: PushSecrets.ctr, requestID: "r-2"),
            body: try JSONSerialization.data(withJSONObject: body))
        #expect(answer.status == 400, "\(answer.body)")
        let reply = try jsonObject(answer.body)
        let message = try #require(reply["errorMessage"] as? String)
        #expect(reply["requestId"] as? String == "r-2")
        #expect(message.contains("2 of 8 record(s) could not be read"), "\(message)")
        #expect(
            message.contains("record 1: data is not a JSON document")
                && message.contains("record 7: data is not a base64 string"), "\(message)")
        let expected = try cliIngested(
            "connect-ctr", file: Repository.fixture("connect/ctr-stream.jsonl").path, ["--tenant", "acme-bank"])
        let stored = try server.storedEvents()
        #expect(stored == expected, "\(firstDifference(stored, expected))")
    }

    @Test func firehoseRefusesABadKeyOrBodyWithItsErrorFormatAndNothingAppended() async throws {
        let server = try ServerProcess.withPushSources(extraArguments: ["--max-body-bytes", "100000"])
        let body = try Self.firehoseBody(try Self.ctrRecords, requestID: "r-3")
        func post(
            source: String = "ctr", _ headers: [String: String], _ body: Data
        ) async throws -> (Int, [String: Any]) {
            let answer = try await server.send("POST", "/v1/firehose/\(source)", headers: headers, body: body)
            let reply = try jsonObject(answer.body)
            #expect(reply["requestId"] as? String == headers["X-Amz-Firehose-Request-Id"] ?? "", "\(answer.body)")
            #expect(reply["timestamp"] is Int)
            return (answer.status, reply)
        }
        func message(_ reply: [String: Any]) -> String { reply["errorMessage"] as? String ?? "" }
        let wrongKey = try await post(Self.firehoseHeaders(key: PushSecrets.lens, requestID: "r-3"), body)
        #expect(wrongKey.0 == 401 && message(wrongKey.1).contains("X-Amz-Firehose-Access-Key"))
        var noKey = Self.firehoseHeaders(key: "", requestID: "r-3")
        noKey["X-Amz-Firehose-Access-Key"] = nil
        #expect(try await post(noKey, body).0 == 401)
        let unknown = try await post(source: "nope", Self.firehoseHeaders(key: PushSecrets.ctr, requestID: "r-3"), body)
        #expect(unknown.0 == 404 && message(unknown.1).contains("no Firehose source 'nope'"))
        let malformed = try await post(
            Self.firehoseHeaders(key: PushSecrets.ctr, requestID: "r-3"), Data("{\"requestId\":".utf8))
        #expect(malformed.0 == 400 && message(malformed.1).contains("not JSON"))
        let mismatched = try await post(Self.firehoseHeaders(key: PushSecrets.ctr, requestID: "r-4"), body)
        #expect(mismatched.0 == 400 && message(mismatched.1).contains("differs from the X-Amz-Firehose-Request-Id"))
        var text = Self.firehoseHeaders(key: PushSecrets.ctr, requestID: "r-3")
        text["Content-Type"] = "text/plain"
        #expect(try await post(text, body).0 == 415)
        var badGzip = Self.firehoseHeaders(key: PushSecrets.ctr, requestID: "r-3")
        badGzip["Content-Encoding"] = "gzip"
        let notGzip = try await post(badGzip, body)
        #expect(notGzip.0 == 400 && message(notGzip.1).contains("gzip"))
        let big = try Self.firehoseBody(
            Array(repeating: Data(repeating: 0x20, count: 30_000), count: 4), requestID: "r-3")
        let oversized = try await post(Self.firehoseHeaders(key: PushSecrets.ctr, requestID: "r-3"), big)
        #expect(oversized.0 == 413 && message(oversized.1).contains("100000-byte limit"))
        // A small gzip body that inflates past the limit.
        var bomb = ByteBuffer(bytes: big)
        let compressed = try bomb.compress(with: .gzip())
        #expect(compressed.readableBytes < 100_000)
        let inflated = try await post(badGzip, Data(compressed.readableBytesView))
        #expect(inflated.0 == 413 && message(inflated.1).contains("decompresses to more than 100000"))
        #expect(try server.storedEvents().isEmpty)
    }
}
