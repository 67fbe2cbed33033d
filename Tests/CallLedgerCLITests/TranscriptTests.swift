// call-ledger transcript, calls, project and rebuild on the published samples: transcripts checked against
// facts of the source files (turns, first and last lines by role, duration, PII and category counts), the live
// stream's finals against the async result, --as-of mid-stream, and the errors a user meets.
import Foundation
import LedgerTestSupport
import Testing

/// `transcript CALL --format json` with `extra` arguments, parsed.
private func transcript(_ ledger: CLILedger, _ call: String, _ extra: String...) throws -> [String: Any] {
    let result = try LedgerTestSupport.callLedger(
        arguments: ["transcript", "--ledger", ledger.directory, call, "--format", "json"] + extra)
    try #require(result.status == 0, "\(result.stderr)")
    return try jsonObject(result.stdout)
}

/// The lines of a transcript document.
private func lines(_ document: [String: Any]) -> [[String: Any]] {
    document["lines"] as! [[String: Any]]
}

/// Ingests a fixture through the CLI.
private func ingest(_ ledger: CLILedger, _ kind: String, _ fixture: String, _ extra: [String] = []) throws {
    let result = try LedgerTestSupport.callLedger(
        arguments: ["ingest", "--ledger", ledger.directory, "--from", kind] + extra + [Repository.fixture(fixture).path]
    )
    try #require(result.status == 0, "\(result.stderr)")
}

@Suite struct TranscriptTests {
    @Test(arguments: ["gladia/prerecorded-result.json", "gladia/prerecorded-result-diarization.json"])
    func gladiaResultReadsBackUtteranceByUtterance(file: String) throws {
        let source = try fixtureJSON(file)
        let utterances =
            ((source["result"] as! [String: Any])["transcription"] as! [String: Any])["utterances"] as! [[String: Any]]
        let ledger = try CLILedger()
        try ingest(ledger, "gladia", file, ["--call", "g1"])
        let document = try transcript(ledger, "g1")
        let shown = lines(document)
        #expect(shown.count == utterances.count)
        let ordered = utterances.sorted { ($0["start"] as! Double) < ($1["start"] as! Double) }
        #expect(shown.map { $0["text"] as! String } == ordered.map { $0["text"] as! String })
        #expect(shown.allSatisfy { $0["final"] as! Bool })
        #expect(shown.map { $0["language"] as? String } == ordered.map { $0["language"] as? String })
        let lastEnd = utterances.map { $0["end"] as! Double }.max()!
        let call = document["call"] as! [String: Any]
        #expect(call["duration_ms"] as? Int == Int((lastEnd * 1000).rounded()))
        #expect(call["final_segments"] as? Int == utterances.count)

        let listed = try jsonArray(try ledger.callLedger("calls", "--json").stdout)
        #expect(listed.count == 1 && listed[0]["call"] as? String == "g1")
        #expect(listed[0]["final_segments"] as? Int == utterances.count)
    }

    @Test func callAnalyticsTurnsRolesCategoriesAndRedactedPII() throws {
        let file = "transcribe-call-analytics/tca-output-bank-redacted.json"
        let source = try fixtureJSON(file)
        let turns = source["Transcript"] as! [[String: Any]]
        let ledger = try CLILedger()
        try ingest(ledger, "transcribe-ca", file, ["--call", "bank"])
        let shown = lines(try transcript(ledger, "bank"))
        #expect(shown.count == turns.count)
        for role in ["AGENT", "CUSTOMER"] {
            let ofRole = turns.filter { $0["ParticipantRole"] as? String == role }
            let shownOfRole = shown.filter { ($0["role"] as! String).uppercased() == role }
            #expect(shownOfRole.count == ofRole.count)
            #expect(shownOfRole.first?["start_ms"] as? Int == ofRole.first?["BeginOffsetMillis"] as? Int)
            #expect(shownOfRole.last?["end_ms"] as? Int == ofRole.last?["EndOffsetMillis"] as? Int)
        }
        let placeholders = turns.map { ($0["Content"] as! String).components(separatedBy: "[PII]").count - 1 }
            .reduce(0, +)
        let text = try ledger.callLedger("transcript", "bank", "--redacted").stdout
        #expect(placeholders > 0)
        #expect(text.components(separatedBy: "[REDACTED:").count - 1 == placeholders)
        let categories = (source["Categories"] as! [String: Any])["MatchedCategories"] as! [String]
        let document = try transcript(ledger, "bank")
        let named = (document["call_enrichments"] as! [[String: Any]]).filter { $0["kind"] as? String == "category" }
            .flatMap { ($0["names"] as? [String]) ?? [$0["label"] as? String].compactMap { $0 } }
        #expect(!categories.isEmpty && Set(named) == Set(categories))
        let vtt = try ledger.callLedger("transcript", "bank", "--format", "vtt").stdout
        #expect(vtt.hasPrefix("WEBVTT\n") && vtt.components(separatedBy: " --> ").count - 1 == turns.count)
    }

