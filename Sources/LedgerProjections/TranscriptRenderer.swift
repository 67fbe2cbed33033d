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

    /// The transcript as a JSON-encodable document.
    public static func document(_ transcript: CallTranscript, redacted: Bool) -> TranscriptDocument {
        TranscriptDocument(transcript, redacted: redacted)
    }

    /// `mm:ss.mmm`, or `hh:mm:ss.mmm` when `hours`.
    public static func clock(_ milliseconds: Int64, hours: Bool = false) -> String {
        let value = max(0, milliseconds)
        let millis = value % 1000
        let seconds = (value / 1000) % 60
        let minutes = hours ? (value / 60_000) % 60 : value / 60_000
        let prefix = hours ? pad(value / 3_600_000, 2) + ":" : ""
        return prefix + pad(minutes, 2) + ":" + pad(seconds, 2) + "." + pad(millis, 3)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    private static func describe(_ note: EnrichmentNote, redacted: Bool) -> String {
        var parts = [note.kind]
        if let label = note.label { parts.append(label) }
        if let score = note.score { parts.append("score \(score)") }
        if !note.names.isEmpty { parts.append(note.names.joined(separator: ", ")) }
        if let text = note.text { parts.append("\"\(text.rendered(redacted: redacted))\"") }
        for entity in note.entities {
            parts.append("\(entity.type): \(entity.text?.rendered(redacted: redacted) ?? "-")")
        }
        for name in note.metrics.keys.sorted() { parts.append("\(name) \(note.metrics[name] ?? 0)") }
        return parts.joined(separator: " | ")
    }
}

extension String {
    fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

/// A transcript in the shape `call-ledger transcript --format json` prints.
public struct TranscriptDocument: Encodable, Sendable {
    /// The call's summary.
    public var call: CallDocument
    /// Events with seq below this were taken into account.
    public var asOf: UInt64
    /// Whether PII spans were redacted on request.
    public var redacted: Bool
    /// The utterances in time order.
    public var lines: [Line]
    /// Enrichments about the whole call.
    public var callEnrichments: [Enrichment]

    /// A span of text as shown.
    public struct Span: Encodable, Sendable {
        /// The text shown (`[REDACTED:<kind>]` when redacted or unreadable).
        public var text: String
        /// `content` or `pii.<kind>`.
        public var dataClass: String
        /// Whether the text shown is a redaction.
        public var redacted: Bool
        /// Why the text could not be read (`shredded`, `compacted`, `locked`), if so.
        public var unavailable: String?

        init(_ span: TextSpan, redacted: Bool) {
            text = span.rendered(redacted: redacted)
            dataClass = span.dataClass
            self.redacted = span.text == nil || (redacted && span.piiKind != nil)
            unavailable = span.unavailableBecause
        }
    }

    /// One enrichment.
    public struct Enrichment: Encodable, Sendable {
        /// The kind.
        public var kind: String
        /// The event's seq.
        public var seq: UInt64
        /// Who produced it.
        public var provider: String
        /// Label, if any.
        public var label: String?
        /// Score, if any.
        public var score: Double?
        /// Names, if any.
        public var names: [String]?
        /// Text, if any.
        public var text: Span?
        /// Entities, if any.
        public var entities: [Entity]?
        /// Metrics, if any.
        public var metrics: [String: Double]?

        /// An entity.
        public struct Entity: Encodable, Sendable {
            /// Its type.
            public var type: String
            /// Its text.
            public var text: Span?
        }

        init(_ note: EnrichmentNote, redacted: Bool) {
            kind = note.kind
            seq = note.seq
            provider = note.provider
            label = note.label
            score = note.score
            names = note.names.isEmpty ? nil : note.names
            text = note.text.map { Span($0, redacted: redacted) }
            entities =
                note.entities.isEmpty
                ? nil : note.entities.map { Entity(type: $0.type, text: $0.text.map { Span($0, redacted: redacted) }) }
            metrics = note.metrics.isEmpty ? nil : note.metrics
        }
    }

    /// One utterance.
    public struct Line: Encodable, Sendable {
        /// Utterance id.
        public var utterance: String
        /// Seq of the version shown.
        public var seq: UInt64
        /// Whether it is final.
        public var final: Bool
        /// Earlier versions superseded.
        public var supersededVersions: Int
        /// Role.
        public var role: String
        /// Track.
        public var track: String?
        /// Channel.
        public var channel: Int64?
        /// Speaker label.
        public var speaker: String?
        /// Start in ms from call start.
        public var startMs: Int64
        /// End in ms from call start.
        public var endMs: Int64
        /// Language.
        public var language: String?
        /// Confidence.
        public var confidence: Double?
        /// Provider.
        public var provider: String
        /// The whole text as shown.
        public var text: String
        /// The spans.
        public var spans: [Span]
        /// Enrichments naming this utterance.
        public var enrichments: [Enrichment]
    }

    /// The call summary as shown.
    public struct CallDocument: Encodable, Sendable {
        /// Call id.
        public var call: String
        /// Tenant.
        public var tenant: String
        /// Start (RFC 3339).
        public var startedAt: String?
        /// Agent connected (RFC 3339).
        public var connectedToAgentAt: String?
        /// End (RFC 3339).
        public var endedAt: String?
        /// Duration in ms (recorded, else transcript end).
        public var durationMs: Int64?
        /// Agent.
        public var agent: String?
        /// Queue.
        public var queue: String?
        /// Channel.
        public var channel: String?
        /// Disconnect reason.
        public var disconnectReason: String?
        /// Final segments in the log.
        public var finalSegments: Int
        /// Partial segments in the log.
        public var partialSegments: Int
        /// Enrichment results in the log.
        public var enrichments: Int
        /// First and last folded seq.
        public var firstSeq: UInt64
        /// Last folded seq.
        public var lastSeq: UInt64

        /// The document for `summary`.
        public init(_ summary: CallSummary) {
            call = summary.call
            tenant = summary.tenant
            startedAt = summary.startedAt.map(Timestamp.format(micros:))
            connectedToAgentAt = summary.connectedToAgentAt.map(Timestamp.format(micros:))
            endedAt = summary.endedAt.map(Timestamp.format(micros:))
            durationMs = summary.shownDurationMs
            agent = summary.agent
            queue = summary.queue
            channel = summary.channel
            disconnectReason = summary.disconnectReason
            finalSegments = summary.finalSegments
            partialSegments = summary.partialSegments
            enrichments = summary.enrichments
            firstSeq = summary.firstSeq
            lastSeq = summary.lastSeq
        }
    }

    init(_ transcript: CallTranscript, redacted: Bool) {
        call = CallDocument(transcript.summary)
        asOf = transcript.asOf
        self.redacted = redacted
        lines = transcript.lines.map { line in
            Line(
                utterance: line.utterance, seq: line.seq, final: line.isFinal,
                supersededVersions: line.supersededVersions, role: line.role, track: line.track, channel: line.channel,
                speaker: line.speaker, startMs: line.startMs, endMs: line.endMs, language: line.language,
                confidence: line.confidence, provider: line.provider, text: line.text(redacted: redacted),
                spans: line.spans.map { TranscriptDocument.Span($0, redacted: redacted) },
                enrichments: line.enrichments.map { Enrichment($0, redacted: redacted) })
        }
        callEnrichments = transcript.callEnrichments.map { Enrichment($0, redacted: redacted) }
    }
}
