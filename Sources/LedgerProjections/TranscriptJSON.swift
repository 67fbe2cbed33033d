// Transcripts, their lines and call summaries as JSON text written directly into bytes: exactly what
// `JSONEncoder` writes for their `Encodable` forms with sorted keys, snake_case keys and unescaped slashes (what
// `transcript --format json`, `calls --json`, `GET /v1/calls/{id}/transcript` and the live stream print), at a
// fraction of its cost: the encoder's generic containers and key conversion were a third of a transcript read's
// time in the service. `TranscriptJSONTests` compares the two byte for byte on simulated and generated calls.
import LedgerCore

/// Writes transcripts as JSON, byte for byte as `JSONEncoder` writes their `Encodable` forms with
/// `.sortedKeys`, `.withoutEscapingSlashes` and `.convertToSnakeCase` (and `redactsPII` in `userInfo`).
public enum TranscriptJSON {
    /// `transcript` as one JSON object (no newline), PII shown as `[REDACTED:<kind>]` when `redacted`.
    public static func transcript(_ transcript: CallTranscript, redacted: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + transcript.lines.count * 320)
        out.appendASCII("{\"as_of\":")
        out.appendJSONInteger(transcript.asOf)
        out.appendASCII(",\"call\":")
        append(transcript.summary, to: &out)
        out.appendASCII(",\"call_enrichments\":")
        append(transcript.callEnrichments, redacted: redacted, to: &out)
        out.appendASCII(",\"lines\":[")
        appendSeparated(transcript.lines, to: &out) { line, out in
            append(line, redacted: redacted, to: &out)
        }
        out.appendASCII("],\"redacted\":")
        appendBool(redacted, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// One transcript line as a JSON object.
    public static func line(_ line: TranscriptLine, redacted: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(320)
        append(line, redacted: redacted, to: &out)
        return out
    }

    /// A call summary as a JSON object.
    public static func summary(_ summary: CallSummary) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(320)
        append(summary, to: &out)
        return out
    }

