// call-ledger ingest of streaming inputs (Gladia live, Transcribe streaming, Contact Lens): facts checked
// against the source files themselves, finals equal to the post-call result of the same utterances,
// idempotent re-ingest, and line- and path-precise rejection of damaged captures.
import Foundation
import LedgerTestSupport
import Testing

/// The messages of a JSON-lines fixture.
private func fixtureLines(_ path: String) throws -> [[String: Any]] {
    try String(contentsOf: Repository.fixture(path), encoding: .utf8).split(separator: "\n").map { try jsonObject($0) }
}

/// The JSON of a fixture file whose top level may be an array.
private func fixtureValue(_ path: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(contentsOf: Repository.fixture(path)))
}

/// The bodies of the events of `type` (and, for enrichment results, of `kind`).
private func bodies(_ events: [[String: Any]], _ type: String, kind: String? = nil) -> [[String: Any]] {
    events.filter { $0["type"] as? String == type }.map { $0["body"] as! [String: Any] }
        .filter { kind == nil || $0["kind"] as? String == kind }
}

/// A segment's text with its spans joined.
private func plainText(_ body: [String: Any]) -> String {
    if let text = body["text"] as? String { return text }
    return (body["text"] as! [[String: Any]]).map { $0["text"] as! String }.joined()
}

/// Ingests `file` (a fixture path or an absolute path) and expects success.
@discardableResult
private func ingest(_ ledger: CLILedger, _ kind: String, _ file: String, _ extra: String...) throws -> ProcessResult {
    let path = file.hasPrefix("/") ? file : Repository.fixture(file).path
    let result = try LedgerTestSupport.callLedger(
        arguments: ["ingest", "--ledger", ledger.directory, "--from", kind] + extra + [path])
    #expect(result.status == 0, "\(result.stderr)")
    return result
}

/// Checks that a copy of `file` cut in the middle of line `line` is rejected naming the file, the line, a path
/// starting with `pathPrefix` and truncation, and that the ledger is left as it was.
private func expectTruncatedCopyRejected(
    _ ledger: CLILedger, _ kind: String, _ file: String, line: Int, pathPrefix: String
) throws {
    let before = try ledger.verified()
    let lines = try String(contentsOf: Repository.fixture(file), encoding: .utf8).split(separator: "\n")
    var text = lines.prefix(line - 1).map { $0 + "\n" }.joined()
    text += lines[line - 1].prefix(lines[line - 1].count / 2)
    let truncated = ledger.scratch.file("truncated-\(kind).jsonl")
    try Data(text.utf8).write(to: URL(fileURLWithPath: truncated))
    let rejected = try ledger.callLedger("ingest", "--from", kind, truncated)
    #expect(rejected.status == 2)
    #expect(rejected.stderr.contains("\(truncated): line \(line): \(pathPrefix)"), "\(rejected.stderr)")
    #expect(rejected.stderr.contains("truncated"), "\(rejected.stderr)")
    #expect(try ledger.verified() == before)
}

@Suite struct GladiaLiveIngestTests {
    static let capture = "gladia/live-stream-from-prerecorded.jsonl"

