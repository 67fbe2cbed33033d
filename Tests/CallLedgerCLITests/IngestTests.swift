// call-ledger ingest with the Gladia adapter on the published samples: facts checked against the source
// files themselves, idempotent re-ingest, and path-precise rejection of damaged input.
import Foundation
import LedgerTestSupport
import Testing

/// The JSON of a fixture file.
func fixtureJSON(_ path: String) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(contentsOf: Repository.fixture(path))) as! [String: Any]
}

/// The events `cat` prints, parsed.
func catted(_ ledger: CLILedger, _ arguments: String...) throws -> [[String: Any]] {
    try LedgerTestSupport.callLedger(arguments: ["cat", "--ledger", ledger.directory] + arguments).stdout
        .split(separator: "\n").map { try jsonObject($0) }
}

@Suite struct GladiaIngestTests {
    @Test(arguments: ["gladia/prerecorded-result.json", "gladia/prerecorded-result-diarization.json"])
    func prerecordedResultBecomesOneFinalSegmentPerUtterance(file: String) throws {
        let source = try fixtureJSON(file)
        let utterances =
            ((source["result"] as! [String: Any])["transcription"] as! [String: Any])["utterances"]
            as! [[String: Any]]
        let ledger = try CLILedger()
        let result = try LedgerTestSupport.callLedger(
            arguments: [
                "ingest", "--ledger", ledger.directory, "--from", "gladia", "--roles", "0=agent,1=customer",
                Repository.fixture(file).path,
            ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.split(separator: "\n").count == utterances.count)
        let segments = try catted(ledger).filter { $0["type"] as? String == "transcript.segment" }
        #expect(segments.count == utterances.count)
        #expect(segments.allSatisfy { $0["call"] as? String == source["id"] as? String })
        let bodies = segments.map { $0["body"] as! [String: Any] }
        #expect(bodies.first?["text"] as? String == utterances.first?["text"] as? String)
        #expect(bodies.last?["text"] as? String == utterances.last?["text"] as? String)
        let lastEnd = utterances.last!["end"] as! Double
        #expect(bodies.last?["end_ms"] as? Int == Int((lastEnd * 1000).rounded()))
        for (body, utterance) in zip(bodies, utterances) {
            let words = utterance["words"] as! [[String: Any]]
            #expect((body["words"] as! [[String: Any]]).count == words.count)
            if let speaker = utterance["speaker"] as? Int {
                #expect(body["speaker"] as? String == String(speaker))
                #expect(body["role"] as? String == (speaker == 0 ? "agent" : speaker == 1 ? "customer" : "unknown"))
            }
        }
    }

    @Test func reingestingAppendsNothingAndATruncatedCopyIsRejectedWithItsPath() throws {
        let ledger = try CLILedger()
        let path = Repository.fixture("gladia/prerecorded-result.json").path
        #expect(try ledger.callLedger("ingest", "--from", "gladia", path).status == 0)
        let before = try ledger.verified()
        let again = try ledger.callLedger("ingest", "--from", "gladia", path)
        #expect(again.status == 0)
        #expect(again.stdout.split(separator: "\n").allSatisfy { $0.contains(#""status":"duplicate""#) })
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let truncated = ledger.scratch.file("truncated.json")
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        let rejected = try ledger.callLedger("ingest", "--from", "gladia", truncated)
        #expect(rejected.status == 2)
        #expect(rejected.stderr.contains(truncated) && rejected.stderr.contains("result.transcription.utterances["))
        #expect(rejected.stderr.contains("truncated"))
        #expect(try ledger.verified() == before)
    }

    @Test func wrongFieldTypeIsRejectedWithItsPathAndNothingIsAppended() throws {
        let ledger = try CLILedger()
        var source = try fixtureJSON("gladia/prerecorded-result.json")
        var result = source["result"] as! [String: Any]
        var transcription = result["transcription"] as! [String: Any]
        var utterances = transcription["utterances"] as! [[String: Any]]
        utterances[4]["start"] = "soon"
        transcription["utterances"] = utterances
        result["transcription"] = transcription
        source["result"] = result
        let file = ledger.scratch.file("bad.json")
        try JSONSerialization.data(withJSONObject: source).write(to: URL(fileURLWithPath: file))
        let rejected = try ledger.callLedger("ingest", "--from", "gladia", file)
        #expect(rejected.status == 2)
        #expect(
            rejected.stderr.contains("result.transcription.utterances[4].start: must be a number"), "\(rejected.stderr)"
        )
        #expect(try ledger.verified().events == 0)
    }

