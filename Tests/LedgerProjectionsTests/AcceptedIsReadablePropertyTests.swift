// Accepted implies readable, as a property: interchange events generated from every event type's body schema
// (edge values included: extreme integers and floats, long decimals, timestamps at the ends of years
// 0000-9999 with every offset, dozens of pii kinds, unicode and escapes, empty and maximal strings) are
// appended through the writer's JSON path one line at a time; a refused line leaves the log byte for byte as it
// was, and after reopening, every accepted event reads back equal to its input, verifies, and folds into the
// projections without error.
import Foundation
import LedgerCore
import LedgerProjections
import LedgerSimulator
import LedgerStore
import LedgerTestSupport
import PropertyBased
import Testing

/// A JSON value as the generator wrote it, kept to compare with what the ledger renders.
private indirect enum Model {
    case null
    case boolean(Bool)
    case integer(Int64)
    /// A number that is not a JSON integer token: its exact text.
    case number(String)
    case string(String)
    /// A string whose serialization never uses optional escapes (digests, base64, enumerations, timestamps,
    /// which the validator takes only unescaped).
    case plain(String)
    case array([Model])
    case object([(String, Model)])
}

/// One generated interchange line and the model of its body.
private struct GeneratedEvent: CustomStringConvertible {
    var type: EventType
    var envelope: [(String, String)]
    var body: Model
    var line: String

    var description: String { line.count > 600 ? String(line.prefix(600)) + "…(\(line.utf8.count) bytes)" : line }
}

/// Builds events from the body schemas. `invalidRate` is the chance that a leaf value is made invalid.
private struct EventFactory {
    var rng: SeededGenerator
    let invalidRate = 0.004
    /// The pii kinds annotated objects draw from in the event being generated.
    var piiKinds: [String] = []
    /// Whether arrays of pii-annotated objects are made long (to cross the sealed part limit).
    var wide = false
    var nextKind = 0

    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func pick<T>(_ values: [T]) -> T { values[int(0...values.count - 1)] }

    // MARK: Strings

    static let characters: [String] = [
        "a", "Z", "0", " ", "~", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "ß", "€", "中",
        "\u{2028}", "\u{FFFD}", "\u{FFFF}", "😀", "𝄞", "\u{10FFFF}", "\u{301}",
    ]

