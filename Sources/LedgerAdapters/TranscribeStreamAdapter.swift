// Amazon Transcribe streaming result events, one per line: Call Analytics `UtteranceEvent` (partials and finals
// of each utterance id, role from ParticipantRole, PII `Entities`, sentiment, issues) and `CategoryEvent`, and
// plain streaming `TranscriptEvent` results (partials and finals of each ResultId, by channel). Each event may
// be bare, wrapped in its result stream (`CallAnalyticsTranscriptResultStream` / `TranscriptResultStream`),
// or a Chime SDK media insights record (`metadata.callId`, `time`). Stream exceptions end the session as failed.
public import Foundation

/// Reads a capture of Amazon Transcribe streaming result events (Call Analytics or plain).
public enum TranscribeStreamAdapter: InputAdapter {
    /// `transcribe-stream`.
    public static let kind = "transcribe-stream"
    /// What it reads.
    public static let summary =
        "Amazon Transcribe streaming result events, one JSON object per line: Call Analytics UtteranceEvent and "
        + "CategoryEvent (real-time Call Analytics; the post-call file is transcribe-ca), or plain TranscriptEvent"
    /// The exceptions a result stream can end with.
    static let exceptions: Set<String> = [
        "BadRequestException", "ConflictException", "InternalFailureException", "LimitExceededException",
        "ServiceUnavailableException",
    ]

    /// A PII entity Transcribe found, with its times in milliseconds from the stream's start.
    struct Entity {
        var type: String
        var text: String
        var start: Int64?
        var end: Int64?
        var confidence: Double?
        var kind: String { type.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined() }
    }

    /// The events of one capture. Each result event is independent: one that cannot be read is rejected (with
    /// its line) and the others are kept.
    public static func read(_ data: Data, options: IngestOptions) throws(AdapterError) -> AdapterOutput {
        var output = AdapterOutput()
        var state = SessionState(options: options)
        for result in try JSONCursor.messages(data, file: options.file) {
            do throws(AdapterError) {
                let (events, warnings) = try state.add(result.get())
                output.events += events
                output.warnings += warnings
            } catch {
                output.rejected.append(error)
            }
        }
        return output
    }

    /// What a stream's result events so far have established: the events seen, the numbering of partials, and
    /// the call. A value: an event that fails leaves it unchanged.
    struct SessionState: Sendable {
        let options: IngestOptions
        /// Content digests of the result events read: one delivered twice is recorded once.
        var seen: Set<String> = []
        var partials: [String: Int] = [:]
        var call: String?

        init(options: IngestOptions) {
            self.options = options
            call = options.call
        }

        /// The events of one result event and the enrichments left out of them; none for a repeated one.
        mutating func add(_ line: JSONCursor) throws(AdapterError) -> (events: [[UInt8]], warnings: [AdapterError]) {
            let digest = try line.contentDigest()
            guard !seen.contains(digest) else { return ([], []) }
            var partials = self.partials
            var call = self.call
            var warnings = Warnings()
            let events = try TranscribeStreamAdapter.events(of: line, options, &partials, &call, &warnings)
            seen.insert(digest)
            self.partials = partials
            self.call = call
            return (events, warnings.errors)
        }
    }