    /// The documented add-on fragments merged into a real result: sentiment, named entities (personal ones
    /// sealed as pii.<kind>) and the summary each become enrichment results.
    @Test func addOnsBecomeEnrichmentResultsAndPersonalEntitiesAreSealed() throws {
        let ledger = try CLILedger()
        var source = try fixtureJSON("gladia/prerecorded-result.json")
        var result = source["result"] as! [String: Any]
        let fragments = (try fixtureJSON("gladia/docs-addon-result-fragments.json")["examples"] as! [String: Any])
        var sentimentCount = 0
        var entities: [[String: Any]] = []
        for (name, example) in fragments {
            let fragment = (example as! [String: Any])["result_fragment"] as! [String: Any]
            result[name] = fragment[name]
            if name == "sentiment_analysis" {
                sentimentCount = ((fragment[name] as! [String: Any])["results"] as! [Any]).count
            }
            if name == "named_entity_recognition" {
                entities = (fragment[name] as! [String: Any])["results"] as! [[String: Any]]
            }
        }
        source["result"] = result
        let file = ledger.scratch.file("with-addons.json")
        try JSONSerialization.data(withJSONObject: source).write(to: URL(fileURLWithPath: file))
        #expect(try ledger.callLedger("ingest", "--from", "gladia", file).status == 0)
        let enrichments = try catted(ledger).filter { $0["type"] as? String == "enrichment.result" }
        let kinds = enrichments.map { ($0["body"] as! [String: Any])["kind"] as! String }
        #expect(kinds.filter { $0 == "sentiment" }.count == sentimentCount)
        #expect(kinds.filter { $0 == "entities" }.count == 1 && kinds.filter { $0 == "summary" }.count == 1)
        let entityEvent = enrichments.first { ($0["body"] as! [String: Any])["kind"] as? String == "entities" }!
        let stored =
            ((entityEvent["body"] as! [String: Any])["result"] as! [String: Any])["entities"] as! [[String: Any]]
        #expect(stored.map { $0["text"] as? String } == entities.map { $0["text"] as? String })
        let sealed = (entityEvent["sealed"] as! [[String: Any]]).map { $0["class"] as! String }
        #expect(sealed.contains("pii.email_address") && sealed.contains("pii.age"))
        try FileManager.default.moveItem(atPath: ledger.directory + ".key", toPath: ledger.scratch.file("away.key"))
        let locked = try ledger.callLedger("cat").stdout
        #expect(!locked.contains("privacy@gladia.io"))
        #expect(locked.contains(#"{"redacted":"pii.email_address""#))
    }

