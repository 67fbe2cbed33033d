// The values a CRM write carries (one field value, one record of a collection) and the small JSON writer that
// turns them into Salesforce request bodies: sorted keys, exact numbers, no Foundation.

/// One field value written to the CRM, encoded as the matching JSON value.
public enum CRMFieldValue: Sendable, Equatable, Hashable {
    /// A JSON string.
    case string(String)
    /// A JSON integer.
    case integer(Int64)
    /// A JSON number; must be finite (NaN and infinities have no JSON form and are refused).
    case double(Double)
    /// `true` or `false`.
    case bool(Bool)
    /// `null`: clears the field.
    case null
}

/// One record of a collection upsert: its external id value and the fields to write.
public struct CRMRecord: Sendable, Equatable {
    /// The value of the external id field that identifies the record.
    public var externalId: String
    /// The fields to write, by API name (`Subject`, `Call_Duration__c`...).
    public var fields: [String: CRMFieldValue]

    /// A record identified by `externalId` with `fields`.
    public init(externalId: String, fields: [String: CRMFieldValue]) {
        self.externalId = externalId
        self.fields = fields
    }
}

/// Builds a JSON document byte by byte.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []

    mutating func raw(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case UInt8(ascii: "\n"): raw("\\n")
            case UInt8(ascii: "\r"): raw("\\r")
            case UInt8(ascii: "\t"): raw("\\t")
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                raw("\\u00")
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Writes `value`; `field` names it in the error for a non-finite number.
    mutating func value(_ value: CRMFieldValue, field: String) throws(SalesforceError) {
        switch value {
        case .string(let text): string(text)
        case .integer(let number): raw(String(number))
        case .double(let number):
            guard number.isFinite else { throw .nonFiniteNumber(field: field) }
            raw(String(number))
        case .bool(let flag): raw(flag ? "true" : "false")
        case .null: raw("null")
        }
    }

    /// Writes the members of `fields` in key order, each preceded by a comma when `leadingComma` or not first.
    mutating func members(_ fields: [String: CRMFieldValue], leadingComma: Bool) throws(SalesforceError) {
        for (index, name) in fields.keys.sorted().enumerated() {
            if leadingComma || index > 0 { raw(",") }
            string(name)
            raw(":")
            try value(fields[name]!, field: name)
        }
    }
}
