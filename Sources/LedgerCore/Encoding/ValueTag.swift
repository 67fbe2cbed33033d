// The tags of the binary value encoding used for event bodies and sealed parts (FORMAT.md §4).

/// The first byte of an encoded value.
public enum ValueTag: UInt8, Sendable {
    /// JSON `null`.
    case null = 0x00
    /// JSON `false`.
    case falseValue = 0x01
    /// JSON `true`.
    case trueValue = 0x02
    /// An integer: zigzag varint.
    case integer = 0x03
    /// A 64-bit IEEE 754 float: 8 bytes little-endian.
    case double = 0x04
    /// A UTF-8 string: varint byte count, bytes.
    case string = 0x05
    /// Raw bytes (JSON: base64): varint byte count, bytes.
    case bytes = 0x06
    /// A SHA-256 digest (JSON: 64 lowercase hex digits): 32 bytes.
    case digest = 0x07
    /// A timestamp (JSON: RFC 3339): zigzag varint microseconds since the Unix epoch, then the layout of
    /// `Timestamp.encode(to:)` so it renders exactly as written.
    case timestamp = 0x08
    /// An array: varint element count, elements.
    case array = 0x09
    /// An object: varint member count, then per member a key (varint byte count, UTF-8) and a value.
    case object = 0x0A
    /// A sealed value (meta bodies only): varint part index, varint item index within that part.
    case sealed = 0x0B
    /// A number written in plain decimal notation (`0.97`, `-12.50`): zigzag mantissa, varint scale;
    /// the value is `mantissa × 10^-scale` and renders with exactly `scale` fraction digits.
    case decimal = 0x0C
    /// An object of a body schema: varint member count, then per member its field number (its position in
    /// the schema, FORMAT.md §10) as a varint and its value, in the order received.
    case fields = 0x0D
}