    @Test func everyMessageIsRecordedAsItsEvents() throws {
        let messages = try fixtureLines(Self.capture)
        func data(_ type: String) -> [[String: Any]] {
            messages.filter { $0["type"] as? String == type }.map { $0["data"] as! [String: Any] }
        }
        let transcripts = data("transcript")
        let finals = transcripts.filter { $0["is_final"] as! Bool }
        let ledger = try CLILedger()
        try ingest(ledger, "gladia-live", Self.capture, "--roles", "0=agent")
        let events = try catted(ledger)
        #expect(events.allSatisfy { $0["call"] as? String == messages[0]["session_id"] as? String })
        #expect(events.first?["occurred"] as? String == messages[0]["created_at"] as? String)
        let segments = bodies(events, "transcript.segment")
        #expect(segments.filter { $0["final"] as! Bool }.count == finals.count)
        #expect(segments.filter { !($0["final"] as! Bool) }.count == transcripts.count - finals.count)
        #expect(segments.map { $0["utterance"] as! String } == transcripts.map { $0["id"] as! String })
        #expect(segments.allSatisfy { $0["role"] as? String == "agent" })
        let acks = data("audio_chunk")
        let receipts = bodies(events, "audio.fragment.received")
        #expect(receipts.count == acks.count)
        let ackedBytes = acks.map { ($0["byte_range"] as! [Int])[1] - ($0["byte_range"] as! [Int])[0] }
        #expect(receipts.map { $0["bytes"] as! Int } == ackedBytes)
        let received = data("end_recording")[0]["received_total_bytes"] as! Int
        #expect(ackedBytes.reduce(0, +) == received)
        #expect(
            bodies(events, "enrichment.result", kind: "speech").count
                == messages.count { ($0["type"] as! String).hasPrefix("speech_") })
        #expect(bodies(events, "enrichment.result", kind: "sentiment").count == data("sentiment_analysis").count)
        let recognized = data("named_entity_recognition").flatMap { $0["results"] as! [[String: Any]] }
        let entities = bodies(events, "enrichment.result", kind: "entities").flatMap {
            ($0["result"] as! [String: Any])["entities"] as! [[String: Any]]
        }
        #expect(entities.map { $0["text"] as? String } == recognized.map { $0["text"] as? String })
        let people = recognized.filter { $0["entity_type"] as? String == "PERSON" }.map { $0["text"] as! String }
        let personSpans = segments.compactMap { $0["text"] as? [[String: Any]] }.joined()
            .filter { $0["pii"] as? String == "person" }.map { $0["text"] as! String }
        #expect(!people.isEmpty && personSpans == people)
        #expect(
            bodies(events, "transcription.session").map { $0["state"] as! String } == [
                "started", "recording_started", "recording_ended", "ended",
            ])
        #expect(bodies(events, "transcription.session")[2]["bytes"] as? Int == received)
        let locked = ledger.scratch.file("away.key")
        try FileManager.default.moveItem(atPath: ledger.directory + ".key", toPath: locked)
        let redacted = try ledger.callLedger("cat").stdout
        #expect(!redacted.contains(people[0]) && redacted.contains(#"{"redacted":"pii.person""#))
    }

    /// The live finals are the pre-recorded result's utterances: same count (post_final_transcript adds no
    /// second copy), same texts, same times.
    @Test func finalsCarryThePrerecordedUtterances() throws {
        let ledger = try CLILedger()
        try ingest(ledger, "gladia-live", Self.capture, "--call", "live")
        try ingest(ledger, "gladia", "gladia/prerecorded-result.json", "--call", "prerecorded")
        let events = try catted(ledger)
        func finals(_ call: String) -> [[String: Any]] {
            bodies(events.filter { $0["call"] as? String == call }, "transcript.segment")
                .filter { $0["final"] as! Bool }.sorted { ($0["start_ms"] as! Int) < ($1["start_ms"] as! Int) }
        }
        let live = finals("live")
        let prerecorded = finals("prerecorded")
        let source = try fixtureValue("gladia/prerecorded-result.json") as! [String: Any]
        let utterances =
            ((source["result"] as! [String: Any])["transcription"] as! [String: Any])["utterances"] as! [[String: Any]]
        #expect(live.count == utterances.count)
        #expect(live.map(plainText) == utterances.map { $0["text"] as! String })
        #expect(live.map(plainText) == prerecorded.map(plainText))
        #expect(live.map { $0["start_ms"] as! Int } == prerecorded.map { $0["start_ms"] as! Int })
        #expect(live.map { $0["end_ms"] as! Int } == prerecorded.map { $0["end_ms"] as! Int })
    }

    @Test func reingestingAppendsNothingAndATruncatedCaptureIsRejectedWithItsLine() throws {
        let ledger = try CLILedger()
        try ingest(ledger, "gladia-live", Self.capture)
        let again = try ingest(ledger, "gladia-live", Self.capture)
        #expect(again.stdout.split(separator: "\n").allSatisfy { $0.contains(#""status":"duplicate""#) })
        let messages = try fixtureLines(Self.capture)
        let line = messages.firstIndex { ($0["data"] as? [String: Any])?["is_final"] as? Bool == true }! + 1
        try expectTruncatedCopyRejected(ledger, "gladia-live", Self.capture, line: line, pathPrefix: "data.utterance")
    }

    @Test func aWrongFieldRejectsItsLineAloneOrTheWholeCaptureWhenAtomic() throws {
        let ledger = try CLILedger()
        var messages = try fixtureLines(Self.capture)
        let index = messages.lastIndex { $0["type"] as? String == "audio_chunk" }!
        messages[index]["data"] = ["byte_range": [64000, 32000], "time_range": [1.0, 2.0]]
        let file = ledger.scratch.file("bad.jsonl")
        let lines = try messages.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: file))
        let rejected = try ledger.callLedger("ingest", "--from", "gladia-live", "--atomic", file)
        #expect(rejected.status == 2)
        #expect(
            rejected.stderr.contains("line \(index + 1): data.byte_range: must not end before it starts"),
            "\(rejected.stderr)")
        #expect(try ledger.verified().events == 0)
        let whole = try CLILedger()
        let all = try whole.callLedger("ingest", "--from", "gladia-live", Repository.fixture(Self.capture).path)
        let partial = try ledger.callLedger("ingest", "--from", "gladia-live", file)
        #expect(partial.status == 2)
        #expect(partial.stderr.contains("line \(index + 1): data.byte_range"), "\(partial.stderr)")
        #expect(partial.stdout.split(separator: "\n").count == all.stdout.split(separator: "\n").count - 1)
    }
}

