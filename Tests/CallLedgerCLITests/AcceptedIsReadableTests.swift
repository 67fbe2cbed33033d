// Accepted implies readable, through the CLI: input past a limit of the record format (more than 64 sealed
// classes, a decimal with more than 18 fraction digits, a timestamp whose UTC instant leaves years 0000-9999)
// is either refused by `append` before anything is written, or stored so that `cat`, `verify`, `calls`,
// `transcript` and `crm plan` read it back.
import Foundation
import LedgerTestSupport
import Testing

/// A `transcript.segment` of `call` whose text is `kinds` spans, each sealed under its own `pii.<kind>` class.
private func segment(call: String, idempotency: String, kinds: Int) -> String {
    let spans = (0..<kinds).map { #"{"text":"span \#($0)","pii":"kind_\#($0)"}"# }.joined(separator: ",")
    return
        #"{"type":"transcript.segment","call":"\#(call)","tenant":"t","source":"test/1","idempotency":"\#(idempotency)","body":{"utterance":"u1","final":true,"role":"customer","start_ms":0,"end_ms":900,"text":[\#(spans)],"provider":"test"}}"#
}

private func callStarted(call: String, initiatedAt: String) -> String {
    #"{"type":"call.started","call":"\#(call)","tenant":"t","source":"test/1","idempotency":"start-\#(call)","body":{"channel":"VOICE","initiated_at":"\#(initiatedAt)"}}"#
}

/// The events `cat` prints, one JSON object each; requires exit status 0.
private func catted(_ ledger: CLILedger) throws -> [[String: Any]] {
    let result = try ledger.callLedger("cat")
    try #require(result.status == 0, "cat failed: \(result.stderr)")
    return try result.stdout.split(separator: "\n").map { try jsonObject($0) }
}

@Suite struct AcceptedIsReadableTests {
    /// 65 distinct pii kinds (a vendor result with 65 entity types) would need 65 sealed parts: `append` refuses
    /// the line, naming the span, and writes nothing; later appends and every read keep working.
    @Test func eventNeedingMoreThan64SealedPartsIsRefusedBeforeAnythingIsWritten() throws {
        let ledger = try CLILedger()
        let first = try ledger.callLedger(
            "append", input: segment(call: "c1", idempotency: "seg-64", kinds: 64) + "\n")
        #expect(first.status == 0, "\(first.stderr)")

        let input = [
            segment(call: "c1", idempotency: "seg-65", kinds: 65),
            callStarted(call: "c2", initiatedAt: "2026-01-01T00:00:00Z"),
        ]
        let refused = try ledger.callLedger("append", input: input.joined(separator: "\n") + "\n")
        #expect(refused.status == 2, "append exited \(refused.status): \(refused.stdout)")
        #expect(refused.stdout.isEmpty)
        #expect(refused.stderr.contains("line 1: field body.text[64].text: pii.kind_64"), "\(refused.stderr)")
        #expect(refused.stderr.contains("at most 64"), "\(refused.stderr)")

        let later = try ledger.callLedger("append", input: input[1] + "\n")
        #expect(later.status == 0 && later.stdout.contains(#""seq":1"#), "\(later.stdout) \(later.stderr)")
        let events = try catted(ledger)
        #expect(events.map { $0["idempotency"] as? String } == ["seg-64", "start-c2"])
        let spans = (events[0]["body"] as? [String: Any])?["text"] as? [[String: Any]] ?? []
        #expect(spans.count == 64 && spans.last?["text"] as? String == "span 63")
        #expect((events[0]["sealed"] as? [Any])?.count == 64)
        #expect(try ledger.verified().events == 2)
    }

    /// `0.0000000000000000000` has 19 fraction digits, one more than a decimal holds: it is stored as a float
    /// and reads back as that number.
    @Test func decimalWithMoreThan18FractionDigitsReadsBack() throws {
        let ledger = try CLILedger()
        let lines = [
            #"{"type":"enrichment.result","call":"c1","tenant":"t","source":"test/1","idempotency":"score","body":{"kind":"sentiment","provider":"test","result":{"score":0.0000000000000000000,"scores":{"tiny":0.0000000000000000001}}}}"#,
            #"{"type":"transcript.segment","call":"c1","tenant":"t","source":"test/1","idempotency":"words","body":{"utterance":"u1","final":true,"role":"agent","start_ms":0,"end_ms":900,"text":"hello","words":[{"word":"hello","confidence":0.1000000000000000000}],"provider":"test"}}"#,
        ]
        let append = try ledger.callLedger("append", input: lines.joined(separator: "\n") + "\n")
        #expect(append.status == 0, "\(append.stderr)")
        let events = try catted(ledger)
        try #require(events.count == 2)
        let result = (events[0]["body"] as? [String: Any])?["result"] as? [String: Any]
        #expect((result?["score"] as? NSNumber)?.doubleValue == 0)
        #expect(((result?["scores"] as? [String: Any])?["tiny"] as? NSNumber)?.doubleValue == 1e-19)
        let words = (events[1]["body"] as? [String: Any])?["words"] as? [[String: Any]]
        #expect((words?.first?["confidence"] as? NSNumber)?.doubleValue == 0.1)
        let transcript = try ledger.callLedger("transcript", "c1", "--format", "json")
        #expect(transcript.status == 0, "\(transcript.stderr)")
        #expect(try ledger.verified().events == 2)
    }

    /// `0000-01-01T00:00:00+00:01` is 1 minute before year 0000 in UTC: refused with the field named. The
    /// earliest and latest instants that are accepted read back through `cat`, `calls`, `transcript` and
    /// `crm plan` (which print them in UTC).
    @Test func timestampOutsideYears0000To9999InUTCIsRefusedAndTheEdgesReadBack() throws {
        let ledger = try CLILedger()
        for (call, time) in [("early", "0000-01-01T00:00:00+00:01"), ("late", "9999-12-31T23:59:59.999999-00:01")] {
            let refused = try ledger.callLedger("append", input: callStarted(call: call, initiatedAt: time) + "\n")
            #expect(refused.status == 2, "\(time) was accepted: \(refused.stdout)")
            #expect(refused.stderr.contains("line 1: field body.initiated_at: the instant in UTC"), "\(refused.stderr)")
        }
        let edges = [
            ("first", "0000-01-01T00:00:00Z"), ("west", "0000-01-01T00:00:00-23:59"),
            ("last", "9999-12-31T23:59:59.999999Z"), ("east", "9999-12-31T23:59:59.999999+23:59"),
        ]
        let append = try ledger.callLedger(
            "append", input: edges.map { callStarted(call: $0.0, initiatedAt: $0.1) }.joined(separator: "\n") + "\n")
        #expect(append.status == 0, "\(append.stderr)")
        let events = try catted(ledger)
        #expect(events.map { ($0["body"] as? [String: Any])?["initiated_at"] as? String } == edges.map(\.1))

        let calls = try ledger.callLedger("calls", "--json")
        #expect(calls.status == 0, "\(calls.stderr)")
        #expect(calls.stdout.contains("0000-01-01T00:00:00.000000Z"), "\(calls.stdout)")
        #expect(calls.stdout.contains("9999-12-31T23:59:59.999999Z"), "\(calls.stdout)")
        for (call, _) in edges {
            let transcript = try ledger.callLedger("transcript", call)
            #expect(transcript.status == 0, "\(call): \(transcript.stderr)")
        }
        let mappings = Repository.root.appendingPathComponent("Projections/crm")
        let plan = try ledger.callLedger(
            arguments: [
                "crm", "plan", "--mapping", mappings.appendingPathComponent("voicecall-v1.yaml").path, "--json",
            ],
            environment: ["CALL_LEDGER_MAPPINGS": mappings.path])
        #expect(plan.status == 0, "\(plan.stderr)")
        // `crm plan` run from the repository also records the QA scorecard it finds there: verify all of it.
        #expect(try ledger.verified().events == (try catted(ledger)).count)
    }
}
