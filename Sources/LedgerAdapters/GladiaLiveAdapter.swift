// Gladia v2 live WebSocket messages (one per line, as received, or as live callback bodies) → transcript
// segments (partials and finals of each utterance id), audio chunk receipts, speech events, per-utterance
// sentiment, entities and translations, post-processing results, and session lifecycle events. Each message becomes its
// own events, keyed by the session id and what the message is about, so re-ingesting a capture appends nothing.
public import Foundation

/// Reads a capture of Gladia v2 live WebSocket messages.
public enum GladiaLiveAdapter: InputAdapter {
    /// `gladia-live`.
    public static let kind = "gladia-live"
    /// What it reads.
    public static let summary =
        "Gladia v2 live WebSocket messages or live callback bodies, one JSON object per line (transcript partials and "
        + "finals, audio_chunk acknowledgments, speech_start/end, sentiment and entities per utterance, "
        + "post_final_transcript, lifecycle); times are from the session's start"
    /// Message types that are read and deliberately not recorded: chapters and the aggregated `post_transcript`
    /// (whose utterances repeat the finals without their ids).
    static let unrecordedTypes: Set<String> = ["post_transcript", "post_chapterization"]

    /// One server message: its line's cursor, the unwrapped message, its type and creation time.
    struct Message {
        var cursor: JSONCursor
        var type: String
        var createdAt: String
        var data: JSONCursor?
        /// Whether a `transcript` message is final (nil for other types).
        var isFinal: Bool?
        /// The entities of a `named_entity_recognition` message, by utterance id.
        var entities: [String: [GladiaAdapter.Entity]] = [:]
    }

    /// The events of one capture. Each message is independent: one that cannot be read (or that belongs to
    /// another session) is rejected with its line, and the others are kept.
    public static func read(_ data: Data, options: IngestOptions) throws(AdapterError) -> AdapterOutput {
        var output = AdapterOutput()
        var state = SessionState(options: options)
        var messages: [Message] = []
        for result in try JSONCursor.messages(data, file: options.file) {
            do throws(AdapterError) {
                if let message = try state.accept(result.get()) { messages.append(message) }
            } catch {
                output.rejected.append(error)
            }
        }
        guard state.session != nil else {
            if let first = output.rejected.first { throw first }
            throw AdapterError(file: options.file, path: "", reason: "the capture holds no messages")
        }
        // The whole capture is at hand: every final is read with the entities found for its utterance, even those
        // of a later message.
        state.hasFinals = messages.contains { $0.isFinal == true }
        for message in messages {
            do throws(AdapterError) { output.events += try state.events(of: message) } catch {
                output.rejected.append(error)
            }
        }
        return output
    }

    /// What a session's messages so far have established: its id, the messages seen, the entities found per
    /// utterance, and the numbering of partials and finals. A value: a message that fails leaves it unchanged.
    struct SessionState: Sendable {
        /// The session's id and the line of its first message.
        struct Session: Sendable {
            var id: String
            var line: Int?
        }

        /// The final read for an utterance: its line and content digest.
        struct Final: Sendable {
            var line: Int?
            var digest: String
        }

        let options: IngestOptions
        var session: Session?
        /// Content digests of the messages accepted: a message delivered twice (a reconnect, a duplicated
        /// capture) is recorded once.
        var seen: Set<String> = []
        /// The entities of each utterance whose `named_entity_recognition` message has been read.
        var entities: [String: [GladiaAdapter.Entity]] = [:]
        /// The utterances whose `named_entity_recognition` message has been read (with or without entities).
        var recognized: Set<String> = []
        /// Whether a final `transcript` message is part of the session.
        var hasFinals = false
        var partials: [String: Int] = [:]
        var finals: [String: Final] = [:]

        init(options: IngestOptions) {
            self.options = options
        }