@Suite struct TranscribeStreamIngestTests {
    static let stream = "transcribe-call-analytics/stream-from-anchor-credit-union.jsonl"
    static let postCall = "transcribe-call-analytics/tca-output-anchor-credit-union-redacted.json"

    /// The real-time stream's finals are the post-call turns of the same call: per role the same lines, the
    /// same `[PII]` spans, sentiments and issues; partials are recorded as partials.
    @Test func callAnalyticsFinalsAreThePostCallTurns() throws {
        let events = try fixtureLines(Self.stream).map {
            $0["CallAnalyticsTranscriptResultStream"] as! [String: Any]
        }
        let utterances = events.compactMap { $0["UtteranceEvent"] as? [String: Any] }
        let turns = (try fixtureValue(Self.postCall) as! [String: Any])["Transcript"] as! [[String: Any]]
        let ledger = try CLILedger()
        try ingest(ledger, "transcribe-stream", Self.stream, "--call", "live")
        try ingest(ledger, "transcribe-ca", Self.postCall, "--call", "postcall")
        let all = try catted(ledger)
        let live = all.filter { $0["call"] as? String == "live" }
        let segments = bodies(live, "transcript.segment")
        let finals = segments.filter { $0["final"] as! Bool }
        #expect(segments.count - finals.count == utterances.count { $0["IsPartial"] as! Bool })
        #expect(finals.count == turns.count)
        // The stream delivers finals as utterances end, the post-call file lists turns as they start.
        let byStart = finals.sorted {
            ($0["start_ms"] as! Int, $0["end_ms"] as! Int) < ($1["start_ms"] as! Int, $1["end_ms"] as! Int)
        }
        for role in ["AGENT", "CUSTOMER"] {
            let sourceLines = turns.filter { $0["ParticipantRole"] as? String == role }.map { $0["Content"] as! String }
            let ledgerLines = byStart.filter { $0["role"] as? String == role.lowercased() }.map(plainText)
            #expect(ledgerLines == sourceLines, "\(role)")
            #expect(ledgerLines.first == sourceLines.first && ledgerLines.last == sourceLines.last)
        }
        func textByUtterance(_ segments: [[String: Any]]) -> [String: String] {
            Dictionary(uniqueKeysWithValues: segments.map { ($0["utterance"] as! String, plainText($0)) })
        }
        let postCallFinals = bodies(all.filter { $0["call"] as? String == "postcall" }, "transcript.segment")
        #expect(textByUtterance(finals) == textByUtterance(postCallFinals))
        let placeholders = turns.map { ($0["Content"] as! String).components(separatedBy: "[PII]").count - 1 }
        let spans = finals.map { (($0["text"] as? [[String: Any]]) ?? []).filter { $0["pii"] != nil }.count }
        #expect(spans.reduce(0, +) == placeholders.reduce(0, +) && spans.reduce(0, +) > 0)
        #expect(bodies(live, "enrichment.result", kind: "sentiment").count == turns.count { $0["Sentiment"] != nil })
        let issues = bodies(live, "enrichment.result", kind: "issue").flatMap {
            ($0["result"] as! [String: Any])["entities"] as! [[String: Any]]
        }
        #expect(issues.count == turns.map { ($0["IssuesDetected"] as? [Any])?.count ?? 0 }.reduce(0, +))
        let category = events.compactMap { $0["CategoryEvent"] as? [String: Any] }[0]
        let names = bodies(live, "enrichment.result", kind: "category").map {
            ($0["result"] as! [String: Any])["names"] as! [String]
        }
        #expect(names == [category["MatchedCategories"] as! [String]])
    }

