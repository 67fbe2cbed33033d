// The WebSocket relay /v1/live/{call} through the real `call-ledger serve` and a real WebSocket client
// (HummingbirdWSClient): a Gladia live session relayed message by message gives the events `call-ledger ingest
// --from gladia-live` gives for the whole capture (finals waiting for their entities, so names are sealed apart),
// each message acknowledged with the events it added; a message
// that cannot be read is answered with the reason and the session goes on.
import Foundation
import HTTPTypes
import HummingbirdWSClient
import LedgerTestSupport
import Logging
import Testing

@Suite("serve: live relay")
struct LiveRelayTests {
    static let capture = Repository.fixture("gladia/live-stream-from-prerecorded.jsonl").path

    /// Sends `messages` one at a time on `/v1/live/{call}` and returns the answer to each.
    static func relay(
        _ server: ServerProcess, call: String, query: String = "", token: String, messages: [String]
    ) async throws -> [[String: Any]] {
        let collected = Answers()
        var headers = HTTPFields()
        headers[.authorization] = "Bearer \(token)"
        let closed = try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(server.port)/v1/live/\(call)\(query)",
            configuration: .init(additionalHeaders: headers), logger: Logger(label: "live-test")
        ) { inbound, outbound, _ in
            var answers = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
            for message in messages {
                try await outbound.write(.text(message))
                guard case .text(let text) = try await answers.next() else { break }
                collected.append(text)
            }
            try await outbound.close(.normalClosure, reason: nil)
        }
        let answers = try collected.all().map { try jsonObject($0) }
        // A session the server ended early says why (its close frame and the server's log), instead of a short list.
        try #require(
            answers.count == messages.count,
            "\(answers.count) answers to \(messages.count) messages; closed with \(String(describing: closed)); server log: \(server.log.suffix(2000))"
        )
        return answers
    }

    @Test func relayedSessionGivesTheEventsOfTheWholeCapture() async throws {
        let server = try ServerProcess()
        var messages = try String(contentsOfFile: Self.capture, encoding: .utf8).split(separator: "\n").map(String.init)
        // A message the adapter cannot read, in the middle: answered with the reason, and the session goes on.
        messages.insert(#"{"session_id":"550e8400-e29b-41d4-a716-446655440000","type":"transcript"}"#, at: 5)
        // Finals wait for their entities (long enough for a loaded machine), as in the whole capture.
        let answers = try await Self.relay(
            server, call: "live-7", query: "?roles=0=agent&entity_wait_ms=60000", token: Tokens.key(.ingest),
            messages: messages)
        #expect(answers.count == messages.count)
        #expect(answers.map { $0["message"] as? Int } == Array(1...messages.count))
        let rejected = answers[5]
        #expect(rejected["status"] as? String == "rejected", "\(rejected)")
        #expect((rejected["error"] as? String)?.contains("created_at") == true, "\(rejected)")
        let acks = answers.flatMap { $0["acks"] as? [[String: Any]] ?? [] }
        #expect(acks.allSatisfy { $0["status"] as? String == "appended" && $0["seq"] is Int })
        let expected = try cliIngested(
            "gladia-live", file: Self.capture, ["--call", "live-7", "--tenant", "acme-bank", "--roles", "0=agent"])
        let stored = try server.storedEvents()
        // Partials included: every event of the capture, each acknowledged once.
        #expect(Set(try idempotencyKeys(stored)) == Set(try idempotencyKeys(expected)))
        #expect(acks.count == expected.count)
        #expect(Set(acks.compactMap { $0["idempotency"] as? String }) == Set(try idempotencyKeys(expected)))
        #expect(stored.contains { $0.contains(#""final":false"#) })
        // Every event as the whole capture's ingest stores it, names in finals sealed as their own classes.
        #expect(Set(try withoutSeq(stored)) == Set(try withoutSeq(expected)))
        #expect(stored.contains { $0.contains("00-00000003:final") && $0.contains(#""pii":"person""#) })
        // Line 32 of the capture (message 33, after the one inserted) is utterance 3's final; its entities follow.
        #expect(answers[32]["held"] as? [String] == ["00-00000003"], "\(answers[32])")
        let released = answers[33]["acks"] as? [[String: Any]] ?? []
        #expect(
            released.first?["idempotency"] as? String
                == "gladia-live:550e8400-e29b-41d4-a716-446655440000:call=live-7:00-00000003:final",
            "\(answers[33])")
        // The same session relayed again appends nothing.
        let again = try await Self.relay(
            server, call: "live-7", query: "?roles=0=agent", token: Tokens.key(.ingest),
            messages: Array(messages.prefix(20)))
        #expect(
            again.flatMap { $0["acks"] as? [[String: Any]] ?? [] }.allSatisfy { $0["status"] as? String == "duplicate" }
        )
        #expect(try server.storedEvents().count == stored.count)
    }

    @Test func finalsStillWaitingWhenTheSocketClosesAreKept() async throws {
        let server = try ServerProcess()
        let messages = try String(contentsOfFile: Self.capture, encoding: .utf8).split(separator: "\n").map(String.init)
        // Up to utterance 3's final: the three finals wait for entities that never come.
        let answers = try await Self.relay(
            server, call: "live-9", query: "?entity_wait_ms=60000", token: Tokens.key(.ingest),
            messages: Array(messages.prefix(32)))
        #expect(answers[12]["held"] as? [String] == ["00-00000001"], "\(answers[12])")
        #expect(
            !(answers.flatMap { $0["acks"] as? [[String: Any]] ?? [] }).contains { ack in
                (ack["idempotency"] as? String)?.hasSuffix(":final") == true
            })
        var finals: [String] = []
        for _ in 0..<100 {
            finals = try server.storedEvents().filter { $0.contains(":final") }
            if finals.count == 3 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(finals.count == 3, "\(finals)")
        #expect(!finals.contains { $0.contains(#""pii""#) })
    }

    @Test func relayRefusesTokensAndQueriesItCannotServe() async throws {
        let server = try ServerProcess()
        await #expect(throws: (any Error).self) {
            _ = try await Self.relay(server, call: "live-8", token: Tokens.key(.qa), messages: ["{}"])
        }
        await #expect(throws: (any Error).self) {
            _ = try await Self.relay(
                server, call: "live-8", query: "?kind=gladia", token: Tokens.key(.ingest), messages: ["{}"])
        }
        // Without an upgrade, the HTTP route says why.
        let plain = try await server.request("GET", "/v1/live/live-8", token: Tokens.key(.ingest))
        #expect(plain.status == 426 && plain.body.contains("WebSocket upgrade"), "\(plain.body)")
        let wrongKind = try await server.request("GET", "/v1/live/live-8?kind=gladia", token: Tokens.key(.ingest))
        #expect(
            wrongKind.status == 400 && wrongKind.body.contains("kind must be one of gladia-live, transcribe-stream"))
        for (query, reason) in [
            ("entities=later", "entities must be wait or none"), ("entity_wait_ms=-1", "entity_wait_ms must be"),
            ("entity_wait_ms=60001", "entity_wait_ms must be"), ("entities=none&entity_wait_ms=5", "applies to"),
        ] {
            let bad = try await server.request("GET", "/v1/live/live-8?\(query)", token: Tokens.key(.ingest))
            #expect(bad.status == 400 && bad.body.contains(reason), "\(query): \(bad.status) \(bad.body)")
        }
        let forbidden = try await server.request("GET", "/v1/live/live-8", token: Tokens.key(.qa))
        #expect(forbidden.status == 403)
        let anonymous = try await server.request("GET", "/v1/live/live-8", token: nil)
        #expect(anonymous.status == 401)
        #expect(try server.storedEvents().isEmpty)
    }
}

/// Event lines without their seq: two ledgers holding the same events in another order.
func withoutSeq(_ lines: [String]) throws -> [String] {
    try lines.map { line in
        var event = try jsonObject(line)
        event["seq"] = nil
        let data = try JSONSerialization.data(withJSONObject: event, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}

/// The answers a WebSocket handler collects.
final class Answers: @unchecked Sendable {
    private let lock = NSLock()
    private var texts: [String] = []

    func append(_ text: String) {
        lock.withLock { texts.append(text) }
    }

    func all() -> [String] {
        lock.withLock { texts }
    }
}