        /// The message of `line`, once its session is checked, or nil when it was already accepted. Its entities
        /// join the session's.
        mutating func accept(_ line: JSONCursor) throws(AdapterError) -> Message? {
            // A live callback body wraps the WebSocket message: {"id", "event": "live.<type>", "payload": {...}}.
            let cursor = line["event"] != nil ? try line.required("payload") : line
            let digest = try cursor.contentDigest()
            guard !seen.contains(digest) else { return nil }
            let sessionID = try cursor.required("session_id").string()
            if let session, session.id != sessionID {
                throw try cursor.required("session_id").fail(
                    "the capture mixes sessions: \(session.line.map { "line \($0)" } ?? "the first message") is "
                        + "session \(session.id); ingest each session's messages as their own file")
            }
            let message = try Self.message(cursor)
            seen.insert(digest)
            session = session ?? Session(id: sessionID, line: cursor.line)
            if message.type == "named_entity_recognition", message.cursor["error"] == nil {
                recognized.insert(try cursor.required("data").required("utterance_id").string())
            }
            for (id, found) in message.entities { entities[id, default: []] += found }
            if message.isFinal == true { hasFinals = true }
            return message
        }

        /// The message of `cursor` (an unwrapped server message), its type, time, finality and entities read.
        static func message(_ cursor: JSONCursor) throws(AdapterError) -> Message {
            var message = Message(
                cursor: cursor, type: try cursor.required("type").string(),
                createdAt: try cursor.required("created_at").timestamp(), data: cursor["data"])
            if message.type == "transcript" {
                message.isFinal = try cursor.required("data").required("is_final").bool()
            }
            if message.type == "named_entity_recognition" && cursor["error"] == nil {
                message.entities = try GladiaLiveAdapter.entities(of: cursor)
            }
            return message
        }

        /// The events of an accepted message; on failure the numbering is left as it was.
        mutating func events(of message: Message) throws(AdapterError) -> [[UInt8]] {
            guard let sessionID = session?.id else { return [] }
            let call = options.call ?? sessionID
            let scope = InterchangeEvent.scope(sessionID, call: call)
            let options = self.options
            var events: [[UInt8]] = []
            func emit(_ type: String, _ key: String, _ message: Message, _ body: [String: Any]) throws(AdapterError) {
                events.append(
                    try InterchangeEvent.make(
                        type: type, call: call, tenant: options.tenant, source: "gladia/v2-live",
                        idempotency: "gladia-live:\(scope):\(key)", occurred: message.createdAt, body: body,
                        file: options.file))
            }
            func lifecycle(_ message: Message, _ state: String, _ extra: [String: Any]) throws(AdapterError) {
                try emit(
                    "transcription.session", message.type, message,
                    ["provider": "gladia", "session": sessionID, "state": state].merging(extra) { $1 })
            }
            var partials = self.partials
            var finals = self.finals
            try GladiaLiveAdapter.events(
                of: message, session: sessionID, entities: entities, hasFinals: hasFinals, &partials, &finals,
                options, emit, lifecycle)
            self.partials = partials
            self.finals = finals
            return events
        }
    }