    @Test(arguments: [
        "transcribe/docs-streaming-event-pii-identified.json", "transcribe/docs-streaming-event-pii-redacted.json",
    ])
    func plainStreamingResultsSealTheirPIIEntities(file: String) throws {
        let stream = (try fixtureValue(file) as! [String: Any])["TranscriptResultStream"] as! [String: Any]
        let results =
            ((stream["TranscriptEvent"] as! [String: Any])["Transcript"] as! [String: Any])["Results"]
            as! [[String: Any]]
        let alternative = (results[0]["Alternatives"] as! [[String: Any]])[0]
        let entity = (alternative["Entities"] as! [[String: Any]])[0]
        let kind = (entity["Type"] as! String).lowercased()
        let ledger = try CLILedger()
        try ingest(ledger, "transcribe-stream", file, "--call", "c1")
        let events = try catted(ledger)
        let segments = bodies(events, "transcript.segment")
        #expect(segments.map { $0["utterance"] as? String } == results.map { $0["ResultId"] as? String })
        #expect(segments.map(plainText) == [alternative["Transcript"] as! String])
        let spans = (segments[0]["text"] as! [[String: Any]]).filter { $0["pii"] != nil }
        #expect(spans.map { $0["text"] as? String } == [entity["Content"] as? String])
        #expect(spans.map { $0["pii"] as? String } == [kind])
        #expect(bodies(events, "enrichment.result", kind: "pii").count == 1)
        try FileManager.default.moveItem(atPath: ledger.directory + ".key", toPath: ledger.scratch.file("away.key"))
        let locked = try ledger.callLedger("cat").stdout
        #expect(!locked.contains(#""\#(entity["Content"] as! String)""#) && locked.contains("pii.\(kind)"))
    }

    @Test func reingestingAppendsNothingAndATruncatedStreamIsRejectedWithItsLine() throws {
        let ledger = try CLILedger()
        try ingest(ledger, "transcribe-stream", Self.stream, "--call", "c1")
        let again = try ingest(ledger, "transcribe-stream", Self.stream, "--call", "c1")
        #expect(again.stdout.split(separator: "\n").allSatisfy { $0.contains(#""status":"duplicate""#) })
        try expectTruncatedCopyRejected(
            ledger, "transcribe-stream", Self.stream, line: 40,
            pathPrefix: "CallAnalyticsTranscriptResultStream.UtteranceEvent")
    }
}

@Suite struct ContactLensIngestTests {
    static let postCall = [
        "connect/docs-contact-lens-postcall-analysis-original.json",
        "connect/docs-contact-lens-postcall-analysis-redacted.json",
    ]
    static let realTime = "connect/docs-contact-lens-realtime-segment-stream-events.json"