    /// Call summaries as a JSON array (what `calls --json` prints).
    public static func summaries(_ summaries: [CallSummary]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(2 + summaries.count * 320)
        appendSeparated(summaries, to: &out) { summary, out in
            append(summary, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    // MARK: - Members, each object's keys in sorted order

    static func append(_ summary: CallSummary, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        var first = true
        func key(_ name: StaticString) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(UInt8(ascii: "\""))
            out.appendASCII(name)
            out.appendASCII("\":")
        }
        if let agent = summary.agent {
            key("agent")
            out.appendJSONString(agent)
        }
        key("call")
        out.appendJSONString(summary.call)
        if let channel = summary.channel {
            key("channel")
            out.appendJSONString(channel)
        }
        if let connected = summary.connectedToAgentAt {
            key("connected_to_agent_at")
            out.appendJSONString(Timestamp.format(micros: connected))
        }
        if let reason = summary.disconnectReason {
            key("disconnect_reason")
            out.appendJSONString(reason)
        }
        if let duration = summary.shownDurationMs {
            key("duration_ms")
            out.appendJSONInteger(duration)
        }
        if let ended = summary.endedAt {
            key("ended_at")
            out.appendJSONString(Timestamp.format(micros: ended))
        }
        key("enrichments")
        out.appendJSONInteger(summary.enrichments)
        key("final_segments")
        out.appendJSONInteger(summary.finalSegments)
        key("first_seq")
        out.appendJSONInteger(summary.firstSeq)
        key("last_seq")
        out.appendJSONInteger(summary.lastSeq)
        key("partial_segments")
        out.appendJSONInteger(summary.partialSegments)
        if let queue = summary.queue {
            key("queue")
            out.appendJSONString(queue)
        }
        if let started = summary.startedAt {
            key("started_at")
            out.appendJSONString(Timestamp.format(micros: started))
        }
        key("tenant")
        out.appendJSONString(summary.tenant)
        out.append(UInt8(ascii: "}"))
    }

    static func append(_ line: TranscriptLine, redacted: Bool, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        if let channel = line.channel {
            out.appendASCII("\"channel\":")
            out.appendJSONInteger(channel)
            out.append(UInt8(ascii: ","))
        }
        if let confidence = line.confidence {
            out.appendASCII("\"confidence\":")
            appendDouble(confidence, to: &out)
            out.append(UInt8(ascii: ","))
        }
        out.appendASCII("\"end_ms\":")
        out.appendJSONInteger(line.endMs)
        out.appendASCII(",\"enrichments\":")
        append(line.enrichments, redacted: redacted, to: &out)
        out.appendASCII(",\"final\":")
        appendBool(line.isFinal, to: &out)
        if let language = line.language {
            out.appendASCII(",\"language\":")
            out.appendJSONString(language)
        }
        out.appendASCII(",\"provider\":")
        out.appendJSONString(line.provider)
        out.appendASCII(",\"role\":")
        out.appendJSONString(line.role)
        out.appendASCII(",\"seq\":")
        out.appendJSONInteger(line.seq)
        out.appendASCII(",\"spans\":[")
        appendSeparated(line.spans, to: &out) { span, out in
            append(span, redacted: redacted, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        if let speaker = line.speaker {
            out.appendASCII(",\"speaker\":")
            out.appendJSONString(speaker)
        }
        out.appendASCII(",\"start_ms\":")
        out.appendJSONInteger(line.startMs)
        out.appendASCII(",\"superseded_versions\":")
        out.appendJSONInteger(line.supersededVersions)
        out.appendASCII(",\"text\":")
        out.appendJSONString(line.text(redacted: redacted))
        if let track = line.track {
            out.appendASCII(",\"track\":")
            out.appendJSONString(track)
        }
        out.appendASCII(",\"utterance\":")
        out.appendJSONString(line.utterance)
        out.append(UInt8(ascii: "}"))
    }

    static func append(_ span: TextSpan, redacted: Bool, to out: inout [UInt8]) {
        out.appendASCII("{\"data_class\":")
        out.appendJSONString(span.dataClass)
        out.appendASCII(",\"redacted\":")
        appendBool(span.text == nil || (redacted && span.piiKind != nil), to: &out)
        out.appendASCII(",\"text\":")
        out.appendJSONString(span.rendered(redacted: redacted))
        if let unavailable = span.unavailableBecause {
            out.appendASCII(",\"unavailable\":")
            out.appendJSONString(unavailable)
        }
        out.append(UInt8(ascii: "}"))
    }

    static func append(_ notes: [EnrichmentNote], redacted: Bool, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        appendSeparated(notes, to: &out) { note, out in
            append(note, redacted: redacted, to: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    static func append(_ note: EnrichmentNote, redacted: Bool, to out: inout [UInt8]) {
        out.appendASCII("{\"entities\":[")
        appendSeparated(note.entities, to: &out) { entity, out in
            out.append(UInt8(ascii: "{"))
            if let text = entity.text {
                out.appendASCII("\"text\":")
                append(text, redacted: redacted, to: &out)
                out.append(UInt8(ascii: ","))
            }
            out.appendASCII("\"type\":")
            out.appendJSONString(entity.type)
            out.append(UInt8(ascii: "}"))
        }
        out.appendASCII("],\"kind\":")
        out.appendJSONString(note.kind)
        if let label = note.label {
            out.appendASCII(",\"label\":")
            out.appendJSONString(label)
        }
        out.appendASCII(",\"metrics\":{")
        // JSONEncoder sorts a dictionary's keys by their UTF-8 bytes, not by `String`'s `<` (which compares
        // canonically equivalent forms as equal: `e` + U+0301 and U+00E9).
        let names = note.metrics.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        appendSeparated(names, to: &out) { name, out in
            out.appendJSONKey(name)
            appendDouble(note.metrics[name] ?? 0, to: &out)
        }
        out.appendASCII("},\"names\":[")
        appendSeparated(note.names, to: &out) { name, out in
            out.appendJSONString(name)
        }
        out.appendASCII("],\"provider\":")
        out.appendJSONString(note.provider)
        if let score = note.score {
            out.appendASCII(",\"score\":")
            appendDouble(score, to: &out)
        }
        out.appendASCII(",\"seq\":")
        out.appendJSONInteger(note.seq)
        if let text = note.text {
            out.appendASCII(",\"text\":")
            append(text, redacted: redacted, to: &out)
        }
        out.appendASCII(",\"values\":[")
        appendSeparated(note.values, to: &out) { value, out in
            appendDouble(value, to: &out)
        }
        out.appendASCII("]}")
    }

    // MARK: - Scalars as JSONEncoder writes them

    /// Appends each of `items` with `element`, a comma between two (the elements of a JSON array or object).
    static func appendSeparated<Item>(
        _ items: some Sequence<Item>, to out: inout [UInt8], _ element: (Item, inout [UInt8]) -> Void
    ) {
        var first = true
        for item in items {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            element(item, &out)
        }
    }

    static func appendBool(_ value: Bool, to out: inout [UInt8]) {
        if value { out.appendASCII("true") } else { out.appendASCII("false") }
    }

    /// A double as `JSONEncoder` writes it: its shortest round-tripping description without a trailing `.0`
    /// (`1`, `-0`, `0.25`, `1e-07`, `1e+20`). Values read from JSON are finite; a non-finite one (which
    /// `JSONEncoder` refuses) is written as `null`.
    static func appendDouble(_ value: Double, to out: inout [UInt8]) {
        guard value.isFinite else {
            out.appendASCII("null")
            return
        }
        let text = value.description.utf8
        if text.count > 2, text.suffix(2).elementsEqual(".0".utf8) {
            out.append(contentsOf: text.dropLast(2))
        } else {
            out.append(contentsOf: text)
        }
    }
}