    /// The events of one message.
    static func events(
        of message: Message, session sessionID: String, entities: [String: [GladiaAdapter.Entity]], hasFinals: Bool,
        _ partials: inout [String: Int], _ finals: inout [String: SessionState.Final],
        _ options: IngestOptions, _ emit: (String, String, Message, [String: Any]) throws(AdapterError) -> Void,
        _ lifecycle: (Message, String, [String: Any]) throws(AdapterError) -> Void
    ) throws(AdapterError) {
        switch message.type {
        case "transcript":
            let data = try message.cursor.required("data")
            let id = try data.required("id").string()
            let final = try data.required("is_final").bool()
            let utterance = try data.required("utterance")
            let personal = (entities[id] ?? []).filter(\.personal)
            let body = try GladiaAdapter.segmentBody(
                utterance, id: id, final: final, personal: personal, model: nil, options)
            if final {
                let digest = try utterance.contentDigest()
                if let first = finals[id], first.digest != digest {
                    throw try data.required("is_final").fail(
                        "a second, different final for utterance \(id) (the first is on "
                            + "\(first.line.map { "line \($0)" } ?? "an earlier message"))")
                }
                finals[id] = SessionState.Final(line: message.cursor.line, digest: digest)
                try emit("transcript.segment", "\(id):final", message, body)
            } else {
                partials[id, default: 0] += 1
                try emit("transcript.segment", "\(id):partial-\(partials[id, default: 0])", message, body)
            }
        case "audio_chunk":
            // An unacknowledged chunk was not received: there is no receipt to record.
            guard try message.cursor["acknowledged"]?.bool() ?? true else { return }
            let data = try message.cursor.required("data")
            let bytes = try pair(data.required("byte_range")) { cursor throws(AdapterError) in try cursor.count() }
            let times = try pair(data.required("time_range")) { cursor throws(AdapterError) in
                try cursor.milliseconds()
            }
            try emit(
                "audio.fragment.received", "audio:\(bytes.0)-\(bytes.1)", message,
                [
                    "stream": "gladia-live:\(sessionID)", "fragment_number": String(bytes.0),
                    "server_timestamp": message.createdAt, "duration_ms": times.1 - times.0,
                    "bytes": bytes.1 - bytes.0, "byte_offset": bytes.0, "start_ms": times.0, "end_ms": times.1,
                ])
        case "speech_start", "speech_end":
            let data = try message.cursor.required("data")
            let time = try data.required("time").milliseconds()
            var body: [String: Any] = [
                "kind": "speech", "provider": "gladia", "start_ms": time, "end_ms": time,
                "result": ["label": message.type == "speech_start" ? "start" : "end"],
            ]
            let channel = try data["channel"]?.count()
            if let channel { body["channel"] = channel }
            try emit("enrichment.result", "\(message.type):\(channel ?? 0):\(time)", message, body)
        case "sentiment_analysis":
            // An add-on that failed for this utterance says so in `error` and has no results.
            guard message.cursor["error"] == nil else { return }
            let data = try message.cursor.required("data")
            let id = try data.required("utterance_id").string()
            for (index, result) in try data.required("results").elements().enumerated() {
                var body: [String: Any] = [
                    "kind": "sentiment", "provider": "gladia", "utterances": [id],
                    "result": try sentimentResult(result),
                ]
                if let start = try result["start"]?.milliseconds(), let end = try result["end"]?.milliseconds() {
                    body["start_ms"] = start
                    body["end_ms"] = end
                }
                if let channel = try result["channel"]?.count() { body["channel"] = channel }
                try emit("enrichment.result", "\(id):sentiment-\(index)", message, body)
            }
        case "named_entity_recognition":
            guard message.cursor["error"] == nil else { return }
            let id = try message.cursor.required("data").required("utterance_id").string()
            let list = (entities[id] ?? []).map { entity -> [String: Any] in
                var item: [String: Any] = ["type": entity.type, "text": entity.text, "utterance": id]
                if entity.personal { item["pii"] = entity.kind }
                if let start = entity.start, let end = entity.end {
                    item["start_ms"] = start
                    item["end_ms"] = end
                }
                return item
            }
            try emit(
                "enrichment.result", "\(id):entities", message,
                ["kind": "entities", "provider": "gladia", "utterances": [id], "result": ["entities": list]])
        case "translation":
            guard message.cursor["error"] == nil else { return }
            let data = try message.cursor.required("data")
            let id = try data.required("utterance_id").string()
            let language = try data.required("target_language").string()
            let translated = try data.required("translated_utterance")
            var body: [String: Any] = [
                "kind": "translation", "provider": "gladia", "utterances": [id],
                "result": ["label": language, "text": try translated.required("text").string()],
            ]
            if let start = try translated["start"]?.milliseconds(), let end = try translated["end"]?.milliseconds() {
                body["start_ms"] = start
                body["end_ms"] = end
            }
            try emit("enrichment.result", "\(id):translation-\(language)", message, body)
        case "post_final_transcript":
            let data = try message.cursor.required("data")
            if !hasFinals {
                // Without final transcript messages (receive_final_transcripts off), the aggregated result's
                // utterances are the only finals; they carry no ids, so they are numbered as in `gladia`.
                for (index, utterance) in try data.required("transcription").required("utterances").elements()
                    .enumerated()
                {
                    let body = try GladiaAdapter.segmentBody(
                        utterance, id: "utterance-\(index)", final: true, personal: [], model: nil, options)
                    try emit("transcript.segment", "post_final_transcript:utterance-\(index)", message, body)
                }
            }
            if let metadata = data["metadata"] {
                var metrics: [String: Double] = [:]
                for name in ["audio_duration", "billing_time", "transcription_time"] {
                    if let seconds = try metadata[name]?.milliseconds() { metrics[name + "_ms"] = Double(seconds) }
                }
                if let channels = try metadata["number_of_distinct_channels"]?.count() {
                    metrics["channels"] = Double(channels)
                }
                try emit(
                    "enrichment.result", "post_final_transcript:metadata", message,
                    ["kind": "characteristics", "provider": "gladia", "result": ["metrics": metrics]])
            }
            if let summary = try GladiaAdapter.summaryText(data["summarization"]) {
                try emit(
                    "enrichment.result", "summary", message,
                    ["kind": "summary", "provider": "gladia", "result": ["text": summary]])
            }
        case "post_summarization":
            if let text = try message.cursor.required("data")["results"]?.string(), !text.isEmpty {
                try emit(
                    "enrichment.result", "summary", message,
                    ["kind": "summary", "provider": "gladia", "result": ["text": text]])
            }
        case "start_session": try lifecycle(message, "started", [:])
        case "start_recording": try lifecycle(message, "recording_started", [:])
        case "stop_recording":
            // A refused stop (409: the recording was already stopped) changes nothing.
            guard try message.cursor["acknowledged"]?.bool() ?? true else { return }
            try lifecycle(message, "recording_stop_acknowledged", [:])
        case "end_recording":
            var extra: [String: Any] = [:]
            if let reason = try message.data?["reason"]?.string() { extra["reason"] = reason }
            if let bytes = try message.data?["received_total_bytes"]?.count() { extra["bytes"] = bytes }
            try lifecycle(message, "recording_ended", extra)
        case "end_session": try lifecycle(message, "ended", [:])
        case let type where unrecordedTypes.contains(type): return
        default:
            throw try message.cursor.required("type").fail(
                "unknown message type \"\(message.type)\"; known: transcript, audio_chunk, speech_start, "
                    + "speech_end, sentiment_analysis, named_entity_recognition, translation, post_final_transcript, "
                    + "post_summarization, start_session, start_recording, stop_recording, end_recording, "
                    + "end_session, and (not recorded) \(unrecordedTypes.sorted().joined(separator: ", "))")
        }
    }