    /// A string of exactly `bytes` UTF-8 bytes, or of random content up to `bytes` when `exact` is false.
    mutating func text(maxBytes: Int, exact: Bool = false, controls: Bool = true) -> String {
        let target = exact ? maxBytes : int(0...min(maxBytes, chance(0.1) ? 2000 : 24))
        var result = ""
        var used = 0
        while used < target {
            var character = pick(Self.characters)
            if !controls && character.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                character = "c"
            }
            if used + character.utf8.count > target { character = "x" }
            result += character
            used += character.utf8.count
        }
        return result
    }

    mutating func string(maxBytes: Int) -> Model {
        if chance(invalidRate) { return .string(text(maxBytes: maxBytes + 1, exact: true)) }
        if wide { return .string(text(maxBytes: min(maxBytes, 12))) }
        switch int(0...9) {
        case 0: return .string("")
        case 1: return .string(text(maxBytes: min(maxBytes, 70_000), exact: true))
        default: return .string(text(maxBytes: maxBytes))
        }
    }

    // MARK: Numbers

    mutating func integer(_ range: ClosedRange<Int64>) -> Model {
        if chance(invalidRate) {
            if range.upperBound < .max { return .integer(range.upperBound + 1) }
            if range.lowerBound > .min { return .integer(range.lowerBound - 1) }
        }
        switch int(0...4) {
        case 0: return .integer(range.lowerBound)
        case 1: return .integer(range.upperBound)
        case 2 where range.contains(0): return .integer(0)
        default: return .integer(Int64.random(in: range, using: &rng))
        }
    }

    /// Plain decimal text: an integer part, then `scale` fraction digits (leading and trailing zeros included).
    mutating func decimalText(integerDigits: Int, scale: Int, negative: Bool) -> String {
        var text = negative ? "-" : ""
        if integerDigits == 0 {
            text += "0"
        } else {
            text += String(int(1...9))
            for _ in 1..<integerDigits { text += String(int(0...9)) }
        }
        guard scale > 0 else { return text + ".0" }
        text += "."
        let zeros = chance(0.3) ? int(0...scale) : 0
        for position in 0..<scale { text += position < zeros ? "0" : String(int(0...9)) }
        return text
    }

    mutating func number(_ range: ClosedRange<Double>) -> Model {
        if chance(invalidRate) { return .number(range.upperBound >= 1e300 ? "1e999" : "\(range.upperBound * 2 + 1)") }
        for _ in 0..<8 {
            let candidate: Model
            switch int(0...9) {
            case 0:
                let low = Int64(exactly: max(range.lowerBound.rounded(.up), -9.2e18)) ?? 0
                let high = Int64(exactly: min(range.upperBound.rounded(.down), 9.2e18)) ?? 0
                candidate = low <= high ? .integer(Int64.random(in: low...high, using: &rng)) : .integer(0)
            case 1: candidate = .number(pick(["0.0000000000000000000", "0.0", "-0.0", "1.000000000000000000000"]))
            case 2:
                candidate = .number(
                    pick([
                        "5e-324", "2.2250738585072014e-308", "1e-300", "1.7976931348623157e308",
                        "-1.7976931348623157E+308",
                        "9223372036854775807", "-9223372036854775808", "18446744073709551616", "1E2", "0e0",
                    ]))
            case 3:
                // Any binary64 (its shortest form) when the range is too wide to draw from uniformly.
                let value =
                    (range.upperBound - range.lowerBound).isFinite
                    ? Double.random(in: range, using: &rng) : Double(bitPattern: rng.next())
                candidate = .number("\(value)")
            default:
                candidate = .number(
                    decimalText(
                        integerDigits: int(0...(chance(0.2) ? 21 : 3)), scale: int(0...22), negative: chance(0.3)))
            }
            let value: Double? =
                switch candidate {
                case .integer(let integer): Double(integer)
                case .number(let text): Double(text)
                default: nil
                }
            if let value, value.isFinite, range.contains(value) { return candidate }
        }
        return .integer(0)
    }

    // MARK: Timestamps

    mutating func timestamp() -> Model {
        if chance(invalidRate) {
            return .plain(
                pick([
                    "2026-01-01T00:00:00.1234567Z", "2026-01-01T00:00:60Z", "2026-13-01T00:00:00Z",
                    "2026-01-01t00:00:00z",
                    "0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01",
                ]))
        }
        if chance(0.1) {
            // The first and last instants, with and without an offset that takes them out of years 0000-9999.
            return .plain(
                pick([
                    "0000-01-01T00:00:00Z", "0000-01-01T00:00:00.000000-23:59", "0000-01-01T00:00:00+00:01",
                    "0000-01-01T23:59:00+23:59", "9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59+23:59",
                    "9999-12-31T23:59:59.999999-00:01", "9999-12-31T00:00:59.999999-23:59",
                ]))
        }
        let year = chance(0.4) ? pick([0, 1, 1969, 1970, 2026, 9998, 9999]) : int(0...9999)
        let month = chance(0.3) ? pick([1, 2, 12]) : int(1...12)
        let day =
            chance(0.3)
            ? Timestamp.daysIn(month: month, year: year) : int(1...Timestamp.daysIn(month: month, year: year))
        let (hour, minute, second) =
            chance(0.3) ? pick([(0, 0, 0), (23, 59, 59)]) : (int(0...23), int(0...59), int(0...59))
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var text = String(repeating: "0", count: 4 - String(year).count) + "\(year)-\(two(month))-\(two(day))T"
        text += "\(two(hour)):\(two(minute)):\(two(second))"
        let digits = int(0...6)
        if digits > 0 {
            text += "."
            for _ in 0..<digits { text += String(int(0...9)) }
        }
        switch int(0...3) {
        case 0: text += "Z"
        case 1: text += "-00:00"
        default:
            let minutes = chance(0.3) ? pick([1, 23 * 60 + 59, 60]) : int(0...(23 * 60 + 59))
            text += (chance(0.5) ? "+" : "-") + two(minutes / 60) + ":" + two(minutes % 60)
        }
        return .plain(text)
    }

    // MARK: Schema walk

    mutating func piiKind() -> String {
        if chance(invalidRate) { return String(repeating: "k", count: 49) }
        if wide {
            nextKind += 1
            return "kind_\(nextKind)"
        }
        return pick(piiKinds)
    }

    mutating func value(_ type: FieldType) -> Model {
        switch type {
        case .string(let maxBytes): return string(maxBytes: maxBytes)
        case .enumeration(let values): return .plain(chance(invalidRate) ? "NOT_ALLOWED" : pick(values))
        case .integer(let range): return integer(range)
        case .number(let range): return number(range)
        case .boolean: return .boolean(chance(0.5))
        case .timestamp: return timestamp()
        case .sha256:
            let digits = (0..<64).map { _ in pick(Array("0123456789abcdef")) }
            return .plain(String(chance(invalidRate) ? digits.map { Character($0.uppercased()) } : digits))
        case .bytes(let maxBytes):
            let count = chance(0.02) ? min(maxBytes, 700_000) : int(0...min(maxBytes, chance(0.1) ? 3000 : 40))
            return .plain(Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }).base64EncodedString())
        case .piiKind: return .plain(piiKind())
        case .scalar(let maxBytes):
            switch int(0...3) {
            case 0: return chance(0.5) ? .null : .boolean(chance(0.5))
            case 1: return number(-Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude)
            default: return string(maxBytes: maxBytes)
            }
        case .array(let element, let maxCount):
            var count = int(0...min(maxCount, 4))
            if wide, case .object(let schema) = element, schema.allowsPIIAnnotation { count = int(30...70) }
            if chance(invalidRate) && maxCount <= 16 { count = maxCount + 1 }
            return .array((0..<count).map { _ in value(element) })
        case .object(let schema): return object(schema)
        case .map(let element, let maxCount):
            var keys: [String] = []
            for _ in 0..<int(0...min(maxCount, 4)) {
                let key = chance(0.1) ? text(maxBytes: 256, exact: true) : "k\(keys.count)" + text(maxBytes: 8)
                if !keys.contains(key) { keys.append(key) }
            }
            return .object(keys.map { ($0, value(element)) })
        case .stringOr(let string, let other): return value(chance(0.5) ? string : other)
        case .sealed(_, let inner), .sealedText(let inner): return value(inner)
        }
    }

    mutating func object(_ schema: ObjectSchema) -> Model {
        var members: [(String, Model)] = []
        for field in schema.fields {
            let include =
                field.isRequired ? !chance(invalidRate) : chance(wide && field.name == "pii" ? 0.95 : 0.5)
            if include { members.append((field.name, value(field.type))) }
        }
        if chance(0.2) { members.shuffle(using: &rng) }
        return .object(members)
    }

    mutating func event(number: Int) -> GeneratedEvent {
        // Every type, with more of the two whose spans, words and entities carry pii kinds: a quarter of those
        // have arrays of 30-70 such objects, each of its own kind, about the sealed part limit.
        let type = chance(0.25) ? pick([.transcriptSegment, .enrichmentResult]) : pick(EventType.allCases)
        piiKinds = (0..<int(1...3)).map { "kind_\($0)" }
        wide = chance(0.25)
        nextKind = 0
        let body = object(type.schema)
        var envelope: [(String, String)] = [("type", type.rawValue)]
        if type.requiresCall || chance(0.5) { envelope.append(("call", "call-\(int(0...3))")) }
        envelope.append(("tenant", chance(0.1) ? text(maxBytes: 128, exact: true, controls: false) : "tenant"))
        envelope.append(("source", "generated/1"))
        envelope.append(("idempotency", "event-\(number)-" + text(maxBytes: 40, controls: false)))
        if chance(0.3), case .plain(let occurred) = timestamp() { envelope.append(("occurred", occurred)) }
        var line = "{"
        for (index, (name, value)) in envelope.enumerated() {
            line += (index > 0 ? "," : "") + Self.quoted(name) + ":" + quoted(value)
        }
        line += ",\"body\":" + serialize(body) + "}"
        return GeneratedEvent(type: type, envelope: envelope, body: body, line: line)
    }

    // MARK: Serializing

    static func quoted(_ text: String) -> String {
        var rng = SeededGenerator(seed: UInt64(text.utf8.count))
        return quoted(text, escapeNonASCII: false, rng: &rng)
    }

    mutating func quoted(_ text: String) -> String { Self.quoted(text, escapeNonASCII: chance(0.3), rng: &rng) }

    static func quoted(
        _ text: String, escapeNonASCII: Bool, rng: inout SeededGenerator, escapeSolidus: Bool = true
    ) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "/" where escapeSolidus && Bool.random(using: &rng): out += "\\/"
            default:
                if scalar.value < 0x20 || (escapeNonASCII && scalar.value > 0x7E) {
                    for unit in String(scalar).utf16 {
                        let hex = String(unit, radix: 16)
                        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    mutating func serialize(_ model: Model) -> String {
        switch model {
        case .null: return "null"
        case .boolean(let value): return value ? "true" : "false"
        case .integer(let value): return "\(value)"
        case .number(let text): return text
        case .string(let text): return quoted(text)
        case .plain(let text): return Self.quoted(text, escapeNonASCII: false, rng: &rng, escapeSolidus: false)
        case .array(let elements): return "[" + elements.map { serialize($0) }.joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.map { quoted($0.0) + ":" + serialize($0.1) }.joined(separator: ",") + "}"
        }
    }
}

/// A JSON value as the ledger rendered it, numbers kept as their text: `JSONSerialization` does not round
/// every decimal text to the nearest binary64 on Linux, so numbers are converted with `Double(_:)`.
private indirect enum Rendered {
    case null
    case boolean(Bool)
    case number(String)
    case string([UInt8])
    case array([Rendered])
    case object([String: Rendered])

    subscript(name: String) -> Rendered? {
        if case .object(let members) = self { return members[name] }
        return nil
    }

    var text: String? {
        if case .string(let bytes) = self { return String(decoding: bytes, as: UTF8.self) }
        return nil
    }
}

/// A strict reader of one rendered JSON text (RFC 8259); nil when the text is not valid JSON.
private struct RenderedParser {
    let bytes: [UInt8]
    var position = 0

    static func parse(_ bytes: [UInt8]) -> Rendered? {
        var parser = RenderedParser(bytes: bytes)
        guard let value = parser.value(), parser.position == bytes.count else { return nil }
        return value
    }

    mutating func skipSpace() {
        while position < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[position]) { position += 1 }
    }

    mutating func literal(_ word: String) -> Bool {
        let word = Array(word.utf8)
        guard bytes.count - position >= word.count, Array(bytes[position..<position + word.count]) == word else {
            return false
        }
        position += word.count
        return true
    }

    mutating func value() -> Rendered? {
        skipSpace()
        guard position < bytes.count else { return nil }
        switch bytes[position] {
        case UInt8(ascii: "n"): return literal("null") ? .null : nil
        case UInt8(ascii: "t"): return literal("true") ? .boolean(true) : nil
        case UInt8(ascii: "f"): return literal("false") ? .boolean(false) : nil
        case UInt8(ascii: "\""): return string().map { .string($0) }
        case UInt8(ascii: "["):
            position += 1
            var elements: [Rendered] = []
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            while true {
                guard let element = value() else { return nil }
                elements.append(element)
                skipSpace()
                guard position < bytes.count else { return nil }
                position += 1
                if bytes[position - 1] == UInt8(ascii: "]") { return .array(elements) }
                guard bytes[position - 1] == UInt8(ascii: ",") else { return nil }
            }
        case UInt8(ascii: "{"):
            position += 1
            var members: [String: Rendered] = [:]
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\""), let key = string() else {
                    return nil
                }
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { return nil }
                position += 1
                guard let member = value() else { return nil }
                let name = String(decoding: key, as: UTF8.self)
                guard members.updateValue(member, forKey: name) == nil else { return nil }
                skipSpace()
                guard position < bytes.count else { return nil }
                position += 1
                if bytes[position - 1] == UInt8(ascii: "}") { return .object(members) }
                guard bytes[position - 1] == UInt8(ascii: ",") else { return nil }
            }
        default:
            let start = position
            while position < bytes.count, Array("+-.eE0123456789".utf8).contains(bytes[position]) { position += 1 }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            guard let number = Double(text), number.isFinite, text.first != "+", text.first != "." else { return nil }
            return .number(text)
        }
    }

    mutating func hex4() -> UInt32? {
        guard bytes.count - position >= 4,
            let value = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16)
        else { return nil }
        position += 4
        return value
    }

    /// The decoded UTF-8 bytes of the string at `position`.
    mutating func string() -> [UInt8]? {
        position += 1
        var out: [UInt8] = []
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""): return String(validating: out, as: UTF8.self) == nil ? nil : out
            case 0..<0x20: return nil
            case UInt8(ascii: "\\"):
                guard position < bytes.count else { return nil }
                let escape = bytes[position]
                position += 1
                let simple: [UInt8: UInt8] = [
                    UInt8(ascii: "\""): 0x22, UInt8(ascii: "\\"): 0x5C, UInt8(ascii: "/"): 0x2F,
                    UInt8(ascii: "b"): 0x08,
                    UInt8(ascii: "f"): 0x0C, UInt8(ascii: "n"): 0x0A, UInt8(ascii: "r"): 0x0D, UInt8(ascii: "t"): 0x09,
                ]
                if let replacement = simple[escape] {
                    out.append(replacement)
                    continue
                }
                guard escape == UInt8(ascii: "u"), var scalar = hex4() else { return nil }
                if (0xD800..<0xDC00).contains(scalar) {
                    guard literal("\\u"), let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let unicode = Unicode.Scalar(scalar) else { return nil }
                out.append(contentsOf: Array(String(Character(unicode)).utf8))
            default: out.append(byte)
            }
        }
        return nil
    }
}

