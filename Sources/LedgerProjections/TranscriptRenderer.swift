// Renders a call transcript as plain text, WebVTT, or a JSON document, with PII spans opened or redacted.
import LedgerCore

/// Text, WebVTT and JSON renderings of a `CallTranscript`.
public enum TranscriptRenderer {
    /// A readable transcript: a header, one line per utterance with its time range, role and enrichments, then
    /// the call-level enrichments.
    public static func text(_ transcript: CallTranscript, redacted: Bool) -> String {
        let summary = transcript.summary
        var out = "Call \(summary.call) (tenant \(summary.tenant))\n"
        var facts: [String] = []
        if let startedAt = summary.startedAt { facts.append("started \(Timestamp.format(micros: startedAt))") }
        if let duration = summary.shownDurationMs { facts.append("duration \(clock(duration, hours: true))") }
        if let agent = summary.agent { facts.append("agent \(agent)") }
        if let queue = summary.queue { facts.append("queue \(queue)") }
        if !facts.isEmpty { out += facts.joined(separator: ", ") + "\n" }
        out += "As of seq \(transcript.asOf): \(transcript.lines.count) utterances\n\n"
        for line in transcript.lines {
            var heading = "[\(clock(line.startMs)) - \(clock(line.endMs))] \(line.role.uppercased())"
            if let speaker = line.speaker { heading += " (\(speaker))" }
            if !line.isFinal { heading += " [partial]" }
            out += heading + ": " + line.text(redacted: redacted) + "\n"
            for note in line.enrichments {
                out += "    " + describe(note, redacted: redacted) + "\n"
            }
        }
        if !transcript.callEnrichments.isEmpty {
            out += "\nCall enrichments:\n"
            for note in transcript.callEnrichments {
                out += "    " + describe(note, redacted: redacted) + "\n"
            }
        }
        return out
    }

    /// WebVTT cues, one per utterance, with the role as the voice; partials carry `[partial]`.
    public static func webVTT(_ transcript: CallTranscript, redacted: Bool) -> String {
        var out = "WEBVTT\n\nNOTE call \(transcript.summary.call), as of seq \(transcript.asOf)\n"
        for (index, line) in transcript.lines.enumerated() {
            out += "\n\(index + 1)\n"
            out += "\(clock(line.startMs, hours: true)) --> \(clock(line.endMs, hours: true))\n"
            let voice = line.role.isEmpty ? "unknown" : line.role.prefix(1).uppercased() + line.role.dropFirst()
            let text = line.text(redacted: redacted).replacingAll("-->", with: "->")
            out += "<v \(voice)>" + (line.isFinal ? "" : "[partial] ") + text + "\n"
        }
        return out
    }