    @Test func callbackBodiesAreReadOrExplained() throws {
        let ledger = try CLILedger()
        let source = try fixtureJSON("gladia/prerecorded-result.json")
        let callback: [String: Any] = [
            "id": source["id"]!, "event": "transcription.success",
            "payload": ["id": source["id"]!, "result": source["result"]!],
        ]
        let file = ledger.scratch.file("callback.json")
        try JSONSerialization.data(withJSONObject: callback).write(to: URL(fileURLWithPath: file))
        #expect(try ledger.callLedger("ingest", "--from", "gladia", file).status == 0)
        #expect(try ledger.verified().events == 11)
        let idOnly = ledger.scratch.file("webhook.json")
        try Data(#"{"event":"transcription.success","payload":{"id":"45463597-20b7-4af7-b3b3-f5fb778203ab"}}"#.utf8)
            .write(to: URL(fileURLWithPath: idOnly))
        let explained = try ledger.callLedger("ingest", "--from", "gladia", idOnly)
        #expect(explained.status == 2 && explained.stderr.contains("fetch GET /v2/pre-recorded/45463597"))
        let failed = ledger.scratch.file("error.json")
        try Data(#"{"id":"x","event":"transcription.error","payload":{"id":"x","error":"audio too short"}}"#.utf8)
            .write(to: URL(fileURLWithPath: failed))
        let failure = try ledger.callLedger("ingest", "--from", "gladia", failed)
        #expect(failure.status == 2 && failure.stderr.contains("transcription.error: audio too short"))
    }
}

@Suite struct TranscribeCallAnalyticsIngestTests {
    static let files = [
        "transcribe-call-analytics/tca-output-anchor-credit-union-redacted.json",
        "transcribe-call-analytics/tca-output-bank-redacted.json",
    ]

    @Test(arguments: files)
    func postCallOutputBecomesTurnsAndEnrichment(file: String) throws {
        let source = try fixtureJSON(file)
        let turns = source["Transcript"] as! [[String: Any]]
        let ledger = try CLILedger()
        let result = try ledger.callLedger(
            "ingest", "--from", "transcribe-ca", "--call", "c1", Repository.fixture(file).path)
        #expect(result.status == 0, "\(result.stderr)")
        let events = try catted(ledger)
        let segments = events.filter { $0["type"] as? String == "transcript.segment" }.map {
            $0["body"] as! [String: Any]
        }
        #expect(segments.count == turns.count)
        func plain(_ body: [String: Any]) -> String {
            if let text = body["text"] as? String { return text }
            return (body["text"] as! [[String: Any]]).map { $0["text"] as! String }.joined()
        }
        for role in ["AGENT", "CUSTOMER"] {
            let sourceLines = turns.filter { $0["ParticipantRole"] as? String == role }.map { $0["Content"] as! String }
            let ledgerLines = segments.filter { $0["role"] as? String == role.lowercased() }.map(plain)
            #expect(ledgerLines.first == sourceLines.first && ledgerLines.last == sourceLines.last, "\(role)")
            #expect(ledgerLines.count == sourceLines.count)
        }
        let placeholders = turns.map { ($0["Content"] as! String).components(separatedBy: "[PII]").count - 1 }.reduce(
            0, +)
        let piiSpans = segments.compactMap { $0["text"] as? [[String: Any]] }.joined().filter { $0["pii"] != nil }.count
        #expect(piiSpans == placeholders)
        let enrichments = events.filter { $0["type"] as? String == "enrichment.result" }.map {
            $0["body"] as! [String: Any]
        }
        let categories = enrichments.first { $0["kind"] as? String == "category" }!["result"] as! [String: Any]
        #expect(
            categories["names"] as? [String] == (source["Categories"] as! [String: Any])["MatchedCategories"]
                as? [String])
        let characteristics =
            enrichments.first { $0["kind"] as? String == "characteristics" }!["result"] as! [String: Any]
        let total = (source["ConversationCharacteristics"] as! [String: Any])["TotalConversationDurationMillis"] as! Int
        #expect((characteristics["metrics"] as! [String: Any])["total_ms"] as? Int == total)
        let issues = turns.map { ($0["IssuesDetected"] as? [Any])?.count ?? 0 }.reduce(0, +)
        let ledgerIssues = enrichments.filter { $0["kind"] as? String == "issue" }
            .map { (($0["result"] as! [String: Any])["entities"] as! [Any]).count }.reduce(0, +)
        #expect(ledgerIssues == issues)
        #expect(
            enrichments.filter { $0["kind"] as? String == "sentiment" }.count
                == turns.filter { $0["Sentiment"] != nil }.count)
        let again = try ledger.callLedger(
            "ingest", "--from", "transcribe-ca", "--call", "c1", Repository.fixture(file).path)
        #expect(again.stdout.split(separator: "\n").allSatisfy { $0.contains(#""status":"duplicate""#) })
    }
}

@Suite struct TranscribeIngestTests {
    static let files = [
        "transcribe/retail41-speaker-labels.json",
        "transcribe/docs-batch-output-speaker-diarization.json",
        "transcribe/docs-batch-output-channel-identification.json",
    ]