/// Why `actual` (what the ledger rendered) differs from `expected`, or nil.
private func difference(_ expected: Model, _ actual: Rendered, at path: String) -> String? {
    switch (expected, actual) {
    case (.null, .null): return nil
    case (.boolean(let value), .boolean(let rendered)) where value == rendered: return nil
    case (.integer(let value), .number(let text)) where Int64(text) == value: return nil
    case (.number(let text), .number(let rendered)) where Double(text) == Double(rendered): return nil
    case (.string(let text), .string(let bytes)) where Array(text.utf8) == bytes: return nil
    case (.plain(let text), .string(let bytes)) where Array(text.utf8) == bytes: return nil
    case (.array(let elements), .array(let values)) where elements.count == values.count:
        for (index, (element, value)) in zip(elements, values).enumerated() {
            if let found = difference(element, value, at: "\(path)[\(index)]") { return found }
        }
        return nil
    case (.object(let members), .object(let values)) where members.count == values.count:
        for (name, value) in members {
            guard let found = values[name] else { return "\(path): member \(name.debugDescription) missing" }
            if let problem = difference(value, found, at: "\(path).\(name)") { return problem }
        }
        return nil
    default: return "\(path): expected \(expected), got \(actual)"
    }
}

/// The strings of `model` that are RFC 3339 date-times.
private func timestamps(in model: Model) -> [String] {
    switch model {
    case .plain(let text): Timestamp.parse(text) == nil ? [] : [text]
    case .array(let elements): elements.flatMap(timestamps(in:))
    case .object(let members): members.flatMap { timestamps(in: $0.1) }
    default: []
    }
}