    /// `mm:ss.mmm`, or `hh:mm:ss.mmm` when `hours`.
    public static func clock(_ milliseconds: Int64, hours: Bool = false) -> String {
        var out: [UInt8] = []
        appendClock(milliseconds, hours: hours, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `clock(milliseconds, hours:)` to `out` without building a string.
    public static func appendClock(_ milliseconds: Int64, hours: Bool = false, to out: inout [UInt8]) {
        let value = Int(max(0, milliseconds))
        if hours {
            out.appendDecimal(value / 3_600_000, minimumDigits: 2)
            out.append(UInt8(ascii: ":"))
        }
        out.appendDecimal(hours ? (value / 60_000) % 60 : value / 60_000, minimumDigits: 2)
        out.append(UInt8(ascii: ":"))
        out.appendDecimal((value / 1000) % 60, minimumDigits: 2)
        out.append(UInt8(ascii: "."))
        out.appendDecimal(value % 1000, minimumDigits: 3)
    }

    /// The first line of the table `call-ledger calls` prints.
    public static let callTableHeader = Array("CALL\tSTARTED\tDURATION\tAGENT\tQUEUE\tSEGMENTS\n".utf8)

    /// The table `call-ledger calls` prints: a header line, then per call its id, start (RFC 3339), shown
    /// duration (`hh:mm:ss.mmm`), agent, queue and final segment count, tab-separated, `-` where unknown; each
    /// line ends with a newline. The lines follow the order of `summaries`.
    public static func callTable(_ summaries: [CallSummary]) -> [UInt8] {
        var out = callTableHeader
        out.reserveCapacity(64 + summaries.count * 96)
        for summary in summaries {
            appendCallLine(
                startedAt: summary.startedAt, shownDurationMs: summary.shownDurationMs,
                finalSegments: summary.finalSegments, to: &out
            ) { column, out in
                let text: String?
                switch column {
                case .call: text = summary.call
                case .agent: text = summary.agent
                case .queue: text = summary.queue
                }
                guard let text else { return false }
                out.appendUTF8(text)
                return true
            }
        }
        return out
    }

    /// The text columns of the call table.
    enum CallTableColumn {
        case call, agent, queue
    }

    /// Appends one line of the call table. `appendText` appends a text column's bytes and returns true, or
    /// returns false for an unknown value (written `-`); the stored-row reader (`TranscriptState.callTable()`)
    /// passes the columns' bytes straight from SQLite, `callTable(_:)` a summary's strings.
    static func appendCallLine(
        startedAt: Int64?, shownDurationMs: Int64?, finalSegments: Int, to out: inout [UInt8],
        appendingText appendText: (CallTableColumn, inout [UInt8]) -> Bool
    ) {
        if !appendText(.call, &out) { out.append(UInt8(ascii: "-")) }
        out.append(0x09)
        if let startedAt {
            Timestamp(micros: startedAt).append(to: &out)
        } else {
            out.append(UInt8(ascii: "-"))
        }
        out.append(0x09)
        if let shownDurationMs {
            appendClock(shownDurationMs, hours: true, to: &out)
        } else {
            out.append(UInt8(ascii: "-"))
        }
        out.append(0x09)
        if !appendText(.agent, &out) { out.append(UInt8(ascii: "-")) }
        out.append(0x09)
        if !appendText(.queue, &out) { out.append(UInt8(ascii: "-")) }
        out.append(0x09)
        out.appendDecimal(finalSegments, minimumDigits: 1)
        out.append(0x0A)
    }

    private static func describe(_ note: EnrichmentNote, redacted: Bool) -> String {
        var parts = [note.kind]
        if let label = note.label { parts.append(label) }
        if let score = note.score { parts.append("score \(score)") }
        if !note.names.isEmpty { parts.append(note.names.joined(separator: ", ")) }
        if let text = note.text { parts.append("\"\(text.rendered(redacted: redacted))\"") }
        for entity in note.entities {
            if let text = entity.text {
                parts.append("\(entity.type): \(text.rendered(redacted: redacted))")
            } else if !note.names.contains(entity.type) {
                parts.append(entity.type)
            }
        }
        for name in note.metrics.keys.sorted() { parts.append("\(name) \(note.metrics[name] ?? 0)") }
        if let low = note.values.min(), let high = note.values.max() {
            let mean = note.values.reduce(0, +) / Double(note.values.count)
            parts.append(
                "\(note.values.count) values: min \(decimal(low)), mean \(decimal(mean)), max \(decimal(high))")
        }
        return parts.joined(separator: " | ")
    }

    /// A value with at most two decimals.
    private static func decimal(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        return rounded == rounded.rounded() && abs(rounded) < 1e15 ? String(Int64(rounded)) : String(rounded)
    }
}

extension String {
    fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

extension CodingUserInfoKey {
    /// Set to `true` in an encoder's `userInfo` to encode PII spans of transcripts as `[REDACTED:<kind>]`.
    public static let redactsPII = CodingUserInfoKey(rawValue: "callLedger.redactsPII")!
}

extension TextSpan: Encodable {
    private enum CodingKeys: String, CodingKey {
        case text, dataClass, redacted, unavailable
    }

    /// Encodes the text as shown (`text`), its class, whether it is a redaction, and why it is unreadable.
    public func encode(to encoder: any Encoder) throws {
        let redacts = encoder.userInfo[.redactsPII] as? Bool ?? false
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rendered(redacted: redacts), forKey: .text)
        try container.encode(dataClass, forKey: .dataClass)
        try container.encode(text == nil || (redacts && piiKind != nil), forKey: .redacted)
        try container.encodeIfPresent(unavailableBecause, forKey: .unavailable)
    }
}

extension TranscriptLine: Encodable {
    private enum CodingKeys: String, CodingKey {
        case utterance, seq
        case isFinal = "final"
        case supersededVersions, role, track, channel, speaker, startMs, endMs
        case language, confidence, provider, text, spans, enrichments
    }

    /// Encodes every member, `final` for `isFinal`, and `text`: the spans joined as shown.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(utterance, forKey: .utterance)
        try container.encode(seq, forKey: .seq)
        try container.encode(isFinal, forKey: .isFinal)
        try container.encode(supersededVersions, forKey: .supersededVersions)
        try container.encode(role, forKey: .role)
        try container.encodeIfPresent(track, forKey: .track)
        try container.encodeIfPresent(channel, forKey: .channel)
        try container.encodeIfPresent(speaker, forKey: .speaker)
        try container.encode(startMs, forKey: .startMs)
        try container.encode(endMs, forKey: .endMs)
        try container.encodeIfPresent(language, forKey: .language)
        try container.encodeIfPresent(confidence, forKey: .confidence)
        try container.encode(provider, forKey: .provider)
        try container.encode(text(redacted: encoder.userInfo[.redactsPII] as? Bool ?? false), forKey: .text)
        try container.encode(spans, forKey: .spans)
        try container.encode(enrichments, forKey: .enrichments)
    }
}

extension CallSummary: Encodable {
    private enum CodingKeys: String, CodingKey {
        case call, tenant, firstSeq, lastSeq, startedAt, connectedToAgentAt, endedAt, durationMs, agent, queue
        case channel, disconnectReason, finalSegments, partialSegments, enrichments
    }