    /// The events of one result event (a line of the capture).
    static func events(
        of line: JSONCursor, _ options: IngestOptions, _ partials: inout [String: Int], _ knownCall: inout String?,
        _ warnings: inout Warnings
    ) throws(AdapterError) -> [[UInt8]] {
        var events: [[UInt8]] = []
        let stream = line["CallAnalyticsTranscriptResultStream"] ?? line["TranscriptResultStream"] ?? line
        if knownCall == nil { knownCall = try line["metadata"]?["callId"]?.string() }
        guard let call = knownCall else {
            throw line.fail("the event names no call (no metadata.callId): pass --call ID")
        }
        let occurred = try line["time"]?.timestamp()
        func emit(_ type: String, _ key: String, _ body: [String: Any]) throws(AdapterError) {
            events.append(
                try InterchangeEvent.make(
                    type: type, call: call, tenant: options.tenant, source: "transcribe-streaming/1",
                    idempotency: "transcribe-stream:\(call):\(key)", occurred: occurred, body: body,
                    file: options.file))
        }
        if let utterance = stream["UtteranceEvent"] {
            try utteranceEvents(utterance, options, &partials, &warnings, emit)
        } else if let category = stream["CategoryEvent"] {
            var points: [[String: Any]] = []
            if let details = category["MatchedDetails"] {
                for name in try details.memberNames() {
                    for range in try details.required(name)["TimestampRanges"]?.elements() ?? [] {
                        points.append([
                            "type": name,
                            "start_ms": try TranscribeCallAnalyticsAdapter.millisecondsField(
                                range.required("BeginOffsetMillis")),
                            "end_ms": try TranscribeCallAnalyticsAdapter.millisecondsField(
                                range.required("EndOffsetMillis")),
                        ])
                    }
                }
            }
            let names = try category.required("MatchedCategories").elements().map {
                name throws(AdapterError) in try name.string()
            }
            try emit(
                "enrichment.result", "category:\(try category.contentDigest())",
                [
                    "kind": "category", "provider": "amazon-transcribe", "model": "call-analytics-streaming",
                    "result": ["names": names, "entities": points],
                ])
        } else if let transcript = stream["TranscriptEvent"] {
            for result in try transcript.required("Transcript").required("Results").elements() {
                try resultEvent(result, options, &partials, emit)
            }
        } else if let name = try stream.memberNames().first(where: exceptions.contains) {
            let message = try stream.required(name)["Message"]?.string()
            try emit(
                "transcription.session", "failed:\(try stream.contentDigest())",
                [
                    "provider": "amazon-transcribe", "session": call, "state": "failed",
                    "error": message.map { "\(name): \($0)" } ?? name,
                ])
        } else {
            throw stream.fail(
                "holds no UtteranceEvent, CategoryEvent, TranscriptEvent or stream exception; its members are "
                    + (try stream.memberNames()).joined(separator: ", "))
        }
        return events
    }

    /// The segment and enrichment of a Call Analytics `UtteranceEvent`.
    static func utteranceEvents(
        _ event: JSONCursor, _ options: IngestOptions, _ partials: inout [String: Int], _ warnings: inout Warnings,
        _ emit: (String, String, [String: Any]) throws(AdapterError) -> Void
    ) throws(AdapterError) {
        let id = try event.required("UtteranceId").string()
        let final = try !event.required("IsPartial").bool()
        let start = try TranscribeCallAnalyticsAdapter.millisecondsField(event.required("BeginOffsetMillis"))
        let end = try TranscribeCallAnalyticsAdapter.millisecondsField(event.required("EndOffsetMillis"))
        let role = try event["ParticipantRole"].map { cursor throws(AdapterError) in
            let role = try cursor.string()
            guard role == "AGENT" || role == "CUSTOMER" else { throw cursor.fail("must be AGENT or CUSTOMER") }
            return role.lowercased()
        }
        let entities = try piiEntities(event["Entities"], milliseconds: true)
        var body: [String: Any] = [
            "utterance": id, "final": final, "role": role ?? "unknown", "start_ms": start, "end_ms": end,
            "provider": "amazon-transcribe", "model": "call-analytics-streaming",
            "text": spans(try event.required("Transcript").string(), entities),
        ]
        if let language = try event["LanguageCode"]?.string() { body["language"] = language }
        if let items = event["Items"] { body["words"] = try words(items, entities, milliseconds: true) }
        let key = final ? "\(id):final" : "\(id):partial-\(partials[id, default: 0] + 1)"
        if !final { partials[id, default: 0] += 1 }
        try emit("transcript.segment", key, body)
        // Analytics of an utterance are those of its final; a partial's are superseded with it.
        guard final else { return }
        let range: [String: Any] = ["utterances": [id], "start_ms": start, "end_ms": end]
        if let sentiment = warnings.optional({ () throws(AdapterError) in try event["Sentiment"]?.string() }),
            let sentiment
        {
            try emit(
                "enrichment.result", "\(id):sentiment",
                range.merging(["kind": "sentiment", "provider": "amazon-transcribe", "result": ["label": sentiment]]) {
                    $1
                })
        }
        if !entities.isEmpty { try emit("enrichment.result", "\(id):pii", piiEnrichment(entities, id, start, end)) }
        let text = Array(try event.required("Transcript").string())
        let issues = warnings.optional { () throws(AdapterError) in
            try event["IssuesDetected"]?.elements().map { issue throws(AdapterError) -> [String: Any] in
                let (begin, finish) = try characterOffsets(issue.required("CharacterOffsets"), within: text.count)
                return [
                    "type": "issue", "text": String(text[begin..<finish]), "utterance": id, "begin_offset": begin,
                    "end_offset": finish,
                ]
            }
        }
        if let list = issues ?? nil, !list.isEmpty {
            try emit(
                "enrichment.result", "\(id):issue",
                range.merging(["kind": "issue", "provider": "amazon-transcribe", "result": ["entities": list]]) { $1 })
        }
    }