    @Test(arguments: files)
    func batchOutputBecomesOneTurnPerChangeOfSpeaker(file: String) throws {
        let source = try fixtureJSON(file)
        let results = source["results"] as! [String: Any]
        let items = results["items"] as! [[String: Any]]
        let labels = items.filter { $0["type"] as? String == "pronunciation" }.map {
            ($0["speaker_label"] ?? $0["channel_label"]) as! String
        }
        let changes = zip(labels, labels.dropFirst()).filter { $0 != $1 }.count
        let ledger = try CLILedger()
        let result = try ledger.callLedger(
            "ingest", "--from", "transcribe", "--roles", "0=agent,1=customer", Repository.fixture(file).path)
        #expect(result.status == 0, "\(result.stderr)")
        let events = try catted(ledger)
        #expect(events.allSatisfy { $0["call"] as? String == source["jobName"] as? String })
        let bodies = events.map { $0["body"] as! [String: Any] }
        #expect(bodies.count == changes + 1)
        let transcript = (results["transcripts"] as! [[String: Any]])[0]["transcript"] as! String
        #expect(bodies.map { $0["text"] as! String }.joined(separator: " ") == transcript)
        #expect(bodies.map { ($0["words"] as! [[String: Any]]).count }.reduce(0, +) == items.count)
        for body in bodies {
            let label = (body["speaker"] as? String) ?? "ch_\(body["channel"] as! Int)"
            let role = label.hasSuffix("_0") ? "agent" : label.hasSuffix("_1") ? "customer" : "unknown"
            #expect(body["role"] as? String == role)
        }
    }

    @Test func itemWithoutAlternativesIsRejectedWithItsPathAndNothingIsAppended() throws {
        let ledger = try CLILedger()
        var source = try fixtureJSON("transcribe/docs-batch-output-speaker-diarization.json")
        var results = source["results"] as! [String: Any]
        var items = results["items"] as! [[String: Any]]
        items[3]["alternatives"] = [Any]()
        results["items"] = items
        source["results"] = results
        let damaged = ledger.scratch.file("damaged.json")
        try JSONSerialization.data(withJSONObject: source).write(to: URL(fileURLWithPath: damaged))
        let result = try ledger.callLedger("ingest", "--from", "transcribe", damaged)
        #expect(result.status == 2)
        #expect(result.stderr.contains("results.items[3].alternatives"), "\(result.stderr)")
        #expect(try catted(ledger).isEmpty)
    }
}

/// Writes `object` as JSON to `name` in the ledger's scratch directory and returns its path.
func writeJSON(_ object: Any, _ ledger: CLILedger, _ name: String) throws -> String {
    let path = ledger.scratch.file(name)
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    return path
}

/// Writes `text` to `name` in the ledger's scratch directory and returns its path.
func writeText(_ text: String, _ ledger: CLILedger, _ name: String) throws -> String {
    let path = ledger.scratch.file(name)
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    return path
}

@Suite struct AdapterNumberTests {
    /// A published Transcribe output whose first item's confidence is `confidence` (a string, as Transcribe
    /// writes it).
    func transcribeOutput(confidence: String) throws -> [String: Any] {
        var source = try fixtureJSON("transcribe/docs-batch-output-speaker-diarization.json")
        var results = source["results"] as! [String: Any]
        var items = results["items"] as! [[String: Any]]
        var alternatives = items[0]["alternatives"] as! [[String: Any]]
        alternatives[0]["confidence"] = confidence
        items[0]["alternatives"] = alternatives
        results["items"] = items
        source["results"] = results
        return source
    }

