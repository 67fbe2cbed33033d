// The template language of CRM mappings: literal text with `{fact|filter|...}` placeholders (`{{` and `}}` for
// literal braces). A template that is exactly one placeholder yields the fact's typed value; any other template
// yields text. Types are checked when the template is parsed, and evaluation is total: a template either yields
// a value or says why it cannot (a fact absent, or sealed and unreadable), never a placeholder string.

/// A parsed CRM field template.
public struct CRMTemplate: Sendable, Equatable, CustomStringConvertible {
    /// The template as written.
    public let source: String
    /// The type of its value.
    public let type: CRMValueType
    /// The names of the facts it reads, in order of appearance.
    public var facts: [String] {
        parts.compactMap { if case .placeholder(let slot) = $0 { slot.fact.name } else { nil } }
    }
    /// Whether it reads a personal fact (`entity.*`, `summary`).
    public var readsPersonalData: Bool {
        parts.contains { if case .placeholder(let slot) = $0 { slot.fact.personal } else { false } }
    }
    /// The template as written.
    public var description: String { source }

    private let parts: [Part]

    private enum Part: Sendable, Equatable {
        case literal(String)
        case placeholder(Placeholder)
    }

    private struct Placeholder: Sendable, Equatable {
        var fact: CRMFact
        var filters: [Filter]
        var type: CRMValueType
    }

    /// A filter applied to a placeholder's value, left to right.
    private enum Filter: Sendable, Equatable {
        /// The text in upper case.
        case upper
        /// The text in lower case.
        case lower
        /// Only the text's ASCII digits; absent when there are none.
        case digits
        /// The text's last four letters or digits (others dropped); absent when there are none.
        case last4
        /// The value, or this one when it is absent (not when it is unreadable).
        case defaultValue(CRMValue)
    }