    /// The segment of one plain streaming `Result` (its first alternative).
    static func resultEvent(
        _ result: JSONCursor, _ options: IngestOptions, _ partials: inout [String: Int],
        _ emit: (String, String, [String: Any]) throws(AdapterError) -> Void
    ) throws(AdapterError) {
        let id = try result.required("ResultId").string()
        let final = try !result.required("IsPartial").bool()
        guard let alternative = try result.required("Alternatives").elements().first else {
            throw try result.required("Alternatives").fail("has no alternative")
        }
        let entities = try piiEntities(alternative["Entities"], milliseconds: false)
        let start = try result.required("StartTime").milliseconds()
        let end = try result.required("EndTime").milliseconds()
        var body: [String: Any] = [
            "utterance": id, "final": final, "start_ms": start, "end_ms": end, "provider": "amazon-transcribe",
            "text": spans(try alternative.required("Transcript").string(), entities),
        ]
        if let items = alternative["Items"] { body["words"] = try words(items, entities, milliseconds: false) }
        var number: Int?
        if let channel = try result["ChannelId"]?.string() {
            guard let parsed = Int(channel.drop { !$0.isNumber }), channel.hasPrefix("ch_") else {
                throw try result.required("ChannelId").fail("must be ch_<number>, got \"\(channel)\"")
            }
            number = parsed
            body["channel"] = parsed
        }
        body["role"] = number.flatMap { options.roles[$0] } ?? "unknown"
        if let language = try result["LanguageCode"]?.string() { body["language"] = language }
        let key = final ? "\(id):final" : "\(id):partial-\(partials[id, default: 0] + 1)"
        if !final { partials[id, default: 0] += 1 }
        try emit("transcript.segment", key, body)
        if final && !entities.isEmpty {
            try emit("enrichment.result", "\(id):pii", piiEnrichment(entities, id, start, end))
        }
    }

    /// A `pii` enrichment listing an utterance's entities, their text sealed as `pii.<kind>`.
    static func piiEnrichment(_ entities: [Entity], _ id: String, _ start: Int64, _ end: Int64) -> [String: Any] {
        let list = entities.map { entity -> [String: Any] in
            var item: [String: Any] = ["type": entity.type, "text": entity.text, "pii": entity.kind, "utterance": id]
            if let start = entity.start, let end = entity.end {
                item["start_ms"] = start
                item["end_ms"] = end
            }
            if let confidence = entity.confidence { item["confidence"] = confidence }
            return item
        }
        return [
            "kind": "pii", "provider": "amazon-transcribe", "utterances": [id], "start_ms": start, "end_ms": end,
            "result": ["entities": list],
        ]
    }

