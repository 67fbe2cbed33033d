// LiveIngest, the live relay's workflow, against the whole-capture adapters it must agree with: a capture read one
// message at a time gives the events `ingest` gives for the file, Gladia finals waiting for their entities give
// them with the names sealed apart, and a message that cannot be read leaves the session as it was.
import Foundation
import LedgerAdapters
import LedgerCore
import LedgerOperations
import LedgerTestSupport
import Testing

@Suite struct LiveIngestTests {
    static let gladia = Repository.fixture("gladia/live-stream-from-prerecorded.jsonl")
    static let transcribe = Repository.fixture("transcribe-call-analytics/stream-from-anchor-credit-union.jsonl")
    static let options = IngestOptions(call: "live-1", tenant: "acme-bank", roles: [0: "agent"], file: "live live-1")

    /// The capture's messages, one per line.
    static func messages(_ url: URL) throws -> [[UInt8]] {
        try Data(contentsOf: url).split(separator: 0x0A).map { [UInt8]($0) }
    }

    /// The events the whole-capture adapter gives for `messages`, decoded.
    static func whole(_ kind: String, _ messages: [[UInt8]]) throws -> [DecodedEvent] {
        let data = Data(messages.joined(separator: [0x0A]))
        let output: AdapterOutput
        if kind == GladiaLiveAdapter.kind {
            output = try GladiaLiveAdapter.read(data, options: options)
        } else {
            output = try TranscribeStreamAdapter.read(data, options: options)
        }
        var decoder = EventDecoder()
        return try output.events.enumerated().map { index, event in
            try event.withUnsafeBytes { raw in try decoder.decode(raw, lineNumber: index + 1) }
        }
    }

    /// `messages` through one LiveIngest, the held finals given at the end; the batches and the events in order.
    static func live(
        _ kind: String, _ messages: [[UInt8]], entityWait: Duration?
    ) throws -> (batches: [Result<LiveIngest.Batch, LiveIngestError>], events: [DecodedEvent]) {
        var session = try #require(
            LiveIngest(kind: kind, options: options, entityWait: entityWait, maximumEventBytes: 1 << 20))
        var batches: [Result<LiveIngest.Batch, LiveIngestError>] = []
        let start = ContinuousClock.now
        for (index, message) in messages.enumerated() {
            batches.append(
                Result { () throws(LiveIngestError) in
                    try session.add(message, number: index + 1, now: start + .milliseconds(index))
                })
        }
        let (rest, invalid) = session.finish()
        #expect(invalid.isEmpty)
        let events = batches.flatMap { (try? $0.get())?.events ?? [] } + rest.events
        return (batches, events)
    }

    /// Events in idempotency order, for sets that may arrive in another order.
    static func sorted(_ events: [DecodedEvent]) -> [DecodedEvent] {
        events.sorted { $0.idempotency < $1.idempotency }
    }

    @Test func transcribeStreamReadMessageByMessageGivesTheWholeCapturesEventsInOrder() throws {
        let messages = try Self.messages(Self.transcribe)
        let expected = try Self.whole(TranscribeStreamAdapter.kind, messages)
        let (_, events) = try Self.live(TranscribeStreamAdapter.kind, messages, entityWait: .seconds(60))
        #expect(expected.count > 10)
        #expect(events == expected)
    }

    @Test func gladiaFinalsWaitForTheirEntitiesAndGiveTheWholeCapturesEvents() throws {
        let messages = try Self.messages(Self.gladia)
        let expected = try Self.whole(GladiaLiveAdapter.kind, messages)
        let (batches, events) = try Self.live(GladiaLiveAdapter.kind, messages, entityWait: .seconds(60))
        #expect(Self.sorted(events) == Self.sorted(expected))
        // The final of utterance 00-00000003 (message 32) waits for its entities (message 33), which release it
        // ahead of their own event.
        let held = try batches[31].get()
        #expect(held.held == ["00-00000003"] && held.events.isEmpty)
        let released = try batches[32].get()
        #expect(released.released == ["00-00000003"] && released.releasedWithoutEntities.isEmpty)
        #expect(released.events.map(\.idempotency).first?.hasSuffix("00-00000003:final") == true)
        #expect(released.events.count == 2)
    }

    @Test func gladiaFinalsGivenAtOnceKeepNamesInTheContentTheWaitSealsApart() throws {
        let messages = try Self.messages(Self.gladia)
        let expected = try Self.whole(GladiaLiveAdapter.kind, messages)
        let (_, events) = try Self.live(GladiaLiveAdapter.kind, messages, entityWait: nil)
        #expect(Self.sorted(events).map(\.idempotency) == Self.sorted(expected).map(\.idempotency))
        // Without the wait the final of utterance 3 is read before its entities: it differs from the whole
        // capture's, which seals "Galileo Galilei" as pii.person.
        let final = { (list: [DecodedEvent]) in list.first { $0.idempotency.hasSuffix("00-00000003:final") } }
        #expect(try #require(final(events)) != (try #require(final(expected))))
    }

    @Test func aFinalWhoseEntitiesDoNotComeInTimeIsGivenWithoutThem() throws {
        let messages = try Self.messages(Self.gladia)
        let (batches, events) = try Self.live(GladiaLiveAdapter.kind, messages, entityWait: .zero)
        // Message 13 is utterance 1's final: held, then given by the next message, without entities.
        #expect(try batches[12].get().held == ["00-00000001"])
        let next = try batches[13].get()
        #expect(next.released == ["00-00000001"] && next.releasedWithoutEntities == ["00-00000001"])
        #expect(events.count == (try Self.whole(GladiaLiveAdapter.kind, messages)).count)
    }

    @Test func aMessageThatCannotBeReadIsRejectedAndLeavesTheSessionAsItWas() throws {
        var messages = try Self.messages(Self.gladia)
        let bad = Array(#"{"session_id":"550e8400-e29b-41d4-a716-446655440000","type":"transcript"}"#.utf8)
        let otherSession = Array(
            #"{"session_id":"another","created_at":"2026-02-12T16:54:32.900Z","type":"end_session"}"#.utf8)
        messages.insert(bad, at: 5)
        messages.insert(otherSession, at: 9)
        // Every message twice: a repeated message gives nothing.
        let doubled = messages.flatMap { [$0, $0] }
        let (batches, events) = try Self.live(GladiaLiveAdapter.kind, doubled, entityWait: .seconds(60))
        guard case .failure(.rejected(let error)) = batches[10] else {
            Issue.record("message 11 was not rejected: \(batches[10])")
            return
        }
        #expect(error.path.contains("created_at") && error.line == 11)
        guard case .failure(.rejected(let mixed)) = batches[18] else {
            Issue.record("message 19 was not rejected: \(batches[18])")
            return
        }
        #expect(mixed.reason.contains("mixes sessions"))
        #expect(Self.sorted(events) == Self.sorted(try Self.whole(GladiaLiveAdapter.kind, messages)))
    }
}
