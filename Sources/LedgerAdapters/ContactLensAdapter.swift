// Amazon Connect Contact Lens output → transcript segments and enrichment. The post-call analysis file
// (`Version` VOICE-2022-11-30 or 1.1.0: `Participants`, `Transcript[]` by ParticipantId, `Categories`,
// `ConversationCharacteristics`), and the real-time segment stream (events with `EventType` STARTED,
// SEGMENTS, COMPLETED, FAILED; as a JSON array or one event per line), whose `Utterance` segments are partial
// pieces of the `Transcript` segment that finalises them.
public import Foundation

/// Reads Contact Lens post-call analysis output or real-time segment stream events.
public enum ContactLensAdapter: InputAdapter {
    /// `contact-lens`.
    public static let kind = "contact-lens"
    /// What it reads.
    public static let summary =
        "Amazon Connect Contact Lens post-call analysis file (Participants, Transcript[], Categories, "
        + "ConversationCharacteristics) or real-time segment stream events (EventType STARTED/SEGMENTS/COMPLETED/"
        + "FAILED), detected from the content"
    /// The provider named in the events.
    static let provider = "amazon-connect-contact-lens"

    /// The events of one post-call file or real-time capture.
    public static func read(_ data: Data, options: IngestOptions) throws(AdapterError) -> AdapterOutput {
        let messages = try JSONCursor.messages(data, file: options.file)
        if messages.count == 1, case .success(let document) = messages[0], document["Participants"] != nil,
            document["Transcript"] != nil
        {
            return try postCallEvents(document, options)
        }
        return realTimeEvents(messages, options)
    }

    /// The events of a post-call analysis file; unreadable enrichments are left out with a warning.
    static func postCallEvents(_ document: JSONCursor, _ options: IngestOptions) throws(AdapterError) -> AdapterOutput {
        if let status = document["JobStatus"], try status.string() != "COMPLETED" {
            throw status.fail("the analysis is \(try status.string()), not COMPLETED")
        }
        let contactID = try document["CustomerMetadata"]?["ContactId"]?.string()
        guard let call = options.call ?? contactID else {
            throw document.fail("the file has no CustomerMetadata.ContactId: pass --call ID")
        }
        var roles: [String: String] = [:]
        for participant in try document.required("Participants").elements() {
            let role = try participant.required("ParticipantRole")
            guard ["AGENT", "CUSTOMER"].contains(try role.string()) else {
                throw role.fail("must be AGENT or CUSTOMER")
            }
            roles[try participant.required("ParticipantId").string()] = try role.string().lowercased()
        }
        let language = try document["LanguageCode"]?.string()
        var events: [[UInt8]] = []
        var warnings = Warnings()
        func emit(_ type: String, _ key: String, _ body: [String: Any]) throws(AdapterError) {
            events.append(
                try InterchangeEvent.make(
                    type: type, call: call, tenant: options.tenant, source: "contact-lens/post-call",
                    idempotency: "contact-lens:\(call):\(key)", body: body, file: options.file))
        }
        // Turn ids are not unique in every published sample, so a turn is keyed by its place in the file.
        for (index, turn) in try document.required("Transcript").elements().enumerated() {
            let id = "turn-\(index)"
            let participant = try turn.required("ParticipantId")
            guard let role = roles[try participant.string()] else {
                throw participant.fail(
                    "names no participant of Participants (\(roles.keys.sorted().joined(separator: ", ")))")
            }
            try turnEvents(turn, id: id, key: id, role: role, language: language, &warnings, emit)
            if let loudness = turn["LoudnessScore"],
                let values = warnings.optional({ () throws(AdapterError) in
                    try TranscribeCallAnalyticsAdapter.loudnessValues(loudness)
                })
            {
                try emit(
                    "enrichment.result", "\(id):loudness",
                    [
                        "kind": "loudness", "provider": provider, "utterances": [id],
                        "start_ms": try offset(turn, "BeginOffsetMillis"),
                        "end_ms": try offset(turn, "EndOffsetMillis"),
                        "result": ["values": values],
                    ])
            }
        }
        if let categories = document["Categories"],
            let body = warnings.optional({ () throws(AdapterError) in try categoryBody(categories) })
        {
            try emit("enrichment.result", "categories", body)
        }
        if let characteristics = document["ConversationCharacteristics"],
            let metrics = warnings.optional({ () throws(AdapterError) in
                try TranscribeCallAnalyticsAdapter.metrics(of: characteristics)
            })
        {
            try emit(
                "enrichment.result", "characteristics",
                ["kind": "characteristics", "provider": provider, "result": ["metrics": metrics]])
        }
        return AdapterOutput(events: events, warnings: warnings.errors)
    }