    /// Character offsets `{Begin, End}` (the API's names) or `{BeginOffsetChar, EndOffsetChar}` (the names in
    /// the documentation's examples and in Contact Lens output), checked against a text of `count` characters.
    static func characterOffsets(_ offsets: JSONCursor, within count: Int) throws(AdapterError) -> (Int, Int) {
        let begin = try offsets["Begin"] != nil ? offsets.required("Begin") : offsets.required("BeginOffsetChar")
        let end = try offsets["End"] != nil ? offsets.required("End") : offsets.required("EndOffsetChar")
        let range = (try begin.int(in: 0...count), try end.int(in: 0...count))
        guard range.0 <= range.1 else {
            throw offsets.fail("offsets \(range.0)...\(range.1) are outside the text's \(count) characters")
        }
        return range
    }

    /// The PII entities (Category `PII`) of an `Entities` array, with times in milliseconds (`BeginOffsetMillis`)
    /// or seconds (`StartTime`).
    static func piiEntities(_ cursor: JSONCursor?, milliseconds: Bool) throws(AdapterError) -> [Entity] {
        var entities: [Entity] = []
        for entity in try cursor?.elements() ?? [] where try entity["Category"]?.string() == "PII" {
            entities.append(
                Entity(
                    type: try entity.required("Type").string(), text: try entity.required("Content").string(),
                    start: try time(entity, milliseconds ? "BeginOffsetMillis" : "StartTime", milliseconds),
                    end: try time(entity, milliseconds ? "EndOffsetMillis" : "EndTime", milliseconds),
                    confidence: try entity["Confidence"]?.number(in: 0...1)))
        }
        return entities
    }

    /// An optional time member in milliseconds or seconds, as milliseconds.
    static func time(_ cursor: JSONCursor, _ name: String, _ milliseconds: Bool) throws(AdapterError) -> Int64? {
        guard let value = cursor[name] else { return nil }
        return milliseconds ? try TranscribeCallAnalyticsAdapter.millisecondsField(value) : try value.milliseconds()
    }

    /// The text with each entity's content (and each `[PII]` placeholder of redacted output) as a pii span.
    static func spans(_ text: String, _ entities: [Entity]) -> Any {
        let found = GladiaAdapter.textSpans(
            text, entities.map { GladiaAdapter.Entity(type: $0.type, text: $0.text, start: $0.start, end: $0.end) })
        guard let string = found as? String else { return found }
        return TranscribeCallAnalyticsAdapter.redactedSpans(string)
    }

    /// The words of an `Items` array, those inside a PII entity's times (or equal to its content) marked.
    static func words(
        _ items: JSONCursor, _ entities: [Entity], milliseconds: Bool
    ) throws(AdapterError) -> [[String: Any]] {
        try items.elements().map { item throws(AdapterError) -> [String: Any] in
            let content = try item.required("Content").string()
            var word: [String: Any] = ["word": content]
            let type = try (item["ItemType"] ?? item["Type"])?.string()
            if let type { word["type"] = type }
            let start = try time(item, milliseconds ? "BeginOffsetMillis" : "StartTime", milliseconds)
            let end = try time(item, milliseconds ? "EndOffsetMillis" : "EndTime", milliseconds)
            if let start { word["start_ms"] = start }
            if let end { word["end_ms"] = end }
            if let confidence = try item["Confidence"]?.number(in: 0...1), type != "punctuation" {
                word["confidence"] = confidence
            }
            let entity = entities.first { entity in
                if let start, let end, let entityStart = entity.start, let entityEnd = entity.end {
                    return entityStart < end && entityEnd > start
                }
                return entity.text.split(separator: " ").contains { $0 == content }
            }
            if let entity {
                word["pii"] = entity.kind
            } else if content.contains(TranscribeCallAnalyticsAdapter.placeholder) {
                word["pii"] = TranscribeCallAnalyticsAdapter.redactedKind
            }
            return word
        }
    }
}
