// The declarative body schema language: field types, sizes, required fields and data classes.

/// The type of a body field, including where its value is sealed.
public indirect enum FieldType: Sendable {
    /// A UTF-8 string of at most `maxBytes` bytes.
    case string(maxBytes: Int)
    /// One of a closed set of strings.
    case enumeration([String])
    /// An integer (no fraction, no exponent) within `range`.
    case integer(ClosedRange<Int64>)
    /// Any number within `range`; integers stay integers, others are 64-bit floats.
    case number(ClosedRange<Double>)
    /// `true` or `false`.
    case boolean
    /// An RFC 3339 date-time with at most microsecond precision, stored as UTC microseconds.
    case timestamp
    /// A SHA-256 digest as 64 hexadecimal digits, stored as 32 bytes.
    case sha256
    /// Base64 bytes, at most `maxBytes` once decoded.
    case bytes(maxBytes: Int)
    /// A PII kind label (`credit_card_number`): 1–48 of `a-z`, `0-9`, `_`.
    case piiKind
    /// Any JSON scalar: string (at most `maxBytes`), number, boolean or null.
    case scalar(maxBytes: Int)
    /// An array of at most `maxCount` elements of one type.
    case array(FieldType, maxCount: Int)
    /// An object with the fields of `ObjectSchema`.
    case object(ObjectSchema)
    /// An object with free keys (at most `maxCount`, each at most 256 bytes) and values of one type.
    case map(FieldType, maxCount: Int)
    /// The first type if the JSON value is a string, the second otherwise.
    case stringOr(FieldType, FieldType)
    /// A value stored sealed under the (call, class) data key.
    case sealed(DataClass, FieldType)
    /// Text stored sealed as `content`, or as `pii.<kind>` when the enclosing object carries `"pii": kind`.
    case sealedText(FieldType)
}

/// One field of an object schema.
public struct FieldSchema: Sendable {
    /// The JSON member name.
    public var name: String
    /// The field's type (and, through `.sealed` / `.sealedText`, its data class).
    public var type: FieldType
    /// Whether the member must be present.
    public var isRequired: Bool

    /// A field.
    public init(_ name: String, _ type: FieldType, required: Bool = false) {
        self.name = name
        self.type = type
        self.isRequired = required
    }

    /// The data class the field's value is stored under (`meta` unless sealed; `content` for `sealedText`).
    public var dataClass: DataClass {
        switch type {
        case .sealed(let dataClass, _): dataClass
        case .sealedText: .content
        default: .meta
        }
    }
}

/// The members an object may have. Unknown members are rejected.
public struct ObjectSchema: Sendable {
    /// The fields, in documentation order.
    public var fields: [FieldSchema]
    /// Whether the object may carry `"pii": "<kind>"`, which moves its `sealedText` fields to `pii.<kind>`.
    public var allowsPIIAnnotation: Bool
    /// Bit mask of the required fields' positions.
    let requiredMask: UInt64

    /// A schema with the given fields; at most 64.
    public init(_ fields: [FieldSchema], allowsPIIAnnotation: Bool = false) {
        precondition(fields.count <= 63, "an object schema holds at most 63 fields")
        var all = fields
        if allowsPIIAnnotation { all.append(FieldSchema("pii", .piiKind)) }
        self.fields = all
        self.allowsPIIAnnotation = allowsPIIAnnotation
        self.requiredMask = all.enumerated().reduce(0) { $1.element.isRequired ? $0 | 1 << $1.offset : $0 }
    }
}
