// Amazon Transcribe Call Analytics post-call output → transcript segments (one per turn, role from
// ParticipantRole) and enrichment results: sentiment and loudness per turn, issues, outcomes and action
// items (by character offsets), matched categories, and conversation characteristics. `[PII]` placeholders
// of the redacted output become pii spans, so the transcript shows where personal data was.
public import Foundation

/// Reads Transcribe Call Analytics post-call output.
public enum TranscribeCallAnalyticsAdapter: InputAdapter {
    /// `transcribe-ca`.
    public static let kind = "transcribe-ca"
    /// What it reads.
    public static let summary =
        "Amazon Transcribe Call Analytics post-call output (Transcript[], Categories, ConversationCharacteristics); "
        + "the real-time UtteranceEvent stream is transcribe-stream"
    /// The placeholder Transcribe writes where it redacted personal data.
    static let placeholder = "[PII]"
    /// The PII kind given to redacted spans, whose kind the output does not say.
    static let redactedKind = "unspecified"

    /// The events of one Call Analytics output file. The transcript (turn ids, roles, times, content) must be
    /// readable; an enrichment that is not (words, sentiment, loudness, issues, outcomes, action items,
    /// categories, characteristics) is left out with a warning.
    public static func read(_ data: Data, options: IngestOptions) throws(AdapterError) -> AdapterOutput {
        try collected(data, options: options)
    }

    /// The events of one Call Analytics output file, one turn at a time as the transcript is read.
    public static func stream(
        _ data: Data, options: IngestOptions, emit: (_ event: [UInt8]) throws(AdapterError) -> Void
    ) throws(AdapterError) -> AdapterReport {
        // The turns (nearly all of a large output) are parsed one at a time.
        let (document, deferred) = try JSONCursor.parse(
            data, file: options.file, deferringArraysAt: [["Transcript"]])
        if let status = document["JobStatus"], try status.string() != "COMPLETED" {
            throw status.fail("the job is \(try status.string()), not COMPLETED")
        }
        let jobName = try document["JobName"]?.string()
        guard let call = options.call ?? jobName else {
            throw document.fail("the output has no JobName: pass --call ID")
        }
        let scope = InterchangeEvent.scope(jobName ?? call, call: call)
        let language = try document["LanguageCode"]?.string()
        // Offsets of the earlier schema come in two sets; the content is redacted when the output says so.
        let redactedOutput = document["ContentMetadata"]?["Output"]?.value as? String == "Redacted"
        let source = "transcribe-call-analytics/1"
        var warnings = Warnings()
        func emitEvent(_ type: String, _ key: String, _ body: [String: Any]) throws(AdapterError) {
            try emit(
                try InterchangeEvent.make(
                    type: type, call: call, tenant: options.tenant, source: source,
                    idempotency: "tca:\(scope):\(key)", body: body, file: options.file))
        }
        let listed = try document.required("Transcript")
        try LazyElements.deferred(deferred, or: listed).forEach { _, turn throws(AdapterError) in
            let id = try turn.required("Id").string()
            let role = try turn.required("ParticipantRole").string()
            guard role == "AGENT" || role == "CUSTOMER" else {
                throw try turn.required("ParticipantRole").fail("must be AGENT or CUSTOMER")
            }
            let content = try turn.required("Content").string()
            let start = try millisecondsField(turn.required("BeginOffsetMillis"))
            let end = try millisecondsField(turn.required("EndOffsetMillis"))
            var body: [String: Any] = [
                "utterance": id, "final": true, "role": role.lowercased(), "start_ms": start, "end_ms": end,
                "provider": "amazon-transcribe", "model": "call-analytics", "text": redactedSpans(content),
            ]
            if let language { body["language"] = language }
            if let items = turn["Items"], let words = warnings.optional({ () throws(AdapterError) in try words(items) })
            {
                body["words"] = words
            }
            try emitEvent("transcript.segment", "turn:\(id)", body)
            if let sentiment = warnings.optional({ () throws(AdapterError) in try turn["Sentiment"]?.string() }),
                let sentiment
            {
                try emitEvent(
                    "enrichment.result", "turn:\(id):sentiment",
                    [
                        "kind": "sentiment", "provider": "amazon-transcribe", "utterances": [id], "start_ms": start,
                        "end_ms": end, "result": ["label": sentiment],
                    ])
            }
            if let loudness = turn["LoudnessScores"],
                let values = warnings.optional({ () throws(AdapterError) in try loudnessValues(loudness) })
            {
                try emitEvent(
                    "enrichment.result", "turn:\(id):loudness",
                    [
                        "kind": "loudness", "provider": "amazon-transcribe", "utterances": [id], "start_ms": start,
                        "end_ms": end, "result": ["values": values],
                    ])
            }
            for (field, kind) in [
                ("IssuesDetected", "issue"), ("OutcomesDetected", "outcome"), ("ActionItemsDetected", "action_item"),
            ] {
                guard let detected = turn[field],
                    let entities = warnings.optional({ () throws(AdapterError) in
                        try detectedEntities(
                            detected, kind: kind, utterance: id, content: content,
                            redacted: redactedOutput || content.contains(placeholder))
                    }), !entities.isEmpty
                else { continue }
                try emitEvent(
                    "enrichment.result", "turn:\(id):\(kind)",
                    [
                        "kind": kind, "provider": "amazon-transcribe", "utterances": [id],
                        "result": ["entities": entities],
                    ])
            }
        }
        if let categories = document["Categories"],
            let result = warnings.optional({ () throws(AdapterError) in try categoryResult(categories) })
        {
            try emitEvent(
                "enrichment.result", "categories",
                ["kind": "category", "provider": "amazon-transcribe", "result": result])
        }
        if let characteristics = document["ConversationCharacteristics"],
            let metrics = warnings.optional({ () throws(AdapterError) in try metrics(of: characteristics) })
        {
            try emitEvent(
                "enrichment.result", "characteristics",
                ["kind": "characteristics", "provider": "amazon-transcribe", "result": ["metrics": metrics]])
        }
        return AdapterReport(warnings: warnings.errors)
    }