    @Test(arguments: postCall)
    func postCallAnalysisBecomesTurnsAndEnrichment(file: String) throws {
        let source = try fixtureValue(file) as! [String: Any]
        let turns = source["Transcript"] as! [[String: Any]]
        let roles = Dictionary(
            uniqueKeysWithValues: (source["Participants"] as! [[String: String]]).map {
                ($0["ParticipantId"]!, $0["ParticipantRole"]!)
            })
        let ledger = try CLILedger()
        try ingest(ledger, "contact-lens", file, "--call", "c1")
        let events = try catted(ledger)
        let segments = bodies(events, "transcript.segment")
        #expect(segments.count == turns.count && segments.allSatisfy { $0["final"] as! Bool })
        for role in ["AGENT", "CUSTOMER"] {
            let sourceLines = turns.filter { roles[$0["ParticipantId"] as! String] == role }.map {
                $0["Content"] as! String
            }
            let ledgerLines = segments.filter { $0["role"] as? String == role.lowercased() }.map(plainText)
            #expect(ledgerLines == sourceLines, "\(role)")
            #expect(ledgerLines.first == sourceLines.first && ledgerLines.last == sourceLines.last)
        }
        // Redacted output: each [PII] placeholder is a span; raw output: each turn with redaction times is sealed whole.
        let placeholders = turns.map { ($0["Content"] as! String).components(separatedBy: "[PII]").count - 1 }.reduce(
            0, +)
        let redactedTurns = turns.filter {
            (($0["Redaction"] as? [String: Any])?["RedactedTimestamps"] as? [Any])?.isEmpty == false
        }.count
        let spans = segments.compactMap { $0["text"] as? [[String: Any]] }.joined().filter { $0["pii"] != nil }.count
        #expect(spans == (placeholders > 0 ? placeholders : redactedTurns) && spans > 0)
        #expect(bodies(events, "enrichment.result", kind: "sentiment").count == turns.count { $0["Sentiment"] != nil })
        for (field, kind) in [
            ("IssuesDetected", "issue"), ("OutcomesDetected", "outcome"), ("ActionItemsDetected", "action_item"),
        ] {
            let detected = turns.flatMap { ($0[field] as? [[String: Any]]) ?? [] }
            let found = bodies(events, "enrichment.result", kind: kind).flatMap {
                ($0["result"] as! [String: Any])["entities"] as! [[String: Any]]
            }
            #expect(found.map { $0["text"] as? String } == detected.map { $0["Text"] as? String }, "\(kind)")
        }
        let categories = source["Categories"] as! [String: Any]
        #expect(
            bodies(events, "enrichment.result", kind: "category").map {
                ($0["result"] as! [String: Any])["names"] as! [String]
            } == [categories["MatchedCategories"] as! [String]])
        let characteristics = source["ConversationCharacteristics"] as! [String: Any]
        let metrics = bodies(events, "enrichment.result", kind: "characteristics").map {
            ($0["result"] as! [String: Any])["metrics"] as! [String: Any]
        }
        #expect(metrics.first?["total_ms"] as? Int == characteristics["TotalConversationDurationMillis"] as? Int)
        let again = try ingest(ledger, "contact-lens", file, "--call", "c1")
        #expect(again.stdout.split(separator: "\n").allSatisfy { $0.contains(#""status":"duplicate""#) })
    }

    @Test func realTimeSegmentsArePartialsFinalsCategoriesAndSessionStates() throws {
        let messages = try fixtureValue(Self.realTime) as! [[String: Any]]
        let segments = messages.flatMap { ($0["Segments"] as? [[String: Any]]) ?? [] }
        let ledger = try CLILedger()
        try ingest(ledger, "contact-lens", Self.realTime)
        let events = try catted(ledger)
        #expect(events.allSatisfy { $0["call"] as? String == messages[0]["ContactId"] as? String })
        let recorded = bodies(events, "transcript.segment")
        let utterances = segments.compactMap { $0["Utterance"] as? [String: Any] }
        let transcripts = segments.compactMap { $0["Transcript"] as? [String: Any] }
        #expect(
            recorded.filter { !($0["final"] as! Bool) }.map(plainText)
                == utterances.map { $0["PartialContent"] as! String })
        #expect(recorded.filter { $0["final"] as! Bool }.map(plainText) == transcripts.map { $0["Content"] as! String })
        #expect(
            recorded.filter { !($0["final"] as! Bool) }.map { $0["utterance"] as? String }
                == utterances.map { $0["TranscriptId"] as? String })
        let categories = segments.compactMap { $0["Categories"] as? [String: Any] }
        #expect(
            bodies(events, "enrichment.result", kind: "category").map {
                ($0["result"] as! [String: Any])["names"] as! [String]
            } == categories.map { $0["MatchedCategories"] as! [String] })
        #expect(
            bodies(events, "transcription.session").map { $0["state"] as! String } == ["started", "ended", "failed"])
    }

    @Test func aTruncatedPostCallFileIsRejectedWithItsPathAndNothingIsAppended() throws {
        let ledger = try CLILedger()
        try ingest(ledger, "contact-lens", Self.postCall[1], "--call", "c1")
        let before = try ledger.verified()
        let bytes = try Data(contentsOf: Repository.fixture(Self.postCall[1]))
        let text = String(decoding: bytes, as: UTF8.self)
        let cut = text.range(of: "I need to cancel")!.upperBound
        let truncated = ledger.scratch.file("truncated.json")
        try Data(text[..<cut].utf8).write(to: URL(fileURLWithPath: truncated))
        let rejected = try ledger.callLedger("ingest", "--from", "contact-lens", "--call", "c2", truncated)
        #expect(rejected.status == 2)
        #expect(rejected.stderr.contains("\(truncated): Transcript[3].Content"), "\(rejected.stderr)")
        #expect(rejected.stderr.contains("truncated"))
        #expect(try ledger.verified() == before)
    }
}