    @Test func liveFinalsGiveTheAsyncTranscriptAndAsOfMidStreamShowsThePartialsKnownThen() throws {
        let ledger = try CLILedger()
        try ingest(ledger, "gladia-live", "gladia/live-stream-from-prerecorded.jsonl", ["--call", "live"])
        try ingest(ledger, "gladia", "gladia/prerecorded-result.json", ["--call", "async"])
        let live = lines(try transcript(ledger, "live"))
        let async = lines(try transcript(ledger, "async"))
        #expect(!live.isEmpty && live.allSatisfy { $0["final"] as! Bool })
        for field in ["text", "start_ms", "end_ms"] {
            #expect(live.map { "\($0[field]!)" } == async.map { "\($0[field]!)" })
        }
        #expect(live.allSatisfy { ($0["superseded_versions"] as! Int) >= 0 })

        // Just before the live stream's third final, its utterance is known only by its partials.
        let events = try catted(ledger, "--call", "live")
        let segments = events.filter { $0["type"] as? String == "transcript.segment" }
        let finals = segments.filter { ($0["body"] as! [String: Any])["final"] as! Bool }
        let third = finals[2]
        let seq = third["seq"] as! Int
        let utterance = (third["body"] as! [String: Any])["utterance"] as! String
        let latestPartial = segments.last {
            ($0["seq"] as! Int) < seq && ($0["body"] as! [String: Any])["utterance"] as? String == utterance
        }
        let midway = lines(try transcript(ledger, "live", "--as-of", String(seq - 1)))
        let shownPartial = try #require(midway.first { $0["utterance"] as? String == utterance })
        #expect(shownPartial["final"] as? Bool == false)
        #expect(shownPartial["seq"] as? Int == latestPartial?["seq"] as? Int)
        #expect(midway.filter { $0["final"] as! Bool }.count == 2)
        let text = try ledger.callLedger("transcript", "live", "--as-of", String(seq - 1)).stdout
        #expect(text.contains("[partial]"))
        let after = lines(try transcript(ledger, "live", "--as-of", String(seq)))
        #expect(after.first { $0["utterance"] as? String == utterance }?["final"] as? Bool == true)
    }

    @Test func piiSpansOpenWithTheirKeysAndAreRedactedOnRequestOrWithoutKeys() throws {
        let ledger = try CLILedger()
        try ingest(ledger, "gladia-live", "gladia/live-stream-from-prerecorded.jsonl", ["--call", "live"])
        let people = try catted(ledger).filter { $0["type"] as? String == "transcript.segment" }
            .compactMap { ($0["body"] as! [String: Any])["text"] as? [[String: Any]] }.joined()
            .filter { $0["pii"] as? String == "person" }.map { $0["text"] as! String }
        let name = try #require(people.first)
        let opened = try ledger.callLedger("transcript", "live").stdout
        #expect(opened.contains(name) && !opened.contains("[REDACTED:person]"))
        let redacted = try ledger.callLedger("transcript", "live", "--redacted").stdout
        #expect(!redacted.contains(name) && redacted.contains("[REDACTED:person]"))
        try FileManager.default.moveItem(atPath: ledger.directory + ".key", toPath: ledger.scratch.file("away.key"))
        let locked = try ledger.callLedger("transcript", "live").stdout
        #expect(!locked.contains(name) && locked.contains("[LOCKED:person]") && !locked.contains("[REDACTED:person]"))
    }

    @Test func contactRecordsGiveTheCallListTheirNewestVersion() throws {
        let file = "connect/ctr-stream.jsonl"
        let records = try String(contentsOf: Repository.fixture(file), encoding: .utf8).split(separator: "\n")
            .map { try jsonObject($0) }
        var newest: [String: [String: Any]] = [:]
        for record in records {
            let id = record["ContactId"] as! String
            if (newest[id]?["LastUpdateTimestamp"] as? String ?? "") < record["LastUpdateTimestamp"] as! String {
                newest[id] = record
            }
        }
        let ledger = try CLILedger()
        try ingest(ledger, "connect-ctr", file)
        let listed = try jsonArray(try ledger.callLedger("calls", "--json").stdout)
        #expect(Set(listed.map { $0["call"] as! String }) == Set(newest.keys))
        for call in listed {
            let record = newest[call["call"] as! String]!
            let agent = record["Agent"] as? [String: Any]
            #expect(call["agent"] as? String == agent?["Username"] as? String ?? agent?["ARN"] as? String)
            #expect(call["queue"] as? String == (record["Queue"] as? [String: Any])?["Name"] as? String)
            let start = try #require(parse(record["InitiationTimestamp"] as? String))
            let end = try #require(parse(record["DisconnectTimestamp"] as? String))
            #expect(call["duration_ms"] as? Int == Int((end - start) * 1000))
        }
        let table = try ledger.callLedger("calls").stdout
        #expect(table.hasPrefix("CALL\tSTARTED\tDURATION\tAGENT\tQUEUE\tSEGMENTS\n"))
    }