/// Every file under `directory` with its bytes, to tell whether a refused line changed the log.
private func snapshot(_ directory: String) throws -> [String: Data] {
    var files: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
        files[name] = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
    }
    return files
}

/// What the property check saw over all cases.
private final class Tally: @unchecked Sendable {
    var accepted: [EventType: Int] = [:]
    var refused = 0
    /// Refusals by field and the start of their reason.
    var refusedReasons: [String: Int] = [:]
    /// The most sealed parts an accepted event read back with.
    var mostSealedParts = 0
}

@Suite struct AcceptedIsReadablePropertyTests {
    @Test func everyAcceptedEventReadsBackAndEveryRefusedOneLeavesTheLogUnchanged() async throws {
        let tally = Tally()
        let batches = Generator<[GeneratedEvent], Shrink.None<[GeneratedEvent]>> { rng in
            var factory = EventFactory(rng: SeededGenerator(seed: rng.next()))
            return (0..<factory.int(1...10)).map { factory.event(number: $0) }
        }
        await propertyCheck(count: 200, input: batches) { events in
            // propertyCheck counts recorded issues but drops errors thrown by its body: record them.
            do {
                try checkBatch(events, tally: tally)
            } catch {
                Issue.record("\(error)")
            }
        }
        print(
            "accepted \(tally.accepted.values.reduce(0, +)) events (\(tally.accepted.count) types, up to "
                + "\(tally.mostSealedParts) sealed parts), refused \(tally.refused): "
                + tally.refusedReasons.sorted { $0.value > $1.value }.map { "\($0.value)× \($0.key)" }.joined(
                    separator: "; "))
        let missing = EventType.allCases.filter { (tally.accepted[$0] ?? 0) == 0 }
        #expect(missing.isEmpty, "no event of \(missing) was accepted")
        #expect(tally.refused > 0 && tally.accepted.values.reduce(0, +) > tally.refused)
    }