    @Test(arguments: ["inf", "nan", "1e400", "-1", "2"])
    func transcribeConfidenceThatIsNoProbabilityIsRejectedWithItsPathAndNothingAppended(confidence: String) throws {
        let ledger = try CLILedger()
        let path = try writeJSON(try transcribeOutput(confidence: confidence), ledger, "confidence.json")
        let result = try ledger.callLedger("ingest", "--from", "transcribe", path)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("results.items[0].alternatives[0].confidence"), "\(result.stderr)")
        #expect(result.stderr.contains(confidence), "\(result.stderr)")
        #expect(try catted(ledger).isEmpty)
    }

    /// The published Call Analytics output with the first issue's `CharacterOffsets.<member>` replaced by the JSON
    /// number `literal`.
    func callAnalyticsOutput(_ member: String, _ literal: String) throws -> (text: String, turn: Int) {
        let url = Repository.fixture("transcribe-call-analytics/tca-output-anchor-credit-union-redacted.json")
        var source = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var turns = source["Transcript"] as! [[String: Any]]
        let index = turns.firstIndex { ($0["IssuesDetected"] as? [Any])?.isEmpty == false }!
        var issues = turns[index]["IssuesDetected"] as! [[String: Any]]
        var offsets = issues[0]["CharacterOffsets"] as! [String: Any]
        offsets[member] = 123_456_789
        issues[0]["CharacterOffsets"] = offsets
        turns[index]["IssuesDetected"] = issues
        source["Transcript"] = turns
        let text = String(decoding: try JSONSerialization.data(withJSONObject: source), as: UTF8.self)
        return (text.replacingOccurrences(of: "123456789", with: literal), index)
    }

    @Test(arguments: ["Begin", "End"], ["1e20", "1e300", "-1e300", "-1", "2.5"])
    func callAnalyticsOffsetOutsideTheTurnIsLeftOutWithAWarningOrRejectedWhenStrict(
        member: String, value: String
    )
        throws
    {
        let ledger = try CLILedger()
        let (text, turn) = try callAnalyticsOutput(member, value)
        let path = try writeText(text, ledger, "offsets.json")
        let issuePath = "Transcript[\(turn)].IssuesDetected[0].CharacterOffsets.\(member)"
        let strict = try ledger.callLedger("ingest", "--from", "transcribe-ca", "--strict", path)
        #expect(strict.status == 2, "\(strict.stderr)")
        #expect(strict.stderr.contains(issuePath), "\(strict.stderr)")
        #expect(try catted(ledger).isEmpty)
        let lenient = try ledger.callLedger("ingest", "--from", "transcribe-ca", "--json", path)
        #expect(lenient.status == 0, "\(lenient.stderr)")
        #expect(lenient.stderr.contains("warning"), "\(lenient.stderr)")
        #expect(lenient.stderr.contains(issuePath), "\(lenient.stderr)")
        let summary = try jsonObject(lenient.stdout.split(separator: "\n").last ?? "")
        let warnings = summary["warnings"] as? [[String: Any]] ?? []
        #expect(warnings.count == 1 && warnings.first?["path"] as? String == issuePath, "\(summary)")
        let events = try catted(ledger)
        let source = try fixtureJSON("transcribe-call-analytics/tca-output-anchor-credit-union-redacted.json")
        let turns = source["Transcript"] as! [[String: Any]]
        #expect(events.filter { $0["type"] as? String == "transcript.segment" }.count == turns.count)
        let issueTurns = events.filter { ($0["body"] as? [String: Any])?["kind"] as? String == "issue" }.map {
            ($0["body"] as! [String: Any])["utterances"] as! [String]
        }
        #expect(!issueTurns.contains([turns[turn]["Id"] as! String]))
    }
}