    /// The entities of a `named_entity_recognition` message, by utterance id, in milliseconds from the session's
    /// start. The documentation's examples give entity times both from the session's start and from the
    /// utterance's start; a time inside the utterance is taken as the first, else as the second.
    static func entities(of cursor: JSONCursor) throws(AdapterError) -> [String: [GladiaAdapter.Entity]] {
        var entities: [String: [GladiaAdapter.Entity]] = [:]
        let data = try cursor.required("data")
        let id = try data.required("utterance_id").string()
        let utterance = data["utterance"]
        let utteranceStart = try utterance?["start"]?.milliseconds()
        let utteranceEnd = try utterance?["end"]?.milliseconds()
        for result in try data.required("results").elements() {
            var start = try result["start"]?.milliseconds()
            var end = try result["end"]?.milliseconds()
            if let from = utteranceStart, let to = utteranceEnd, let entityStart = start, let entityEnd = end,
                !(entityStart >= from && entityEnd <= to)
            {
                let inside = from + entityEnd <= to
                start = inside ? from + entityStart : nil
                end = inside ? from + entityEnd : nil
            }
            entities[id, default: []].append(
                GladiaAdapter.Entity(
                    type: try result.required("entity_type").string(), text: try result.required("text").string(),
                    start: start, end: end))
        }
        return entities
    }

    /// A sentiment result's label (upper case, as the `gladia` adapter writes it) and emotion.
    static func sentimentResult(_ result: JSONCursor) throws(AdapterError) -> [String: Any] {
        var payload: [String: Any] = ["label": try result.required("sentiment").string().uppercased()]
        if let emotion = try result["emotion"]?.string() { payload["names"] = [emotion] }
        return payload
    }

    /// A two-element range `[first, last]` whose first element is not after its last.
    static func pair(
        _ cursor: JSONCursor, _ element: (JSONCursor) throws(AdapterError) -> Int64
    ) throws(AdapterError) -> (Int64, Int64) {
        let elements = try cursor.elements()
        guard elements.count == 2 else { throw cursor.fail("must hold two numbers, holds \(elements.count) values") }
        let range = (try element(elements[0]), try element(elements[1]))
        guard range.0 <= range.1 else { throw cursor.fail("must not end before it starts") }
        return range
    }
}