    /// The words of a turn's `Items`.
    static func words(_ items: JSONCursor) throws(AdapterError) -> [[String: Any]] {
        try items.elements().map { item throws(AdapterError) -> [String: Any] in
            let word = try item.required("Content").string()
            var entry: [String: Any] = ["word": word]
            if let type = try item["Type"]?.string() { entry["type"] = type }
            if let begin = item["BeginOffsetMillis"] { entry["start_ms"] = try millisecondsField(begin) }
            if let finish = item["EndOffsetMillis"] { entry["end_ms"] = try millisecondsField(finish) }
            if let confidence = try item["Confidence"]?.number(in: 0...1), entry["type"] as? String != "punctuation" {
                entry["confidence"] = confidence
            }
            if word.contains(placeholder) { entry["pii"] = redactedKind }
            return entry
        }
    }

    /// The loudness scores of a turn (nulls, which Transcribe writes for silent seconds, left out).
    static func loudnessValues(_ loudness: JSONCursor) throws(AdapterError) -> [Double] {
        var values: [Double] = []
        for value in try loudness.elements() where !value.isNull { values.append(try value.number(in: -1e15...1e15)) }
        return values
    }

    /// The issues, outcomes or action items of a turn, each with its text cut from the turn's content.
    static func detectedEntities(
        _ detected: JSONCursor, kind: String, utterance: String, content: String, redacted: Bool
    ) throws(AdapterError) -> [[String: Any]] {
        let characters = Array(content)
        return try detected.elements().map { item throws(AdapterError) -> [String: Any] in
            let (begin, finish) = try TranscribeStreamAdapter.characterOffsets(
                offsetsMember(item, redacted: redacted), within: characters.count)
            return [
                "type": kind, "text": String(characters[begin..<finish]), "utterance": utterance,
                "begin_offset": begin, "end_offset": finish,
            ]
        }
    }

    /// The character offsets of a detected item: `CharacterOffsets`, or in the earlier schema the
    /// `RedactedCharacterOffsets` (of redacted content, as in a `Redacted` output) or `UnredactedCharacterOffsets`
    /// (of the original), whichever matches the content, else the other.
    static func offsetsMember(_ item: JSONCursor, redacted: Bool) throws(AdapterError) -> JSONCursor {
        if let offsets = item["CharacterOffsets"] { return offsets }
        let preferred = redacted ? "RedactedCharacterOffsets" : "UnredactedCharacterOffsets"
        let other = redacted ? "UnredactedCharacterOffsets" : "RedactedCharacterOffsets"
        if let offsets = item[preferred] ?? item[other] { return offsets }
        return try item.required("CharacterOffsets")
    }