@Suite struct IdempotencyScopeTests {
    @Test(arguments: [
        ("transcribe", "transcribe/docs-batch-output-speaker-diarization.json"),
        ("transcribe-ca", "transcribe-call-analytics/tca-output-bank-redacted.json"),
        ("gladia", "gladia/prerecorded-result.json"),
        ("gladia-live", "gladia/live-stream-from-prerecorded.jsonl"),
        ("connect-ctr", "connect/ctr-inbound-voice.json"),
    ])
    func theSameSourceIngestedForAnotherCallIsNotADuplicate(kind: String, file: String) throws {
        let ledger = try CLILedger()
        let path = Repository.fixture(file).path
        let first = try ledger.callLedger("ingest", "--from", kind, "--call", "call-a", path)
        #expect(first.status == 0, "\(first.stderr)")
        let count = first.stdout.split(separator: "\n").count
        let second = try ledger.callLedger("ingest", "--from", kind, "--call", "call-b", path)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.split(separator: "\n").filter { $0.contains(#""status":"appended""#) }.count == count)
        let again = try ledger.callLedger("ingest", "--from", kind, "--call", "call-b", path)
        #expect(again.stdout.split(separator: "\n").allSatisfy { $0.contains(#""status":"duplicate""#) })
        let calls = Set(try catted(ledger).compactMap { $0["call"] as? String })
        #expect(calls == ["call-a", "call-b"])
    }
}

@Suite struct PublishedShapeTests {
    /// The speaker of each word (pronunciation item), as the `speaker_labels.segments` items with its start time
    /// give it; nil for a word no segment lists.
    func wordSpeakers(_ results: [String: Any]) -> [String?] {
        var speakers: [String: String] = [:]
        for segment in (results["speaker_labels"] as! [String: Any])["segments"] as! [[String: Any]] {
            for item in segment["items"] as! [[String: Any]] {
                speakers[item["start_time"] as! String] = item["speaker_label"] as? String
            }
        }
        return (results["items"] as! [[String: Any]]).filter { $0["type"] as? String == "pronunciation" }.map {
            speakers[$0["start_time"] as! String]
        }
    }

    @Test(arguments: [
        "transcribe/older-format-two-segments-es.json", "transcribe/docs-2019-batch-output-speaker-labels-older.json",
    ])
    func olderTranscribeOutputFollowsTheSpeakerSegmentsAcrossPunctuation(file: String) throws {
        let source = try fixtureJSON(file)
        let results = source["results"] as! [String: Any]
        let items = results["items"] as! [[String: Any]]
        #expect(items.allSatisfy { $0["speaker_label"] == nil })
        let speakers = wordSpeakers(results)
        let runs = speakers.indices.filter { $0 == 0 || speakers[$0 - 1] != speakers[$0] }.map { speakers[$0] }
        let ledger = try CLILedger()
        let result = try ledger.callLedger("ingest", "--from", "transcribe", Repository.fixture(file).path)
        #expect(result.status == 0, "\(result.stderr)")
        let bodies = try catted(ledger).map { $0["body"] as! [String: Any] }
        #expect(bodies.map { $0["speaker"] as? String } == runs)
        let transcript = (results["transcripts"] as! [[String: Any]])[0]["transcript"] as! String
        #expect(bodies.map { $0["text"] as! String }.joined(separator: " ") == transcript)
        #expect(bodies.map { ($0["words"] as! [[String: Any]]).count }.reduce(0, +) == items.count)
    }

    @Test func labelsLeftOnlyInTheSegmentsGiveTheSameTurnsAsLabelledItems() throws {
        var source = try fixtureJSON("transcribe/retail41-speaker-labels.json")
        var results = source["results"] as! [String: Any]
        let items = results["items"] as! [[String: Any]]
        let labels = items.filter { $0["type"] as? String == "pronunciation" }.map { $0["speaker_label"] as! String }
        let changes = zip(labels, labels.dropFirst()).filter { $0 != $1 }.count
        results["items"] = items.map { item in
            var older = item
            older["speaker_label"] = nil
            if item["type"] as? String == "punctuation" {
                older["start_time"] = nil
                older["end_time"] = nil
            }
            return older
        }
        source["results"] = results
        let ledger = try CLILedger()
        let path = try writeJSON(source, ledger, "retail41-older.json")
        let result = try ledger.callLedger("ingest", "--from", "transcribe", path)
        #expect(result.status == 0, "\(result.stderr)")
        let bodies = try catted(ledger).map { $0["body"] as! [String: Any] }
        #expect(bodies.count == changes + 1)
        let runs = labels.indices.filter { $0 == 0 || labels[$0 - 1] != labels[$0] }.map { labels[$0] }
        #expect(bodies.map { $0["speaker"] as? String } == runs)
    }

    @Test func earlierCallAnalyticsSchemaIsReadWithItsRedactedIssueOffsets() throws {
        let file = "transcribe-call-analytics/tca-output-bank-earlier-schema.json"
        let source = try fixtureJSON(file)
        let turns = source["Transcript"] as! [[String: Any]]
        let ledger = try CLILedger()
        let result = try ledger.callLedger("ingest", "--from", "transcribe-ca", Repository.fixture(file).path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stderr.contains("warning"), "\(result.stderr)")
        let events = try catted(ledger)
        let segments = events.filter { $0["type"] as? String == "transcript.segment" }.map {
            $0["body"] as! [String: Any]
        }
        #expect(segments.count == turns.count)
        #expect(segments.first?["end_ms"] as? Int == turns.first?["EndOffsetMillis"] as? Int)
        #expect(segments.last?["end_ms"] as? Int == turns.last?["EndOffsetMillis"] as? Int)
        let withIssue = turns.first { $0["IssuesDetected"] != nil }!
        let offsets = (withIssue["IssuesDetected"] as! [[String: Any]])[0]["RedactedCharacterOffsets"] as! [String: Int]
        let content = Array(withIssue["Content"] as! String)
        let expected = String(content[offsets["Begin"]!..<offsets["End"]!])
        let issues = events.compactMap { $0["body"] as? [String: Any] }.filter { $0["kind"] as? String == "issue" }
        #expect(issues.count == 1)
        let entity = ((issues.first?["result"] as? [String: Any])?["entities"] as? [[String: Any]])?.first
        #expect(entity?["text"] as? String == expected)
        #expect(issues.first?["utterances"] as? [String] == [withIssue["Id"] as! String])
        let loudness = events.compactMap { $0["body"] as? [String: Any] }.filter { $0["kind"] as? String == "loudness" }
        #expect(loudness.count == turns.count)
    }

    @Test func gladiaSampleResultWithDiarizationBecomesOneSegmentPerUtterance() throws {
        let file = "gladia/samples-prerecorded-diarization-es.json"
        let source = try fixtureJSON(file)
        let utterances =
            ((source["result"] as! [String: Any])["transcription"] as! [String: Any])["utterances"] as! [[String: Any]]
        let ledger = try CLILedger()
        let result = try ledger.callLedger(
            "ingest", "--from", "gladia", "--roles", "0=agent,1=customer", Repository.fixture(file).path)
        #expect(result.status == 0, "\(result.stderr)")
        let bodies = try catted(ledger).map { $0["body"] as! [String: Any] }
        #expect(bodies.count == utterances.count)
        #expect(bodies.first?["text"] as? String == utterances.first?["text"] as? String)
        #expect(bodies.last?["text"] as? String == utterances.last?["text"] as? String)
        let lastEnd = utterances.last!["end"] as! Double
        #expect(bodies.last?["end_ms"] as? Int == Int((lastEnd * 1000).rounded()))
        let speakers = utterances.map { String($0["speaker"] as! Int) }
        #expect(bodies.map { $0["speaker"] as? String } == speakers)
    }

    @Test func gladiaTranslationAddOnIsKeptAsTranslationEnrichments() throws {
        var source = try fixtureJSON("gladia/prerecorded-result.json")
        var result = source["result"] as! [String: Any]
        let utterances = (result["transcription"] as! [String: Any])["utterances"] as! [[String: Any]]
        // The add-on's shape (TranslationResultDTO of Gladia's API): one result per target language, whose
        // utterances carry the original times.
        let translated = utterances.map { utterance -> [String: Any] in
            [
                "start": utterance["start"]!, "end": utterance["end"]!, "text": "FR: \(utterance["text"]!)",
                "language": "fr", "channel": 0, "confidence": 1, "words": [Any](),
            ]
        }
        result["translation"] = [
            "success": true, "is_empty": false, "exec_time": 1.5, "error": NSNull(),
            "results": [
                [
                    "error": NSNull(), "languages": ["fr"], "utterances": translated,
                    "full_transcript": translated.map { $0["text"] as! String }.joined(separator: " "),
                ]
            ],
        ]
        source["result"] = result
        let ledger = try CLILedger()
        let path = try writeJSON(source, ledger, "translated.json")
        let ingest = try ledger.callLedger("ingest", "--from", "gladia", path)
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let translations = try catted(ledger).compactMap { $0["body"] as? [String: Any] }.filter {
            $0["kind"] as? String == "translation"
        }
        #expect(translations.count == utterances.count)
        let first = translations.first?["result"] as? [String: Any]
        #expect(first?["label"] as? String == "fr")
        #expect(first?["text"] as? String == "FR: \(utterances[0]["text"]!)")
        #expect(translations.first?["utterances"] as? [String] == ["utterance-0"])
    }

    @Test(arguments: [
        ("transcribe", "transcribe-call-analytics/tca-output-bank-redacted.json", "transcribe-ca"),
        ("gladia", "transcribe/retail41-speaker-labels.json", "transcribe"),
        ("transcribe-ca", "connect/docs-contact-lens-postcall-analysis-original.json", "contact-lens"),
        ("connect-ctr", "gladia/live-stream-from-prerecorded.jsonl", "gladia-live"),
        ("contact-lens", "connect/ctr-inbound-voice.json", "connect-ctr"),
        ("transcribe", "gladia/prerecorded-result.json", "gladia"),
    ])
    func aFileOfAnotherVendorIsRejectedWithTheAdapterItLooksLike(kind: String, file: String, likely: String) throws {
        let ledger = try CLILedger()
        let result = try ledger.callLedger("ingest", "--from", kind, Repository.fixture(file).path)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("--from \(likely)"), "\(result.stderr)")
        #expect(try catted(ledger).isEmpty)
    }
}

@Suite struct LargeInputTests {
    /// A Gladia result of `count` utterances of eight words each, as JSON.
    func largeResult(utterances count: Int) throws -> Data {
        var utterances: [[String: Any]] = []
        var time = 0.0
        for index in 0..<count {
            let start = time
            var words: [[String: Any]] = []
            for word in 0..<8 {
                words.append(["word": " w\(word)", "start": time, "end": time + 0.2, "confidence": 0.9])
                time += 0.25
            }
            utterances.append([
                "text": "w0 w1 w2 w3 w4 w5 w6 w7", "language": "en", "start": start, "end": time, "confidence": 0.9,
                "channel": 0, "speaker": index % 2, "words": words,
            ])
            time += 0.1
        }
        let result: [String: Any] = [
            "id": "large-result", "status": "done",
            "result": ["transcription": ["languages": ["en"], "full_transcript": "", "utterances": utterances]],
        ]
        return try JSONSerialization.data(withJSONObject: result)
    }

