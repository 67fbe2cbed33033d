// The values a CRM mapping produces: typed scalars that encode as plain JSON scalars, the reasons a value can be
// unavailable (the source never said it, or its sealed text cannot be read), and one CRM record's values as the
// current mapping would write them.

/// A CRM field value: a plain JSON scalar.
public enum CRMValue: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    /// Text.
    case string(String)
    /// A whole number.
    case integer(Int64)
    /// A number with a fraction.
    case double(Double)
    /// True or false.
    case bool(Bool)
    /// JSON null (a value read back from a `crm.write`; a mapping never produces it, see `CRMUnavailable`).
    case null

    /// The value as template text: strings as they are, numbers in decimal, `true`/`false`, `null`.
    public var description: String {
        switch self {
        case .string(let text): text
        case .integer(let number): String(number)
        case .double(let number): String(number)
        case .bool(let flag): flag ? "true" : "false"
        case .null: "null"
        }
    }

    /// Decodes a JSON scalar: a boolean, a whole number, another number, a string or null.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let flag = try? container.decode(Bool.self) {
            self = .bool(flag)
        } else if let number = try? container.decode(Int64.self) {
            self = .integer(number)
        } else if let number = try? container.decode(Double.self) {
            self = .double(number)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    /// Encodes the value as the JSON scalar it is.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let text): try container.encode(text)
        case .integer(let number): try container.encode(number)
        case .double(let number): try container.encode(number)
        case .bool(let flag): try container.encode(flag)
        case .null: try container.encodeNil()
        }
    }
}

/// Why a fact, a template or a field has no value.
public enum CRMUnavailable: Sendable, Equatable, Hashable, Encodable, CustomStringConvertible {
    /// The ledger does not say it (no such event, member or entity, or empty text).
    case absent
    /// The ledger holds it but it cannot be read: sealed and `shredded`, `compacted` (erased) or `locked` (no key
    /// file), as `TextSpan.unavailableBecause` says; or `redacted` by the source (an entity's text such as `[NAME]`).
    case unreadable(because: String)

    /// `absent`, or the reason the text cannot be read.
    public var description: String {
        switch self {
        case .absent: "absent"
        case .unreadable(let because): because
        }
    }

    /// Encodes the description.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A fact's or a template's outcome: a value, or why there is none.
public enum CRMFactValue: Sendable, Equatable {
    /// The value.
    case known(CRMValue)
    /// No value, and why.
    case unavailable(CRMUnavailable)

    /// The value, or nil.
    public var value: CRMValue? {
        if case .known(let value) = self { return value }
        return nil
    }
}

/// The values one mapping record gives one call: what the connector would upsert.
public struct CRMRecordValues: Sendable, Equatable, Encodable {
    /// The CRM object (`VoiceCall`).
    public var object: String
    /// The field the record is upserted by (`VendorCallKey`).
    public var externalIdField: String
    /// Its value; nil when the external id's template is unavailable, and the record must then not be written.
    public var externalId: String?
    /// The available fields' values, by CRM field name; unavailable fields are left out (never cleared).
    public var fields: [String: CRMValue]
    /// The names of the record's personal fields (`crm.values` data), available or not, sorted.
    public var personalFields: [String]
    /// The fields (and the external id field, when its value is unavailable) that have no value, and why.
    public var unavailable: [String: CRMUnavailable]

    /// The field names of `fields`, sorted: the order to show and write them in.
    public var sortedFieldNames: [String] { fields.keys.sorted() }

    private enum CodingKeys: String, CodingKey {
        case object, fields, unavailable
        case externalIdField = "external_id_field"
        case externalId = "external_id"
        case personalFields = "personal_fields"
    }
}
