// The bounds of format 1 in one table, shared by the writer (validation and encoding) and the readers
// (record, value and timestamp decoders), so that every event the ledger accepts can be read back.

/// Limits of the record and value encodings (FORMAT.md §3, §4, §10). The validator (`EventDecoder`,
/// `JSONTape`, `Timestamp.parse`) and `RecordEncoder` refuse anything beyond them before it is appended;
/// the readers (`RecordView`, `EventRenderer`, `EventValue`, `Timestamp.decode`, `SealedPlaintext`) accept
/// everything within them.
public enum RecordLimits {
    /// Most sealed parts in one record: one per distinct data class the event uses (`content`, `audio`,
    /// `crm.values`, each `pii.<kind>`).
    public static let maximumParts = 64

    /// Most sealed parts a reader accepts in one record: more than the writer makes, so that records stored
    /// before the writer checked `maximumParts` (events with more than 64 pii kinds) still read back.
    public static let readableParts = 1 << 16

    /// Most fraction digits of a decimal (tag `0x0C`). A number written with more is stored as a float.
    public static let maximumDecimalScale = 18

    /// Most fraction digits of a decimal a reader accepts: more than the writer makes, so that decimals stored
    /// before the writer checked `maximumDecimalScale` (`0.0000000000000000000`) still read back.
    public static let readableDecimalScale = 1 << 16

    /// Most significant digits of a decimal's mantissa, so that it fits in a 64-bit integer. A number written
    /// with more is stored as a float.
    public static let maximumDecimalDigits = 18

    /// Most fraction digits of a timestamp (microseconds).
    public static let maximumTimestampFractionDigits = 6

    /// Largest magnitude of a timestamp's UTC offset, in minutes (`±23:59`).
    public static let maximumTimestampOffsetMinutes = 23 * 60 + 59

    /// The instants the writer accepts, in µs since the epoch: 0000-01-01T00:00:00Z through
    /// 9999-12-31T23:59:59.999999Z, so that the UTC form of every accepted timestamp has a four-digit year.
    public static let timestampMicros: ClosedRange<Int64> = -62_167_219_200_000_000...253_402_300_799_999_999

    /// The instants the readers accept: `timestampMicros` widened by a day on each side, for records written
    /// before the writer checked the UTC instant (a local date of 0000-01-01 or 9999-12-31 with an offset).
    public static let readableTimestampMicros: ClosedRange<Int64> =
        (timestampMicros.lowerBound - 86_400_000_000)...(timestampMicros.upperBound + 86_400_000_000)

    /// Largest items of one sealed part, in bytes before compression: what a reader decompresses at most.
    public static let maximumPartItemsBytes = 1 << 24

    /// Deepest nesting of an interchange event's JSON.
    public static let maximumJSONDepth = 64

    /// Largest decompressed content of one frame (FORMAT.md §2): what readers decompress at most, and where
    /// the writer starts a new frame.
    public static let maximumFrameContentBytes = 1 << 31

    /// Largest interchange event, in bytes of JSON, whatever a ledger's `maximum_event_bytes` says (token
    /// offsets of the JSON parser are 32-bit, and a record stays well below the frame limit).
    public static let maximumEventBytes = 1 << 26
}

/// An event that `RecordEncoder` refuses because its record would break a `RecordLimits` bound.
public struct RecordLimitError: Error, CustomStringConvertible, Equatable {
    /// The idempotency key of the event.
    public var idempotency: String
    /// Which limit, and by how much.
    public var reason: String

    /// A message a person can act on.
    public var description: String { "event \(idempotency): \(reason)" }
}
