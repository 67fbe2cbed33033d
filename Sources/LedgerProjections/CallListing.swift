// One line of `call-ledger calls`: the few fields of a call summary the table shows, read from the projection's
// `calls` table without the rest, so that listing every call of a large ledger costs little more than printing.

/// What the call table shows of one call.
public struct CallListing: Sendable, Equatable {
    /// The call id.
    public var call: String
    /// The seq of the call's first folded event (the table's order).
    public var firstSeq: UInt64
    /// When the call was initiated (UTC µs).
    public var startedAt: Int64?
    /// The duration shown (`CallSummary.shownDurationMs`).
    public var shownDurationMs: Int64?
    /// The agent (name, else id).
    public var agent: String?
    /// The queue (name, else id).
    public var queue: String?
    /// Final transcript segments in the log.
    public var finalSegments: Int

    /// The listing of `summary`.
    public init(_ summary: CallSummary) {
        call = summary.call
        firstSeq = summary.firstSeq
        startedAt = summary.startedAt
        shownDurationMs = summary.shownDurationMs
        agent = summary.agent
        queue = summary.queue
        finalSegments = summary.finalSegments
    }

    /// A listing from stored columns; the duration is chosen as `CallSummary.shownDurationMs` chooses it.
    init(
        call: String, firstSeq: UInt64, startedAt: Int64?, endedAt: Int64?, durationMs: Int64?, agent: String?,
        queue: String?, finalSegments: Int, transcriptEndMs: Int64
    ) {
        self.call = call
        self.firstSeq = firstSeq
        self.startedAt = startedAt
        shownDurationMs = CallSummary.shownDuration(
            durationMs: durationMs, startedAt: startedAt, endedAt: endedAt, transcriptEndMs: transcriptEndMs)
        self.agent = agent
        self.queue = queue
        self.finalSegments = finalSegments
    }
}