    /// The events of real-time segment stream events. Each event is independent: one that cannot be read is
    /// rejected (with its line) and the others are kept.
    static func realTimeEvents(
        _ messages: [Result<JSONCursor, AdapterError>], _ options: IngestOptions
    ) -> AdapterOutput {
        var output = AdapterOutput()
        var seen: Set<String> = []
        for result in messages {
            var warnings = Warnings()
            do throws(AdapterError) {
                let message = try result.get()
                let digest = try message.contentDigest()
                guard !seen.contains(digest) else { continue }
                output.events += try realTimeEvents(message, options, &warnings)
                seen.insert(digest)
                output.warnings += warnings.errors
            } catch {
                output.rejected.append(error)
            }
        }
        return output
    }

    /// The events of one real-time segment stream event.
    static func realTimeEvents(
        _ message: JSONCursor, _ options: IngestOptions, _ warnings: inout Warnings
    ) throws(AdapterError) -> [[UInt8]] {
        var events: [[UInt8]] = []
        let contactID = try message.required("ContactId").string()
        let call = options.call ?? contactID
        let language = try message["LanguageCode"]?.string()
        func emit(_ type: String, _ key: String, _ body: [String: Any]) throws(AdapterError) {
            events.append(
                try InterchangeEvent.make(
                    type: type, call: call, tenant: options.tenant, source: "contact-lens/real-time",
                    idempotency: "contact-lens-rt:\(call):\(key)", body: body, file: options.file))
        }
        let eventType = try message.required("EventType")
        let state: String
        switch try eventType.string() {
        case "STARTED": state = "started"
        case "COMPLETED": state = "ended"
        case "FAILED": state = "failed"
        case "SEGMENTS":
            for segment in try message.required("Segments").elements() {
                try segmentEvents(segment, language: language, &warnings, emit)
            }
            return events
        default: throw eventType.fail("must be STARTED, SEGMENTS, COMPLETED or FAILED")
        }
        try emit(
            "transcription.session", "session:\(state)",
            ["provider": provider, "session": contactID, "state": state])
        return events
    }

    /// The events of one real-time segment: an `Utterance` (a partial piece of its transcript), a `Transcript`
    /// (the final of its id) or `Categories`.
    static func segmentEvents(
        _ segment: JSONCursor, language: String?, _ warnings: inout Warnings,
        _ emit: (String, String, [String: Any]) throws(AdapterError) -> Void
    ) throws(AdapterError) {
        if let utterance = segment["Utterance"] {
            let transcript = try utterance.required("TranscriptId").string()
            var body: [String: Any] = [
                "utterance": transcript, "final": false, "role": try role(utterance),
                "start_ms": try offset(utterance, "BeginOffsetMillis"),
                "end_ms": try offset(utterance, "EndOffsetMillis"),
                "provider": provider, "text": try text(utterance, "PartialContent"),
            ]
            if let language { body["language"] = language }
            try emit(
                "transcript.segment",
                "utterance:\(try utterance.required("Id").string()):\(try utterance.contentDigest())", body)
        } else if let transcript = segment["Transcript"] {
            // The published sample gives the agent's and the customer's transcript the same placeholder id.
            let id = try transcript.required("Id").string()
            let key = "transcript:\(id):\(try transcript.required("ParticipantId").string())"
            try turnEvents(
                transcript, id: id, key: key, role: try role(transcript), language: language, &warnings, emit)
        } else if let categories = segment["Categories"] {
            try emit("enrichment.result", "categories:\(try categories.contentDigest())", try categoryBody(categories))
        } else {
            throw segment.fail(
                "holds no Utterance, Transcript or Categories; its members are "
                    + (try segment.memberNames()).joined(separator: ", "))
        }
    }