    private func checkBatch(_ events: [GeneratedEvent], tally: Tally) throws {
        let scratch = ScratchDirectory()
        var options = LedgerCreationOptions()
        options.origin = "property.test/ledger"
        let directory = scratch.file("ledger")
        try LedgerWriter.create(directory: directory, options: options)
        let writer = try LedgerWriter(directory: directory)
        let segments = writer.layout.segments
        var accepted: [GeneratedEvent] = []
        for (index, event) in events.enumerated() {
            let input = scratch.file("line-\(index).jsonl")
            try Data((event.line + "\n").utf8).write(to: URL(fileURLWithPath: input))
            let descriptor = open(input, O_RDONLY)
            try #require(descriptor >= 0)
            defer { close(descriptor) }
            let before = try snapshot(segments)
            let sizeBefore = writer.durableSize
            let outcome = try writer.appendLines(from: descriptor) { _ in }
            if let rejected = outcome.rejected {
                tally.refused += 1
                let field = rejected.field.replacing(/\[[0-9]+\]/, with: "[]")
                tally.refusedReasons["\(field): \(rejected.reason.prefix(40))", default: 0] += 1
                #expect(outcome.acknowledged == 0)
                #expect(writer.durableSize == sizeBefore)
                #expect(try snapshot(segments) == before, "refused line changed the log: \(rejected)")
            } else {
                #expect(outcome.appended == 1, "neither appended nor refused: \(event)")
                accepted.append(event)
                tally.accepted[event.type, default: 0] += 1
            }
        }
        try writer.close()

        let reader = try LedgerReader(directory: directory)
        var lines: [[UInt8]] = []
        try reader.events(EventSelection()) { lines.append($0) }
        try #require(lines.count == accepted.count, "read \(lines.count) events back, \(accepted.count) were accepted")
        for (seq, (event, line)) in zip(accepted, lines).enumerated() {
            let rendered = try #require(
                RenderedParser.parse(line),
                "seq \(seq) rendered as invalid JSON: \(String(decoding: line, as: UTF8.self))")
            #expect(rendered["seq"].flatMap { if case .number(let text) = $0 { Int(text) } else { nil } } == seq)
            for (name, value) in event.envelope {
                #expect(rendered[name]?.text == value, "seq \(seq) \(name) of \(event)")
            }
            if case .array(let sealed) = rendered["sealed"] {
                #expect(sealed.allSatisfy { $0["state"]?.text == "opened" })
                tally.mostSealedParts = max(tally.mostSealedParts, sealed.count)
            }
            let body = try #require(rendered["body"], "seq \(seq) has no body")
            let problem = difference(event.body, body, at: "body")
            #expect(problem == nil, "seq \(seq): \(problem ?? "") in \(event)")
            // Every timestamp accepted has a UTC form (what `calls`, `crm plan` and `transcript` print).
            for text in timestamps(in: event.body) + event.envelope.filter({ $0.0 == "occurred" }).map(\.1) {
                let parsed = try #require(Timestamp.parse(text), "seq \(seq): \(text) was accepted")
                #expect(Timestamp.parse(Timestamp.format(micros: parsed.micros))?.micros == parsed.micros)
            }
        }
        #expect(try reader.verify().events == UInt64(accepted.count))

        let engine = ProjectionEngine(reader: reader)
        _ = try engine.catchUp()
        for summary in try engine.calls() {
            _ = [summary.startedAt, summary.connectedToAgentAt, summary.endedAt].compactMap { $0 }.map(
                Timestamp.format(micros:))
            _ = try JSONEncoder().encode(summary)
            if let transcript = try engine.transcript(call: summary.call) {
                _ = TranscriptRenderer.text(transcript, redacted: false)
                _ = TranscriptRenderer.webVTT(transcript, redacted: true)
                _ = try JSONEncoder().encode(transcript)
            }
        }
    }
}
