// Data classes: which body fields are never personal (meta) and which are sealed per (call, class).

/// The data class of a body field (DESIGN.md §3).
///
/// `meta` fields are stored in the clear; every other class is stored in a sealed part under a data key
/// for its (call, class), so that it can be erased on its own schedule.
public enum DataClass: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Ids, times, durations, roles, confidences, labels: never personal.
    case meta
    /// Audio bytes.
    case audio
    /// Transcript text and words.
    case content
    /// A span of personal data of the given kind (`name`, `credit_card_number`, `address`...).
    case pii(String)
    /// Field values written to a CRM.
    case crmValues

    /// The class's name as written in records, keys and JSON: `meta`, `audio`, `content`, `pii.<kind>`, `crm.values`.
    public var name: String {
        switch self {
        case .meta: "meta"
        case .audio: "audio"
        case .content: "content"
        case .pii(let kind): "pii.\(kind)"
        case .crmValues: "crm.values"
        }
    }

    /// The class's name.
    public var description: String { name }

    /// Parses a class name; `pii.<kind>` kinds must be 1–48 of `a-z`, `0-9`, `_`.
    public init?(name: String) {
        switch name {
        case "meta": self = .meta
        case "audio": self = .audio
        case "content": self = .content
        case "crm.values": self = .crmValues
        default:
            guard name.hasPrefix("pii."), Self.isValidPIIKind(name.utf8.dropFirst(4)) else { return nil }
            self = .pii(String(name.dropFirst(4)))
        }
    }

    /// Whether `kind` is a valid PII kind: 1–48 bytes of `a-z`, `0-9` and `_`.
    public static func isValidPIIKind(_ kind: some Collection<UInt8>) -> Bool {
        guard !kind.isEmpty, kind.count <= 48 else { return false }
        return kind.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }

    /// Orders classes by name.
    public static func < (lhs: DataClass, rhs: DataClass) -> Bool { lhs.name < rhs.name }
}

/// A (call, data class) pair: what a data key belongs to.
public struct CallClass: Hashable, Sendable {
    /// The call id.
    public var call: String
    /// The data class.
    public var dataClass: DataClass

    /// The pair.
    public init(call: String, dataClass: DataClass) {
        self.call = call
        self.dataClass = dataClass
    }
}