    @Test func aDamagedUtteranceOfALargeResultIsNamedByItsIndex() throws {
        let ledger = try CLILedger()
        var source = try JSONSerialization.jsonObject(with: try largeResult(utterances: 50)) as! [String: Any]
        var result = source["result"] as! [String: Any]
        var transcription = result["transcription"] as! [String: Any]
        var utterances = transcription["utterances"] as! [[String: Any]]
        var words = utterances[37]["words"] as! [[String: Any]]
        words[2]["end"] = "soon"
        utterances[37]["words"] = words
        transcription["utterances"] = utterances
        result["transcription"] = transcription
        source["result"] = result
        let path = try writeJSON(source, ledger, "damaged.json")
        let rejected = try ledger.callLedger("ingest", "--from", "gladia", path)
        #expect(rejected.status == 2)
        #expect(
            rejected.stderr.contains("result.transcription.utterances[37].words[2].end: must be a number"),
            "\(rejected.stderr)")
        #expect(try catted(ledger).isEmpty)
    }
}

@Suite struct OutOfRangeLiteralTests {
    @Test func aNumberBeyondDoubleInAnUtteranceIsRejectedAtItsByteInTheFile() throws {
        let ledger = try CLILedger()
        let text = try String(contentsOf: Repository.fixture("gladia/prerecorded-result.json"), encoding: .utf8)
        let start = try #require(text.range(of: #""start": "#))
        let end = try #require(text[start.upperBound...].firstIndex(of: ","))
        let damaged = String(text[..<start.upperBound]) + "1e400" + String(text[end...])
        let byte = damaged.utf8.distance(from: damaged.utf8.startIndex, to: start.upperBound)
        let path = try writeText(damaged, ledger, "huge-number.json")
        let rejected = try ledger.callLedger("ingest", "--from", "gladia", path)
        #expect(rejected.status == 2)
        #expect(
            rejected.stderr.contains("not valid JSON at byte \(byte): number is out of range"), "\(rejected.stderr)")
        #expect(try catted(ledger).isEmpty)
    }
}

