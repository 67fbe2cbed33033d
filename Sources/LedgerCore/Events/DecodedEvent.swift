// An interchange event after validation: envelope fields, the meta body and the plaintext of each sealed part.

/// The plaintext items of one sealed part, before sealing.
public struct PartPlaintext: Sendable, Equatable {
    /// The part's data class.
    public var dataClass: DataClass
    /// The encoded values (items) of the part, concatenated; the body's sealed references index them.
    public var items: [UInt8]
}

/// A validated interchange event, ready to be sealed and appended.
public struct DecodedEvent: Sendable, Equatable {
    /// The event type.
    public var type: EventType
    /// The call id (empty for ledger-wide events).
    public var call: String
    /// The tenant.
    public var tenant: String
    /// Producer and version (`gladia/v2`).
    public var source: String
    /// The idempotency key.
    public var idempotency: String
    /// When the source says it happened, if known.
    public var occurred: Timestamp?
    /// The body's meta fields in the value encoding, with sealed references where sensitive fields were.
    public var body: [UInt8]
    /// One entry per sensitive class used by the body, in order of first use.
    public var parts: [PartPlaintext]
    /// Size of the interchange JSON line this event was decoded from.
    public var inputByteCount: Int
}

/// Where in an input an event failed validation, and why.
public struct EventDecodingError: Error, CustomStringConvertible, Equatable {
    /// 1-based input line number (0 when not reading lines).
    public var line: Int
    /// JSON path of the offending field (`body.words[3].start_ms`), or empty for the whole line.
    public var field: String
    /// What is wrong.
    public var reason: String

    /// An error at `field` of `line`.
    public init(line: Int, field: String, reason: String) {
        self.line = line
        self.field = field
        self.reason = reason
    }

    /// A message a person can act on.
    public var description: String {
        field.isEmpty ? "line \(line): \(reason)" : "line \(line): field \(field): \(reason)"
    }
}
