// The per-call transcript an auditor replays: the newest version of every utterance (a final supersedes the
// partials of its utterance; without a final the latest partial is shown, marked), in time order, with the
// enrichments attached to the utterances they name and the rest kept for the call as a whole.
import LedgerCore

/// A run of transcript text: plain content or a PII span, readable or not.
public struct TextSpan: Sendable, Equatable {
    /// The text, or nil when its sealed part cannot be opened.
    public var text: String?
    /// The data class the text is sealed under: `content` or `pii.<kind>`.
    public var dataClass: String
    /// Why the text is missing (`shredded`, `compacted`, `locked`), or nil when it is readable.
    public var unavailableBecause: String?

    /// The PII kind (`name` for `pii.name`), or nil for content.
    public var piiKind: String? {
        dataClass.hasPrefix("pii.") ? String(dataClass.dropFirst(4)) : nil
    }

    /// The text to show: PII as `[REDACTED:<kind>]` when `redacted`; text whose key is erased (or whose
    /// ciphertext is compacted) as `[REDACTED:<kind>]` always; text that exists but cannot be opened because this
    /// reader has no key file as `[LOCKED:<kind>]`, so that a missing key file is never mistaken for erasure.
    public func rendered(redacted: Bool) -> String {
        if let text, !(redacted && piiKind != nil) { return text }
        let marker = text == nil && unavailableBecause == "locked" ? "LOCKED" : "REDACTED"
        return "[\(marker):\(piiKind ?? dataClass)]"
    }
}

/// An entity found in the transcript by an enrichment.
public struct EntityNote: Sendable, Equatable, Encodable {
    /// The entity type as the source names it.
    public var type: String
    /// The entity's text, when the source gave it.
    public var text: TextSpan?
}

/// What one enrichment result says, as attached to an utterance or to the call.
public struct EnrichmentNote: Sendable, Equatable, Encodable {
    /// The enrichment kind (`sentiment`, `entities`, `category`...).
    public var kind: String
    /// The event's seq.
    public var seq: UInt64
    /// Who produced it.
    public var provider: String
    /// The label (sentiment, category...), if any.
    public var label: String?
    /// The score, if any.
    public var score: Double?
    /// Names (matched categories...), if any.
    public var names: [String]
    /// Text (a summary, an issue), if any.
    public var text: TextSpan?
    /// Entities, if any.
    public var entities: [EntityNote]
    /// Named metrics (talk time...), if any.
    public var metrics: [String: Double]
    /// A series of values (loudness per second...), if any.
    public var values: [Double]
}

/// One utterance of the transcript, in its newest version.
public struct TranscriptLine: Sendable, Equatable {
    /// The utterance id given by the source.
    public var utterance: String
    /// The seq of the version shown.
    public var seq: UInt64
    /// Whether the version shown is final; a partial is shown only when no final is known.
    public var isFinal: Bool
    /// Earlier versions of the utterance this one supersedes.
    public var supersededVersions: Int
    /// `agent` or `customer` (or what the source said).
    public var role: String
    /// The audio track, if known.
    public var track: String?
    /// The audio channel, if known.
    public var channel: Int64?
    /// The speaker label, if the source diarized.
    public var speaker: String?
    /// Start, in ms from call start.
    public var startMs: Int64
    /// End, in ms from call start.
    public var endMs: Int64
    /// Language code, if known.
    public var language: String?
    /// Confidence in 0...1, if known.
    public var confidence: Double?
    /// The speech-to-text provider.
    public var provider: String
    /// The text, span by span.
    public var spans: [TextSpan]
    /// Enrichments naming this utterance, in seq order.
    public var enrichments: [EnrichmentNote]

    /// The line's text with PII redacted or not.
    public func text(redacted: Bool) -> String {
        spans.map { $0.rendered(redacted: redacted) }.joined()
    }
}

/// A call's transcript as known at a seq bound.
public struct CallTranscript: Sendable, Equatable {
    /// What the log said about the call by then.
    public var summary: CallSummary
    /// Events with seq below this were taken into account.
    public var asOf: UInt64
    /// The utterances, by start time.
    public var lines: [TranscriptLine]
    /// Enrichments about the call as a whole (summary, categories, characteristics...), in seq order.
    public var callEnrichments: [EnrichmentNote]

    /// Gathers a call's records, in seq order, into a transcript.
    struct Builder {
        let asOf: UInt64
        private var summary: CallSummary?
        /// Newest line per utterance key (`SegmentHead.key`).
        private var lines: [String: TranscriptLine] = [:]
        /// The seqs of the partial segments per utterance key, in seq order.
        private var partials: [String: [UInt64]] = [:]
        /// Final segments seen per utterance key.
        private var finals: [String: Int] = [:]
        /// Partial pointers counted before any record of the call was seen.
        private var uncounted: [PartialPointer] = []
        private var enrichments: [(utterances: [String], note: EnrichmentNote)] = []

        init(asOf: UInt64) {
            self.asOf = asOf
        }

        /// Folds a copied record of the call (a call event, a final segment or an enrichment).
        mutating func apply(
            _ record: RecordView, kind: TranscriptRecordKind, parts: [EventRenderer.PartContent]
        ) throws(DecodingError) {
            var folded = summary ?? CallSummary(first: record)
            try folded.apply(record, kind: kind, head: nil)
            for pointer in uncounted { folded.count(pointer) }
            uncounted = []
            summary = folded
            switch kind {
            case .callStarted, .callEnded: break
            case .segment: try addSegment(record, parts: parts)
            case .enrichment: try addEnrichment(EventValue.body(of: record, parts: parts), seq: record.seq)
            }
        }