@Suite struct RecordByRecordTests {
    static let realTime = "connect/docs-contact-lens-realtime-segment-stream-events.json"

    /// The published real-time events as JSON lines of one segment each (as Kinesis delivers them), the first
    /// `Utterance` segment's `TranscriptId` removed; and the line it is on.
    func realTimeLinesWithoutATranscriptId() throws -> (lines: [String], line: Int) {
        var events: [[String: Any]] = []
        for event in try fixtureValue(Self.realTime) as! [[String: Any]] {
            guard let segments = event["Segments"] as? [[String: Any]] else {
                events.append(event)
                continue
            }
            for segment in segments {
                var single = event
                single["Segments"] = [segment]
                events.append(single)
            }
        }
        let index = events.firstIndex { (($0["Segments"] as? [[String: Any]])?.first?["Utterance"]) != nil }!
        var segment = (events[index]["Segments"] as! [[String: Any]])[0]
        var utterance = segment["Utterance"] as! [String: Any]
        utterance["TranscriptId"] = nil
        segment["Utterance"] = utterance
        events[index]["Segments"] = [segment]
        let lines = try events.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        return (lines, index + 1)
    }

    @Test func aContactLensUtteranceWithoutTranscriptIdRejectsItsLineAndKeepsTheCategoriesAfterIt() throws {
        let ledger = try CLILedger()
        let (lines, line) = try realTimeLinesWithoutATranscriptId()
        let path = ledger.scratch.file("realtime.jsonl")
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
        let atomic = try ledger.callLedger("ingest", "--from", "contact-lens", "--atomic", path)
        #expect(atomic.status == 2, "\(atomic.stderr)")
        #expect(atomic.stderr.contains("line \(line): Segments[0].Utterance.TranscriptId"), "\(atomic.stderr)")
        #expect(try ledger.verified().events == 0)
        let result = try ledger.callLedger("ingest", "--from", "contact-lens", "--json", path)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("line \(line): Segments[0].Utterance.TranscriptId"), "\(result.stderr)")
        let summary = try jsonObject(result.stdout.split(separator: "\n").last ?? "")
        let rejected = summary["rejected"] as? [[String: Any]] ?? []
        #expect(rejected.count == 1 && rejected.first?["line"] as? Int == line, "\(summary)")
        let events = try catted(ledger)
        let source = try fixtureValue(Self.realTime) as! [[String: Any]]
        let categories = source.flatMap { ($0["Segments"] as? [[String: Any]]) ?? [] }.filter {
            $0["Categories"] != nil
        }
        #expect(!categories.isEmpty)
        #expect(bodies(events, "enrichment.result", kind: "category").count == categories.count)
        let states = bodies(events, "transcription.session").map { $0["state"] as! String }
        #expect(states.count == source.filter { $0["EventType"] as? String != "SEGMENTS" }.count)
    }

    @Test func aTranscribeStreamLineThatIsNotJSONIsRejectedAloneWithItsLine() throws {
        let stream = "transcribe-call-analytics/stream-from-anchor-credit-union.jsonl"
        var lines = try String(contentsOf: Repository.fixture(stream), encoding: .utf8).split(separator: "\n").map(
            String.init)
        let messages = try fixtureLines(stream)
        let partial = messages.firstIndex {
            (($0["CallAnalyticsTranscriptResultStream"] as? [String: Any])?["UtteranceEvent"] as? [String: Any])?[
                "IsPartial"] as? Bool == true
        }!
        lines[partial] = String(lines[partial].prefix(lines[partial].count / 2))
        let whole = try CLILedger()
        let all = try ingest(whole, "transcribe-stream", stream, "--call", "anchor")
        let ledger = try CLILedger()
        let path = ledger.scratch.file("damaged.jsonl")
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
        let result = try ledger.callLedger("ingest", "--from", "transcribe-stream", "--call", "anchor", path)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("\(path): line \(partial + 1):"), "\(result.stderr)")
        #expect(result.stdout.split(separator: "\n").count == all.stdout.split(separator: "\n").count - 1)
    }

    @Test func aGladiaLiveTranslationMessageIsKeptAsATranslationEnrichment() throws {
        let examples = try fixtureValue("gladia/live-ws-message-examples.json")
        var found: [String: Any]?
        func walk(_ value: Any) {
            if let object = value as? [String: Any] {
                if object["type"] as? String == "translation", object["session_id"] != nil { found = found ?? object }
                object.values.forEach(walk)
            } else if let array = value as? [Any] {
                array.forEach(walk)
            }
        }
        walk(examples)
        let message = try #require(found)
        let data = message["data"] as! [String: Any]
        let ledger = try CLILedger()
        let path = ledger.scratch.file("translation.jsonl")
        try JSONSerialization.data(withJSONObject: message).write(to: URL(fileURLWithPath: path))
        try ingest(ledger, "gladia-live", path)
        let translations = bodies(try catted(ledger), "enrichment.result", kind: "translation")
        #expect(translations.count == 1)
        let result = translations.first?["result"] as? [String: Any]
        #expect(result?["label"] as? String == data["target_language"] as? String)
        #expect(result?["text"] as? String == (data["translated_utterance"] as! [String: Any])["text"] as? String)
        #expect(translations.first?["utterances"] as? [String] == [data["utterance_id"] as! String])
    }

    @Test func contactLensLoudnessIsShownInTheTranscript() throws {
        let file = "connect/docs-contact-lens-postcall-analysis-original.json"
        let turns = try fixtureJSON(file)["Transcript"] as! [[String: Any]]
        let ledger = try CLILedger()
        try ingest(ledger, "contact-lens", file, "--call", "cl-loud")
        let text = try ledger.callLedger("transcript", "cl-loud").stdout
        let scores = turns[1]["LoudnessScore"] as! [Double]
        let mean = ((scores.reduce(0, +) / Double(scores.count)) * 100).rounded() / 100
        #expect(
            text.contains("\(scores.count) values: min \(scores.min()!), mean \(mean), max \(scores.max()!)"), "\(text)"
        )
    }
}