    /// The `category` result of `Categories`: the matched names and their points of interest.
    static func categoryResult(_ categories: JSONCursor) throws(AdapterError) -> [String: Any] {
        let listed =
            try categories["MatchedCategories"]?.elements().map { name throws(AdapterError) in
                try name.string()
            } ?? []
        // A name listed twice is one match: its points are read once, so the result never outgrows the input.
        var seen: Set<String> = []
        let names = listed.filter { seen.insert($0).inserted }
        var points: [[String: Any]] = []
        for name in names {
            for point in try categories["MatchedDetails"]?[name]?["PointsOfInterest"]?.elements() ?? [] {
                points.append([
                    "type": name, "start_ms": try millisecondsField(point.required("BeginOffsetMillis")),
                    "end_ms": try millisecondsField(point.required("EndOffsetMillis")),
                ])
            }
        }
        return ["names": names, "entities": points]
    }

    /// A millisecond offset, which Transcribe writes as an integer.
    static func millisecondsField(_ cursor: JSONCursor) throws(AdapterError) -> Int64 {
        let value = try cursor.number()
        guard value >= 0, value < 1e12, let whole = Int64(exactly: value) else {
            throw cursor.fail("must be a whole, non-negative number of milliseconds")
        }
        return whole
    }

    /// The conversation characteristics as named numbers (`talk_time.agent_ms`, `sentiment.overall.customer`...).
    static func metrics(of characteristics: JSONCursor) throws(AdapterError) -> [String: Double] {
        var metrics: [String: Double] = [:]
        if let total = characteristics["TotalConversationDurationMillis"] {
            metrics["total_ms"] = try total.number(in: -1e15...1e15)
        }
        if let nonTalk = characteristics["NonTalkTime"] {
            metrics["non_talk_ms"] = try nonTalk["TotalTimeMillis"]?.number(in: -1e15...1e15)
            metrics["non_talk_count"] = Double(try nonTalk["Instances"]?.elements().count ?? 0)
        }
        if let interruptions = characteristics["Interruptions"] {
            metrics["interruptions_count"] = try interruptions["TotalCount"]?.number(in: -1e15...1e15)
            metrics["interruptions_ms"] = try interruptions["TotalTimeMillis"]?.number(in: -1e15...1e15)
            for role in ["AGENT", "CUSTOMER"] {
                if let by = interruptions["InterruptionsByInterrupter"]?[role] {
                    metrics["interruptions_by_\(role.lowercased())"] = Double(try by.elements().count)
                }
            }
        }
        for role in ["AGENT", "CUSTOMER"] {
            let lower = role.lowercased()
            metrics["talk_time.\(lower)_ms"] =
                try characteristics["TalkTime"]?["DetailsByParticipant"]?[role]?["TotalTimeMillis"]?.number(
                    in: -1e15...1e15)
            metrics["talk_speed.\(lower)_wpm"] =
                try characteristics["TalkSpeed"]?["DetailsByParticipant"]?[role]?["AverageWordsPerMinute"]?.number(
                    in: -1e15...1e15)
            metrics["sentiment.overall.\(lower)"] =
                try characteristics["Sentiment"]?["OverallSentiment"]?[role]?.number(in: -1e15...1e15)
            for (index, period) in try
                (characteristics["Sentiment"]?["SentimentByPeriod"]?["QUARTER"]?[role]?.elements() ?? [])
                .enumerated()
            {
                metrics["sentiment.quarter\(index + 1).\(lower)"] = try period.required("Score").number(
                    in: -1e15...1e15)
            }
        }
        return metrics.compactMapValues { $0 }
    }

    /// The content as one string, or as spans with each `[PII]` placeholder marked as a redacted pii span.
    static func redactedSpans(_ content: String) -> Any {
        guard content.contains(placeholder) else { return content }
        // One pass over the content (the standard library's search, linear in its length).
        var spans: [[String: Any]] = []
        var start = content.startIndex
        for range in content.ranges(of: placeholder) {
            if range.lowerBound > start { spans.append(["text": String(content[start..<range.lowerBound])]) }
            spans.append(["text": placeholder, "pii": redactedKind])
            start = range.upperBound
        }
        if start < content.endIndex { spans.append(["text": String(content[start...])]) }
        return spans
    }
}