        /// Notes a partial segment by its pointer; it is read only if no final of its utterance is known.
        mutating func note(_ pointer: PartialPointer) {
            if summary == nil {
                uncounted.append(pointer)
            } else {
                summary?.count(pointer)
            }
            partials[pointer.key, default: []].append(pointer.seq)
        }

        /// The seqs of the partials to show: the latest of each utterance that has no final.
        var partialsToRead: [UInt64] {
            partials.compactMap { key, seqs in lines[key] == nil ? seqs.max() : nil }.sorted()
        }

        /// Adds a partial segment read from the log (one of `partialsToRead`).
        mutating func addPartial(_ record: RecordView, parts: [EventRenderer.PartContent]) throws(DecodingError) {
            if summary == nil {
                var folded = CallSummary(first: record)
                for pointer in uncounted { folded.count(pointer) }
                uncounted = []
                summary = folded
            }
            try addSegment(record, parts: parts)
        }

        private mutating func addSegment(_ record: RecordView, parts: [EventRenderer.PartContent]) throws(DecodingError)
        {
            let body = try EventValue.body(of: record, parts: parts, skipping: ["words"])
            let seq = record.seq
            let utterance = body["utterance"]?.string ?? ""
            let provider = body["provider"]?.string ?? ""
            let key = SegmentHead.key(source: record.string(record.sourceRange), utterance: utterance)
            let isFinal = body["final"]?.boolean ?? false
            let previous = lines[key]
            if let previous, previous.isFinal, !isFinal { return }
            let earlierFinals = finals[key, default: 0]
            if isFinal { finals[key] = earlierFinals + 1 }
            let earlierPartials = partials[key]?.count { $0 < seq } ?? 0
            lines[key] = TranscriptLine(
                utterance: utterance, seq: seq, isFinal: isFinal,
                supersededVersions: earlierFinals + earlierPartials, role: body["role"]?.string ?? "",
                track: body["track"]?.string, channel: body["channel"]?.integer, speaker: body["speaker"]?.string,
                startMs: body["start_ms"]?.integer ?? 0, endMs: body["end_ms"]?.integer ?? 0,
                language: body["language"]?.string, confidence: body["confidence"]?.number, provider: provider,
                spans: Self.spans(body["text"]), enrichments: [])
        }

        private mutating func addEnrichment(_ body: EventValue, seq: UInt64) {
            let result = body["result"]
            var metrics: [String: Double] = [:]
            for source in [result?["metrics"], result?["scores"]] {
                if case .object(let members)? = source {
                    for (name, value) in members { metrics[name] = value.number }
                }
            }
            let entities = (result?["entities"]?.array ?? []).map { entity in
                EntityNote(
                    type: entity["type"]?.string ?? "",
                    text: entity["text"].map { Self.span($0, dataClass: Self.dataClass(of: entity)) })
            }
            let note = EnrichmentNote(
                kind: body["kind"]?.string ?? "", seq: seq, provider: body["provider"]?.string ?? "",
                label: result?["label"]?.string, score: result?["score"]?.number,
                names: (result?["names"]?.array ?? []).compactMap(\.string),
                text: result?["text"].map { Self.span($0, dataClass: "content") }, entities: entities,
                metrics: metrics, values: (result?["values"]?.array ?? []).compactMap(\.number))
            enrichments.append(((body["utterances"]?.array ?? []).compactMap(\.string), note))
        }

        private static func dataClass(of object: EventValue) -> String {
            object["pii"]?.string.map { "pii." + $0 } ?? "content"
        }

        private static func span(_ value: EventValue, dataClass: String) -> TextSpan {
            switch value {
            case .string(let text): TextSpan(text: text, dataClass: dataClass)
            case .unavailable(let sealedClass, let state):
                TextSpan(text: nil, dataClass: sealedClass, unavailableBecause: state)
            default: TextSpan(text: nil, dataClass: dataClass, unavailableBecause: "not text")
            }
        }

        private static func spans(_ text: EventValue?) -> [TextSpan] {
            switch text {
            case .array(let spans)?:
                spans.map { span($0["text"] ?? .null, dataClass: dataClass(of: $0)) }
            case let value?: [span(value, dataClass: "content")]
            case nil: []
            }
        }

        /// The transcript, or nil when no event of the call was folded.
        func transcript() -> CallTranscript? {
            guard let summary else { return nil }
            var lines = self.lines
            var byUtterance: [String: [String]] = [:]
            for (key, line) in lines { byUtterance[line.utterance, default: []].append(key) }
            var callEnrichments: [EnrichmentNote] = []
            for (utterances, note) in enrichments {
                let keys = utterances.flatMap { byUtterance[$0] ?? [] }
                if keys.isEmpty {
                    callEnrichments.append(note)
                } else {
                    for key in keys { lines[key]?.enrichments.append(note) }
                }
            }
            let ordered = lines.values.sorted {
                ($0.startMs, $0.endMs, $0.seq) < ($1.startMs, $1.endMs, $1.seq)
            }
            return CallTranscript(summary: summary, asOf: asOf, lines: ordered, callEnrichments: callEnrichments)
        }
    }
}