    @Test func projectAndRebuildReportTheirWorkAndBadRequestsFailClearly() throws {
        let ledger = try CLILedger()
        try ingest(ledger, "gladia", "gladia/prerecorded-result.json", ["--call", "g1"])
        let first = try jsonArray(try ledger.callLedger("project", "--json").stdout)[0]
        #expect(first["rebuilt"] as? Bool == true && first["to_seq"] as? Int == first["events"] as? Int)
        let again = try jsonArray(try ledger.callLedger("project", "--json").stdout)[0]
        #expect(again["rebuilt"] as? Bool == false && again["events"] as? Int == 0)
        let rebuilt = try jsonArray(try ledger.callLedger("rebuild", "transcript", "--json").stdout)[0]
        #expect(rebuilt["rebuilt"] as? Bool == true && rebuilt["events"] as? Int == first["events"] as? Int)
        for key in ["read_seconds", "decode_seconds", "apply_seconds", "events_per_second"] {
            #expect(rebuilt[key] is Double || rebuilt[key] is Int, "\(key)")
        }

        let unknownCall = try ledger.callLedger("transcript", "no-such-call")
        #expect(unknownCall.status == 1 && unknownCall.stderr.contains("no transcript events for call 'no-such-call'"))
        let unknownProjection = try ledger.callLedger("rebuild", "qa-scores")
        #expect(unknownProjection.status != 0 && unknownProjection.stderr.contains("unknown projection 'qa-scores'"))
        let badFormat = try ledger.callLedger("transcript", "g1", "--format", "pdf")
        #expect(badFormat.status != 0 && badFormat.stderr.contains("pdf"))
        let badAsOf = try ledger.callLedger("transcript", "g1", "--as-of", "yesterday")
        #expect(badAsOf.status != 0 && badAsOf.stderr.contains("yesterday"))
    }
}

/// A JSON array of objects.
private func jsonArray(_ text: String) throws -> [[String: Any]] {
    try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [[String: Any]]
}

/// Seconds since the epoch of an ISO 8601 time, with or without fractional seconds.
private func parse(_ text: String?) -> Double? {
    guard let text else { return nil }
    let formatter = ISO8601DateFormatter()
    if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: text)?.timeIntervalSince1970
}

@Suite struct DocumentedSampleTests {
    /// Every server message example of Gladia's live AsyncAPI spec is accepted; the kinds CallLedger records
    /// become their events, and the transcript shows the example's final utterance.
    @Test func gladiaLiveSpecExamplesAreAcceptedAsACapture() throws {
        let examples = try fixtureJSON("gladia/live-ws-message-examples.json")["messages"] as! [[String: Any]]
        let server = examples.map { $0["payload"] as! [String: Any] }.filter { $0["session_id"] != nil }
        let messages = try server.map {
            String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self)
        }
        let ledger = try CLILedger()
        let capture = ledger.scratch.file("examples.jsonl")
        try (messages.joined(separator: "\n") + "\n").write(toFile: capture, atomically: true, encoding: .utf8)
        let result = try ledger.callLedger("ingest", "--from", "gladia-live", "--call", "spec", capture)
        #expect(result.status == 0, "\(result.stderr)")
        func count(_ type: String) -> Int { server.count { $0["type"] as? String == type } }
        let events = try catted(ledger)
        #expect(events.count { $0["type"] as? String == "transcript.segment" } == count("transcript"))
        #expect(events.count { $0["type"] as? String == "audio.fragment.received" } == count("audio_chunk"))
        let utterance = (server.first { $0["type"] as? String == "transcript" }!["data"] as! [String: Any])["utterance"]
        let text = (utterance as! [String: Any])["text"] as! String
        let shown = lines(try transcript(ledger, "spec"))
        #expect(shown.count == 1 && (shown[0]["text"] as? String)?.trimmingCharacters(in: .whitespaces) == text)
    }

    /// Published samples that are not transcription results (Gladia's upload and job-creation responses, the
    /// Post-Call Analytics parsed format) are rejected with the file and the missing member, appending nothing.
    @Test(arguments: [
        ("gladia", "gladia/upload-response.json", "result"),
        ("gladia", "gladia/prerecorded-initiate-response.json", "result"),
        ("transcribe-ca", "transcribe-call-analytics/pca-parsed-output-testfile.json", "Transcript"),
    ])
    func samplesThatAreNotResultsAreRejectedWithTheirPath(kind: String, file: String, member: String) throws {
        let ledger = try CLILedger()
        let before = try ledger.verified()
        let result = try ledger.callLedger("ingest", "--from", kind, "--call", "x", Repository.fixture(file).path)
        #expect(result.status == 2)
        #expect(result.stderr.contains(file) && result.stderr.contains("\(member): required field is missing"))
        let after = try ledger.verified()
        #expect(after.events == before.events && after.root == before.root)
    }
}
