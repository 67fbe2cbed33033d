// A point in the log's history that a read can be asked about: once a seq was appended, or a time.
public import LedgerStore

/// What was known once event `seq` was appended, or what was accepted at or before `time`.
public enum PointInTime: Sendable, Equatable {
    /// Once this seq was appended (inclusive).
    case seq(UInt64)
    /// At this acceptance time, UTC µs (inclusive).
    case time(Int64)

    /// The seq bound (events with a seq below it count), nil for the whole log.
    public func seqBound(_ reader: LedgerReader) throws(LedgerError) -> UInt64? {
        switch self {
        case .seq(let seq): seq == .max ? nil : seq + 1
        case .time(let time): try reader.sizeAsOf(time: time)
        }
    }
}