    /// Parses `text`; the error says what is wrong, never quoting fact values.
    public static func parse(_ text: String) throws(CRMTemplateError) -> CRMTemplate {
        guard !text.isEmpty else { throw CRMTemplateError("must not be empty") }
        var parts: [Part] = []
        var literal = ""
        var rest = Substring(text)
        while let character = rest.first {
            rest = rest.dropFirst()
            if character == "{" && rest.first == "{" || character == "}" && rest.first == "}" {
                literal.append(character)
                rest = rest.dropFirst()
            } else if character == "}" {
                throw CRMTemplateError("unmatched '}' (write '}}' for a literal brace)")
            } else if character == "{" {
                guard let end = rest.firstIndex(of: "}") else {
                    throw CRMTemplateError("unclosed '{' (write '{{' for a literal brace)")
                }
                let inside = rest[..<end]
                rest = rest[rest.index(after: end)...]
                if inside.contains("{") { throw CRMTemplateError("'{' inside a placeholder") }
                if !literal.isEmpty { parts.append(.literal(literal)) }
                literal = ""
                parts.append(.placeholder(try placeholder(inside)))
            } else {
                literal.append(character)
            }
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        let type: CRMValueType
        if parts.count == 1, case .placeholder(let slot) = parts[0] { type = slot.type } else { type = .string }
        return CRMTemplate(source: text, type: type, parts: parts)
    }

    private static func placeholder(_ text: Substring) throws(CRMTemplateError) -> Placeholder {
        let pieces = text.split(separator: "|", omittingEmptySubsequences: false)
        let name = pieces[0].trimmingSpaces
        guard !name.isEmpty else { throw CRMTemplateError("empty placeholder '{\(text)}'") }
        guard let fact = CRMFact.named(name) else {
            throw CRMTemplateError("unknown fact '\(name)'; known: \(CRMFact.knownNames)")
        }
        var type = fact.type
        var filters: [Filter] = []
        for piece in pieces.dropFirst() {
            let (filterName, argument) =
                piece.firstIndex(of: ":").map {
                    (piece[..<$0].trimmingSpaces, String(piece[piece.index(after: $0)...]))
                }
                ?? (piece.trimmingSpaces, nil)
            if filterName == "default" {
                guard let argument, !argument.isEmpty else {
                    throw CRMTemplateError("filter 'default' of '\(name)' needs a value: default:VALUE")
                }
                filters.append(.defaultValue(try defaultValue(argument, type: type, fact: name)))
                continue
            }
            let filter: Filter
            switch filterName {
            case "upper": filter = .upper
            case "lower": filter = .lower
            case "digits": filter = .digits
            case "last4": filter = .last4
            default:
                throw CRMTemplateError(
                    "unknown filter '\(filterName)' of '\(name)'; known: upper, lower, digits, last4, default:VALUE")
            }
            guard argument == nil else { throw CRMTemplateError("filter '\(filterName)' takes no value") }
            filters.append(filter)
            type = .string
        }
        return Placeholder(fact: fact, filters: filters, type: type)
    }

    /// The value of `default:TEXT` for a placeholder of `type`.
    private static func defaultValue(
        _ text: String, type: CRMValueType, fact: String
    ) throws(CRMTemplateError) -> CRMValue {
        let value: CRMValue?
        switch type {
        case .string: value = .string(text)
        case .integer: value = Int64(text).map(CRMValue.integer)
        case .double: value = Double(text).flatMap { $0.isFinite ? CRMValue.double($0) : nil }
        case .bool: value = ["true": true, "false": false][text].map(CRMValue.bool)
        }
        guard let value else {
            let article = type == .integer ? "an" : "a"
            throw CRMTemplateError(
                "default of '\(fact)' must be \(article) \(type.rawValue), like the fact, not '\(text)'")
        }
        return value
    }

    /// The template's value for a call: unavailable when any fact it reads is (unreadable before absent).
    public func evaluate(_ facts: CRMFacts) -> CRMFactValue {
        if parts.count == 1, case .placeholder(let slot) = parts[0] { return Self.value(of: slot, facts) }
        var text = ""
        var missing: CRMUnavailable?
        for part in parts {
            switch part {
            case .literal(let literal): text += literal
            case .placeholder(let slot):
                switch Self.value(of: slot, facts) {
                case .known(let value): text += value.description
                case .unavailable(.absent): missing = missing ?? .absent
                case .unavailable(let reason): if missing == nil || missing == .absent { missing = reason }
                }
            }
        }
        if let missing { return .unavailable(missing) }
        return .known(.string(text))
    }

    private static func value(of slot: Placeholder, _ facts: CRMFacts) -> CRMFactValue {
        var result = slot.fact.read(facts)
        for filter in slot.filters {
            switch (filter, result) {
            case (.defaultValue(let value), .unavailable(.absent)): result = .known(value)
            case (.defaultValue, _), (_, .unavailable): continue
            case (.upper, .known(let value)): result = .known(.string(value.description.uppercased()))
            case (.lower, .known(let value)): result = .known(.string(value.description.lowercased()))
            case (.digits, .known(let value)):
                result = CRMFacts.text(String(value.description.filter { $0.isASCII && $0.isNumber }))
            case (.last4, .known(let value)):
                result = CRMFacts.text(String(value.description.filter { $0.isLetter || $0.isNumber }.suffix(4)))
            }
        }
        return result
    }
}

/// Why a template cannot be parsed.
public struct CRMTemplateError: Error, Equatable, CustomStringConvertible {
    /// The reason, in words.
    public var description: String

    /// An error with `description`.
    public init(_ description: String) {
        self.description = description
    }
}

extension CRMFact {
    /// The fact names for messages: the fixed ones and the two families.
    static var knownNames: String {
        (fixed.keys.sorted() + ["entity.<type>", "qa.<scorecard>.score", "qa.<scorecard>.automatic_fail"])
            .joined(separator: ", ")
    }
}

extension Substring {
    /// The text without leading and trailing spaces.
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
