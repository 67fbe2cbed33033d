// Accepted implies readable, as a property: interchange events generated from every event type's body schema
// (edge values included: extreme integers and floats, long decimals, timestamps at the ends of years
// 0000-9999 with every offset, dozens of pii kinds, unicode and escapes, empty and maximal strings) are
// appended through the writer's JSON path one line at a time; a refused line leaves the log byte for byte as it
// was, and after reopening, every accepted event reads back equal to its input, verifies, and folds into the
// projections without error.
import Foundation
import LedgerCore
import LedgerProjections
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
    case array([Model])
    case object([(String, Model)])
}

/// SplitMix64: deterministic per generated case, seeded from the property checker's generator.
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
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
    var rng: SplitMix
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
            case 3: candidate = .number("\(Double.random(in: range, using: &rng))")
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
            return .string(
                pick([
                    "2026-01-01T00:00:00.1234567Z", "2026-01-01T00:00:60Z", "2026-13-01T00:00:00Z",
                    "2026-01-01t00:00:00z",
                    "0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01",
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
        return .string(text)
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
        case .enumeration(let values): return .string(chance(invalidRate) ? "NOT_ALLOWED" : pick(values))
        case .integer(let range): return integer(range)
        case .number(let range): return number(range)
        case .boolean: return .boolean(chance(0.5))
        case .timestamp: return timestamp()
        case .sha256:
            let digits = (0..<64).map { _ in pick(Array("0123456789abcdef")) }
            return .string(String(chance(invalidRate) ? digits.map { Character($0.uppercased()) } : digits))
        case .bytes(let maxBytes):
            let count = chance(0.02) ? min(maxBytes, 700_000) : int(0...min(maxBytes, chance(0.1) ? 3000 : 40))
            return .string(Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }).base64EncodedString())
        case .piiKind: return .string(piiKind())
        case .scalar(let maxBytes):
            switch int(0...3) {
            case 0: return chance(0.5) ? .null : .boolean(chance(0.5))
            case 1: return number(-Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude)
            default: return string(maxBytes: maxBytes)
            }
        case .array(let element, let maxCount):
            var count = int(0...min(maxCount, 4))
            if wide, case .object(let schema) = element, schema.allowsPIIAnnotation { count = int(60...70) }
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
            let include = field.isRequired ? !chance(invalidRate) : chance(0.5)
            if include { members.append((field.name, value(field.type))) }
        }
        if chance(0.2) { members.shuffle(using: &rng) }
        return .object(members)
    }

    mutating func event(number: Int) -> GeneratedEvent {
        let type = pick(EventType.allCases)
        piiKinds = (0..<int(1...3)).map { "kind_\($0)" }
        wide = chance(0.12)
        nextKind = 0
        let body = object(type.schema)
        var envelope: [(String, String)] = [("type", type.rawValue)]
        if type.requiresCall || chance(0.5) { envelope.append(("call", "call-\(int(0...3))")) }
        envelope.append(("tenant", chance(0.1) ? text(maxBytes: 128, exact: true, controls: false) : "tenant"))
        envelope.append(("source", "generated/1"))
        envelope.append(("idempotency", "event-\(number)-" + text(maxBytes: 40, controls: false)))
        if chance(0.3), case .string(let occurred) = timestamp() { envelope.append(("occurred", occurred)) }
        var line = "{"
        for (index, (name, value)) in envelope.enumerated() {
            line += (index > 0 ? "," : "") + Self.quoted(name) + ":" + quoted(value)
        }
        line += ",\"body\":" + serialize(body) + "}"
        return GeneratedEvent(type: type, envelope: envelope, body: body, line: line)
    }

    // MARK: Serializing

    static func quoted(_ text: String) -> String {
        var rng = SplitMix(state: UInt64(text.utf8.count))
        return quoted(text, escapeNonASCII: false, rng: &rng)
    }

    mutating func quoted(_ text: String) -> String { Self.quoted(text, escapeNonASCII: chance(0.3), rng: &rng) }

    static func quoted(_ text: String, escapeNonASCII: Bool, rng: inout SplitMix) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "/" where Bool.random(using: &rng): out += "\\/"
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
        case .array(let elements): return "[" + elements.map { serialize($0) }.joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.map { quoted($0.0) + ":" + serialize($0.1) }.joined(separator: ",") + "}"
        }
    }
}

/// Why `actual` (as `JSONSerialization` read the ledger's output) differs from `expected`, or nil.
private func difference(_ expected: Model, _ actual: Any, at path: String) -> String? {
    switch expected {
    case .null:
        return actual is NSNull ? nil : "\(path): expected null, got \(actual)"
    case .boolean(let value):
        return (actual as? NSNumber)?.boolValue == value ? nil : "\(path): expected \(value), got \(actual)"
    case .integer(let value):
        return (actual as? NSNumber)?.int64Value == value ? nil : "\(path): expected \(value), got \(actual)"
    case .number(let text):
        guard let value = Double(text), let number = actual as? NSNumber, number.doubleValue == value else {
            return "\(path): expected \(text), got \(actual)"
        }
        return nil
    case .string(let text):
        guard let string = actual as? String, Array(string.utf8) == Array(text.utf8) else {
            return "\(path): expected \(text.debugDescription), got \(actual)"
        }
        return nil
    case .array(let elements):
        guard let array = actual as? [Any], array.count == elements.count else {
            return "\(path): expected \(elements.count) elements, got \(actual)"
        }
        for (index, (element, value)) in zip(elements, array).enumerated() {
            if let found = difference(element, value, at: "\(path)[\(index)]") { return found }
        }
        return nil
    case .object(let members):
        guard let object = actual as? [String: Any], object.count == members.count else {
            return "\(path): expected members \(members.map(\.0)), got \(actual)"
        }
        for (name, value) in members {
            guard let found = object[name] else { return "\(path): member \(name.debugDescription) missing" }
            if let problem = difference(value, found, at: "\(path).\(name)") { return problem }
        }
        return nil
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
    var refusedReasons: Set<String> = []
}

@Suite struct AcceptedIsReadablePropertyTests {
    @Test func everyAcceptedEventReadsBackAndEveryRefusedOneLeavesTheLogUnchanged() async throws {
        let tally = Tally()
        let batches = Generator<[GeneratedEvent], Shrink.None<[GeneratedEvent]>> { rng in
            var factory = EventFactory(rng: SplitMix(state: rng.next()))
            return (0..<factory.int(1...10)).map { factory.event(number: $0) }
        }
        await propertyCheck(count: 60, input: batches) { events in
            try checkBatch(events, tally: tally)
        }
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
                tally.refusedReasons.insert(rejected.field)
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
                try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                "seq \(seq) rendered as invalid JSON: \(String(decoding: line, as: UTF8.self))")
            #expect(rendered["seq"] as? Int == seq)
            for (name, value) in event.envelope {
                #expect(rendered[name] as? String == value, "seq \(seq) \(name) of \(event)")
            }
            if let sealed = rendered["sealed"] as? [[String: Any]] {
                #expect(sealed.allSatisfy { $0["state"] as? String == "opened" })
            }
            let body = try #require(rendered["body"], "seq \(seq) has no body")
            let problem = difference(event.body, body, at: "body")
            #expect(problem == nil, "seq \(seq): \(problem ?? "") in \(event)")
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