    /// Encodes times as RFC 3339 and the duration as shown (`shownDurationMs`).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(call, forKey: .call)
        try container.encode(tenant, forKey: .tenant)
        try container.encode(firstSeq, forKey: .firstSeq)
        try container.encode(lastSeq, forKey: .lastSeq)
        try container.encodeIfPresent(startedAt.map(Timestamp.format(micros:)), forKey: .startedAt)
        try container.encodeIfPresent(connectedToAgentAt.map(Timestamp.format(micros:)), forKey: .connectedToAgentAt)
        try container.encodeIfPresent(endedAt.map(Timestamp.format(micros:)), forKey: .endedAt)
        try container.encodeIfPresent(shownDurationMs, forKey: .durationMs)
        try container.encodeIfPresent(agent, forKey: .agent)
        try container.encodeIfPresent(queue, forKey: .queue)
        try container.encodeIfPresent(channel, forKey: .channel)
        try container.encodeIfPresent(disconnectReason, forKey: .disconnectReason)
        try container.encode(finalSegments, forKey: .finalSegments)
        try container.encode(partialSegments, forKey: .partialSegments)
        try container.encode(enrichments, forKey: .enrichments)
    }
}

extension CallTranscript: Encodable {
    private enum CodingKeys: String, CodingKey {
        case call, asOf, redacted, lines, callEnrichments
    }

    /// Encodes the summary as `call`, whether PII is redacted, and the lines and call enrichments.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(summary, forKey: .call)
        try container.encode(asOf, forKey: .asOf)
        try container.encode(encoder.userInfo[.redactsPII] as? Bool ?? false, forKey: .redacted)
        try container.encode(lines, forKey: .lines)
        try container.encode(callEnrichments, forKey: .callEnrichments)
    }
}
