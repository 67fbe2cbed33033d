// The per-call summary the transcript projection keeps: when the call started and ended, who handled it, and
// how many transcript segments and enrichments the log holds for it. The same fold serves the stored summary
// (built while rebuilding or catching up) and answers `--as-of` (rebuilt from the call's stored records).
import LedgerCore

/// The event types the transcript projection folds.
enum TranscriptRecordKind {
    case callStarted
    case callEnded
    case segment
    case enrichment

    /// The kind of `record`, or nil when the projection ignores it.
    init?(_ record: RecordView) {
        switch record.eventType {
        case .callStarted?: self = .callStarted
        case .callEnded?: self = .callEnded
        case .transcriptSegment?: self = .segment
        case .enrichmentResult?: self = .enrichment
        default: return nil
        }
    }
}

/// The members of a `transcript.segment` the summary counts with, read without walking its words.
struct SegmentHead {
    /// Whether the segment is final.
    var isFinal: Bool
    /// Its end, in ms from call start.
    var endMs: Int64

    private static let members = EventValue.MemberReader(type: .transcriptSegment, members: ["final", "end_ms"])

    /// The head of `record`, a `transcript.segment`.
    init(_ record: RecordView) throws(DecodingError) {
        var isFinal = false
        var endMs: Int64 = 0
        try Self.members.read(record) { member, value in
            if member == 0 { isFinal = value.boolean ?? false } else { endMs = value.integer ?? 0 }
        }
        self.isFinal = isFinal
        self.endMs = endMs
    }

    /// The key that versions of one utterance share: the event's source, a zero byte, the utterance id.
    static func key(source: String, utterance: String) -> String {
        source + "\u{0}" + utterance
    }
}

/// What the log says about one call, as of some seq: of its `call.started` events, and of its `call.ended`
/// events, the one with the latest `updated_at` wins (the last appended among equals; events without
/// `updated_at` lose to those with one), and segments and enrichments are counted.
public struct CallSummary: Sendable, Equatable {
    /// The call id.
    public var call: String
    /// The tenant of the call's first event.
    public var tenant: String
    /// The seq of the call's first folded event.
    public var firstSeq: UInt64
    /// The seq of the call's last folded event.
    public var lastSeq: UInt64
    /// When the call was initiated (UTC µs), from `call.started`.
    public var startedAt: Int64?
    /// When the customer reached an agent (UTC µs).
    public var connectedToAgentAt: Int64?
    /// When the call was disconnected (UTC µs), from `call.ended`.
    public var endedAt: Int64?
    /// The call's duration as `call.ended` recorded it.
    public var durationMs: Int64?
    /// The agent (name, else id) from the newest `call.started`.
    public var agent: String?
    /// The queue (name, else id) from the newest `call.started`.
    public var queue: String?
    /// The contact channel (`VOICE`...).
    public var channel: String?
    /// Why the call ended.
    public var disconnectReason: String?
    /// How long the customer was on hold in all, as `call.ended` recorded it.
    public var holdMs: Int64?
    /// How many times the customer was put on hold, as `call.ended` recorded it.
    public var holdCount: Int64?
    /// Final transcript segments in the log.
    public var finalSegments: Int = 0
    /// Partial transcript segments in the log.
    public var partialSegments: Int = 0
    /// Enrichment results in the log.
    public var enrichments: Int = 0
    /// The latest segment end, in ms from call start.
    public var transcriptEndMs: Int64 = 0
    /// The `updated_at` (UTC µs; `Int64.min` when absent) of the `call.started` shown, or nil when none was seen.
    var startedVersion: Int64?
    /// The `updated_at` of the `call.ended` shown, likewise.
    var endedVersion: Int64?

    /// An empty summary for `call`, starting at `record`.
    init(first record: RecordView) {
        call = record.call
        tenant = record.string(record.tenantRange)
        firstSeq = record.seq
        lastSeq = record.seq
    }

    /// An empty summary for `call`, restored from stored state.
    init(call: String, tenant: String, firstSeq: UInt64, lastSeq: UInt64) {
        self.call = call
        self.tenant = tenant
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
    }

    /// The duration to show: the recorded one, else from the start and end times, else the end of the
    /// transcript.
    public var shownDurationMs: Int64? {
        Self.shownDuration(
            durationMs: durationMs, startedAt: startedAt, endedAt: endedAt, transcriptEndMs: transcriptEndMs)
    }

    /// `shownDurationMs` of a summary with these fields.
    static func shownDuration(durationMs: Int64?, startedAt: Int64?, endedAt: Int64?, transcriptEndMs: Int64) -> Int64?
    {
        if let durationMs { return durationMs }
        if let startedAt, let endedAt, endedAt >= startedAt { return (endedAt - startedAt) / 1000 }
        return transcriptEndMs > 0 ? transcriptEndMs : nil
    }

    /// Folds `record`, one of the call's events, of the given kind; `head` is its head when it is a segment.
    mutating func apply(_ record: RecordView, kind: TranscriptRecordKind, head: SegmentHead?) throws(DecodingError) {
        firstSeq = min(firstSeq, record.seq)
        lastSeq = max(lastSeq, record.seq)
        switch kind {
        case .callStarted:
            let body = try EventValue.body(of: record, parts: [], skipping: ["customer_endpoint", "tracks"])
            let version = body["updated_at"]?.timestamp?.micros ?? .min
            if let startedVersion, startedVersion > version { return }
            startedVersion = version
            startedAt = body["initiated_at"]?.timestamp?.micros ?? record.occurred?.micros ?? record.time
            connectedToAgentAt = body["connected_to_agent_at"]?.timestamp?.micros
            agent = Self.reference(body["agent"])
            queue = Self.reference(body["queue"])
            channel = body["channel"]?.string
        case .callEnded:
            let body = try EventValue.body(of: record, parts: [], skipping: ["recording", "recordings"])
            let version = body["updated_at"]?.timestamp?.micros ?? .min
            if let endedVersion, endedVersion > version { return }
            endedVersion = version
            endedAt = body["disconnected_at"]?.timestamp?.micros
            disconnectReason = body["disconnect_reason"]?.string
            durationMs = body["duration_ms"]?.integer
            holdMs = body["hold_ms"]?.integer
            holdCount = body["hold_count"]?.integer
        case .segment:
            let segment: SegmentHead
            if let head { segment = head } else { segment = try SegmentHead(record) }
            if segment.isFinal {
                finalSegments += 1
            } else {
                partialSegments += 1
            }
            transcriptEndMs = max(transcriptEndMs, segment.endMs)
        case .enrichment:
            enrichments += 1
        }
    }

    /// Counts a partial segment known by its pointer.
    mutating func count(_ partial: PartialPointer) {
        firstSeq = min(firstSeq, partial.seq)
        lastSeq = max(lastSeq, partial.seq)
        partialSegments += 1
        transcriptEndMs = max(transcriptEndMs, partial.endMs)
    }

    private static func reference(_ value: EventValue?) -> String? {
        value?["name"]?.string ?? value?["id"]?.string ?? value?["arn"]?.string
    }
}