    /// The final segment of a post-call turn or real-time transcript (utterance `id`, idempotency keys starting
    /// with `key`), with its sentiment and its issues, outcomes and action items.
    static func turnEvents(
        _ turn: JSONCursor, id: String, key: String, role: String, language: String?, _ warnings: inout Warnings,
        _ emit: (String, String, [String: Any]) throws(AdapterError) -> Void
    ) throws(AdapterError) {
        let start = try offset(turn, "BeginOffsetMillis")
        let end = try offset(turn, "EndOffsetMillis")
        var body: [String: Any] = [
            "utterance": id, "final": true, "role": role, "start_ms": start, "end_ms": end, "provider": provider,
            "text": try text(turn, "Content"),
        ]
        if let language { body["language"] = language }
        try emit("transcript.segment", key, body)
        let range: [String: Any] = ["utterances": [id], "start_ms": start, "end_ms": end, "provider": provider]
        if let sentiment = warnings.optional({ () throws(AdapterError) in try turn["Sentiment"]?.string() }),
            let sentiment
        {
            try emit(
                "enrichment.result", "\(key):sentiment",
                range.merging(["kind": "sentiment", "result": ["label": sentiment]]) { $1 })
        }
        let content = Array(try turn.required("Content").string())
        for (field, kind) in [
            ("IssuesDetected", "issue"), ("OutcomesDetected", "outcome"), ("ActionItemsDetected", "action_item"),
        ] {
            guard let detected = turn[field],
                let entities = warnings.optional({ () throws(AdapterError) in
                    try detected.elements().map { item throws(AdapterError) -> [String: Any] in
                        let (begin, finish) = try TranscribeStreamAdapter.characterOffsets(
                            item.required("CharacterOffsets"), within: content.count)
                        // Contact Lens also writes the text; it is kept as written (one published sample's offsets
                        // are one character short of it).
                        let text = try item["Text"]?.string() ?? String(content[begin..<finish])
                        return [
                            "type": kind, "text": text, "utterance": id, "begin_offset": begin,
                            "end_offset": finish,
                        ]
                    }
                }), !entities.isEmpty
            else { continue }
            try emit(
                "enrichment.result", "\(key):\(kind)",
                range.merging(["kind": kind, "result": ["entities": entities]]) { $1 })
        }
    }

    /// A turn's text: `[PII]` placeholders of redacted output as pii spans. Raw output marks what it would
    /// redact only by time (`Redaction.RedactedTimestamps`), which cannot be mapped to characters without
    /// word times, so such a turn is sealed whole as one `pii.unspecified` span rather than left as content.
    static func text(_ turn: JSONCursor, _ key: String) throws(AdapterError) -> Any {
        let content = try turn.required(key).string()
        let redacted = try turn["Redaction"]?["RedactedTimestamps"]?.elements().isEmpty == false
        if redacted && !content.contains(TranscribeCallAnalyticsAdapter.placeholder) {
            return [["text": content, "pii": TranscribeCallAnalyticsAdapter.redactedKind]]
        }
        return TranscribeCallAnalyticsAdapter.redactedSpans(content)
    }

    /// The role of a segment's `ParticipantRole` (`AGENT`, `CUSTOMER`), or `unknown` (SUPERVISOR, SYSTEM...).
    static func role(_ segment: JSONCursor) throws(AdapterError) -> String {
        switch try segment["ParticipantRole"]?.string() {
        case "AGENT": "agent"
        case "CUSTOMER": "customer"
        default: "unknown"
        }
    }

    /// A required millisecond offset.
    static func offset(_ cursor: JSONCursor, _ name: String) throws(AdapterError) -> Int64 {
        try TranscribeCallAnalyticsAdapter.millisecondsField(cursor.required(name))
    }

    /// A `category` enrichment of `{MatchedCategories, MatchedDetails: {name: {PointsOfInterest}}}`.
    static func categoryBody(_ categories: JSONCursor) throws(AdapterError) -> [String: Any] {
        let names = try categories.required("MatchedCategories").elements().map { name throws(AdapterError) in
            try name.string()
        }
        var points: [[String: Any]] = []
        for name in try categories["MatchedDetails"]?.memberNames() ?? [] {
            for point in try categories.required("MatchedDetails").required(name)["PointsOfInterest"]?.elements() ?? []
            {
                points.append([
                    "type": name, "start_ms": try offset(point, "BeginOffsetMillis"),
                    "end_ms": try offset(point, "EndOffsetMillis"),
                ])
            }
        }
        return ["kind": "category", "provider": provider, "result": ["names": names, "entities": points]]
    }
}