/// The byte scan that finds a large document's big array: a delimiter where an element should start is a syntax
/// error reported at once, never a scan that makes no progress (a fuzzer's input hung `ingest` there): the process
/// is killed if it runs 30 s (a test time limit would also count the time the test waits to be run).
@Suite struct LargeArrayScanTests {
    @Test(
        arguments: [
            ("transcribe-ca", #"{"JobStatus": "COMPLETED", "JobName": "j", "Transcript": [}], "Id": "x"}"#),
            ("transcribe-ca", #"{"JobName": "j", "Transcript": [,{"Id": "t"}]}"#),
            ("transcribe-ca", #"{"JobName": "j", "Transcript": [:]}"#),
            ("transcribe", #"{"jobName": "j", "results": {"items": [}], "transcripts": []}}"#),
            ("gladia", #"{"id": "g", "result": {"transcription": {"utterances": [,]}}}"#),
        ])
    func delimiterWhereAnElementShouldStartIsRejectedAtOnce(kind: String, document: String) throws {
        let ledger = try CLILedger()
        let file = ledger.scratch.file("malformed.json")
        try Data(document.utf8).write(to: URL(fileURLWithPath: file))
        let rejected = try ledger.callLedger(
            arguments: ["ingest", "--from", kind, "--call", "call-1", file], killAfter: .seconds(30))
        #expect(rejected.status == 2, "\(rejected.stderr)")
        #expect(rejected.stderr.contains(file), "\(rejected.stderr)")
        #expect(try ledger.verified().events == 0)
    }
}
