// A strict, allocation-free-per-value JSON parser (RFC 8259) producing a flat token tape, so that event
// decoding validates and transcodes without building a tree of Swift values.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A JSON syntax error at a byte offset of the input.
public struct JSONSyntaxError: Error, CustomStringConvertible, Equatable {
    /// Byte offset where the problem was found.
    public var offset: Int
    /// What is wrong.
    public var reason: String

    /// A message a person can act on.
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

/// A parsed JSON text as a flat array of tokens in document order.
///
/// Containers record their member count and the index of the token after their last descendant, so a
/// reader can skip a subtree in O(1). Numbers are parsed while scanning; strings keep their byte range and
/// whether they contain escapes. Strings are validated as UTF-8 and surrogate pairs are checked.
public struct JSONTape {
    /// The kind of a token.
    public enum Kind: UInt8, Sendable {
        /// `null`.
        case null
        /// `false` or `true`; the value is in `Token.payload` (0 or 1).
        case bool
        /// A number without fraction or exponent that fits in `Int64`; the value is in `payload`.
        case integer
        /// Any other number; its `Double` bit pattern is in `payload`.
        case float
        /// A string; `start..<end` is the raw content between the quotes.
        case string
        /// An array of `count` values.
        case array
        /// An object of `count` key/value pairs (each key is a `.string` token followed by its value).
        case object
    }

    /// One value of the document.
    public struct Token: Sendable {
        /// What the token is.
        public var kind: Kind
        /// For strings: whether the raw content holds backslash escapes.
        public var hasEscapes: Bool
        /// Start byte offset (strings: after the opening quote).
        public var start: Int32
        /// End byte offset (strings: the closing quote).
        public var end: Int32
        /// Index of the first token after this value and its descendants.
        public var next: Int32
        /// Members of an array or object.
        public var count: Int32
        /// Integer value, double bit pattern, or boolean.
        public var payload: UInt64
    }

    /// The tokens, root first.
    public private(set) var tokens: [Token] = []
    /// Deepest nesting accepted.
    public var maximumDepth = RecordLimits.maximumJSONDepth

    private var input = UnsafeRawBufferPointer(start: nil, count: 0)
    private var position = 0

    /// An empty tape; call `parse` to fill it. Reusing one tape across documents reuses its storage.
    public init() {
        tokens.reserveCapacity(256)
    }

    /// Parses one JSON text, replacing the tape's tokens. The bytes must stay alive while the tape is read.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONSyntaxError) {
        tokens.removeAll(keepingCapacity: true)
        input = bytes
        position = 0
        skipWhitespace()
        try parseValue(depth: 0)
        skipWhitespace()
        guard position == input.count else { throw error("unexpected data after the JSON value") }
    }

    /// The token at `index`.
    @inline(__always)
    public subscript(index: Int) -> Token { tokens[index] }

    // MARK: - Scanning

    @inline(__always)
    private func error(_ reason: String) -> JSONSyntaxError {
        JSONSyntaxError(offset: position, reason: reason)
    }

    @inline(__always)
    private mutating func skipWhitespace() {
        while position < input.count {
            let c = input[position]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            position += 1
        }
    }

    private mutating func parseValue(depth: Int) throws(JSONSyntaxError) {
        guard position < input.count else { throw error("unexpected end of input") }
        switch input[position] {
        case UInt8(ascii: "{"): try parseObject(depth: depth)
        case UInt8(ascii: "["): try parseArray(depth: depth)
        case UInt8(ascii: "\""): try parseString()
        case UInt8(ascii: "t"): try parseLiteral("true", kind: .bool, payload: 1)
        case UInt8(ascii: "f"): try parseLiteral("false", kind: .bool, payload: 0)
        case UInt8(ascii: "n"): try parseLiteral("null", kind: .null, payload: 0)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try parseNumber()
        default: throw error("unexpected character \(describe(input[position]))")
        }
    }

    private func describe(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(Hex.encode([byte]))"
    }

    private mutating func parseLiteral(_ word: StaticString, kind: Kind, payload: UInt64) throws(JSONSyntaxError) {
        let count = word.utf8CodeUnitCount
        guard position + count <= input.count else { throw error("unexpected end of input") }
        for i in 0..<count where input[position + i] != word.utf8Start[i] {
            throw error("invalid literal")
        }
        let start = position
        position += count
        tokens.append(
            Token(
                kind: kind, hasEscapes: false, start: Int32(start), end: Int32(position),
                next: Int32(tokens.count + 1), count: 0, payload: payload))
    }

    private mutating func parseObject(depth: Int) throws(JSONSyntaxError) {
        guard depth < maximumDepth else { throw error("nesting deeper than \(maximumDepth)") }
        let index = tokens.count
        let start = position
        tokens.append(
            Token(kind: .object, hasEscapes: false, start: Int32(start), end: 0, next: 0, count: 0, payload: 0))
        position += 1
        skipWhitespace()
        var count: Int32 = 0
        if position < input.count && input[position] == UInt8(ascii: "}") {
            position += 1
        } else {
            while true {
                guard position < input.count, input[position] == UInt8(ascii: "\"") else {
                    throw error("expected a string key")
                }
                try parseString()
                skipWhitespace()
                guard position < input.count, input[position] == UInt8(ascii: ":") else {
                    throw error("expected ':' after an object key")
                }
                position += 1
                skipWhitespace()
                try parseValue(depth: depth + 1)
                count += 1
                skipWhitespace()
                guard position < input.count else { throw error("unexpected end of input inside an object") }
                if input[position] == UInt8(ascii: ",") {
                    position += 1
                    skipWhitespace()
                } else if input[position] == UInt8(ascii: "}") {
                    position += 1
                    break
                } else {
                    throw error("expected ',' or '}' in an object")
                }
            }
        }
        tokens[index].end = Int32(position)
        tokens[index].count = count
        tokens[index].next = Int32(tokens.count)
    }

    private mutating func parseArray(depth: Int) throws(JSONSyntaxError) {
        guard depth < maximumDepth else { throw error("nesting deeper than \(maximumDepth)") }
        let index = tokens.count
        tokens.append(
            Token(kind: .array, hasEscapes: false, start: Int32(position), end: 0, next: 0, count: 0, payload: 0))
        position += 1
        skipWhitespace()
        var count: Int32 = 0
        if position < input.count && input[position] == UInt8(ascii: "]") {
            position += 1
        } else {
            while true {
                try parseValue(depth: depth + 1)
                count += 1
                skipWhitespace()
                guard position < input.count else { throw error("unexpected end of input inside an array") }
                if input[position] == UInt8(ascii: ",") {
                    position += 1
                    skipWhitespace()
                } else if input[position] == UInt8(ascii: "]") {
                    position += 1
                    break
                } else {
                    throw error("expected ',' or ']' in an array")
                }
            }
        }
        tokens[index].end = Int32(position)
        tokens[index].count = count
        tokens[index].next = Int32(tokens.count)
    }

    private mutating func parseString() throws(JSONSyntaxError) {
        position += 1
        let start = position
        var hasEscapes = false
        let base = input.baseAddress
        let count = input.count
        while true {
            // Skip eight plain ASCII bytes at a time: none is a quote, a backslash, a control character or
            // non-ASCII (SWAR test on a 64-bit word).
            while position + 8 <= count {
                let word = UInt64(littleEndian: base!.loadUnaligned(fromByteOffset: position, as: UInt64.self))
                let quote = word ^ 0x2222_2222_2222_2222
                let backslash = word ^ 0x5C5C_5C5C_5C5C_5C5C
                let zeroQuote = (quote &- 0x0101_0101_0101_0101) & ~quote
                let zeroBackslash = (backslash &- 0x0101_0101_0101_0101) & ~backslash
                let control = (word &- 0x2020_2020_2020_2020) & ~word
                let special = (zeroQuote | zeroBackslash | control | word) & 0x8080_8080_8080_8080
                if special != 0 {
                    // The lowest flagged byte is exact (borrows only flag bytes above a real match).
                    position += special.trailingZeroBitCount >> 3
                    break
                }
                position += 8
            }
            guard position < count else { throw error("unterminated string") }
            let c = input[position]
            if c == UInt8(ascii: "\"") { break }
            if c == UInt8(ascii: "\\") {
                hasEscapes = true
                try scanEscape()
            } else if c < 0x20 {
                throw error("control character \(describe(c)) inside a string must be escaped")
            } else if c < 0x80 {
                position += 1
            } else {
                try scanUTF8Sequence(lead: c)
            }
        }
        tokens.append(
            Token(
                kind: .string, hasEscapes: hasEscapes, start: Int32(start), end: Int32(position),
                next: Int32(tokens.count + 1), count: 0, payload: 0))
        position += 1
    }

    private mutating func scanEscape() throws(JSONSyntaxError) {
        guard position + 1 < input.count else { throw error("unterminated escape") }
        switch input[position + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            position += 2
        case UInt8(ascii: "u"):
            let unit = try readHex4(at: position + 2)
            position += 6
            if unit >= 0xD800 && unit < 0xDC00 {
                guard position + 1 < input.count, input[position] == UInt8(ascii: "\\"),
                    input[position + 1] == UInt8(ascii: "u")
                else { throw error("unpaired UTF-16 high surrogate in \\u escape") }
                let low = try readHex4(at: position + 2)
                guard low >= 0xDC00 && low < 0xE000 else { throw error("invalid UTF-16 low surrogate") }
                position += 6
            } else if unit >= 0xDC00 && unit < 0xE000 {
                throw error("unpaired UTF-16 low surrogate in \\u escape")
            }
        default:
            throw error("invalid escape \\\(Character(Unicode.Scalar(input[position + 1])))")
        }
    }

    private func readHex4(at offset: Int) throws(JSONSyntaxError) -> UInt32 {
        guard offset + 4 <= input.count else { throw JSONSyntaxError(offset: offset, reason: "truncated \\u escape") }
        var value: UInt32 = 0
        for i in 0..<4 {
            guard let digit = Hex.nibble(input[offset + i]) else {
                throw JSONSyntaxError(offset: offset + i, reason: "invalid hex digit in \\u escape")
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Validates one multi-byte UTF-8 sequence (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
    @inline(__always)
    private mutating func scanUTF8Sequence(lead: UInt8) throws(JSONSyntaxError) {
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            high = 0x9F
        case 0xF0:
            length = 4
            low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            high = 0x8F
        default: throw error("invalid UTF-8 lead byte 0x\(Hex.encode([lead]))")
        }
        guard position + length <= input.count else { throw error("truncated UTF-8 sequence") }
        let second = input[position + 1]
        guard second >= low && second <= high else { throw error("invalid UTF-8 sequence") }
        for i in 2..<length where input[position + i] & 0xC0 != 0x80 {
            throw error("invalid UTF-8 continuation byte")
        }
        position += length
    }

    private mutating func parseNumber() throws(JSONSyntaxError) {
        let start = position
        var negative = false
        if input[position] == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        guard position < input.count, isDigit(input[position]) else { throw error("expected a digit") }
        var mantissa: UInt64 = 0
        var digits = 0
        var overflow = false
        if input[position] == UInt8(ascii: "0") {
            position += 1
            guard position >= input.count || !isDigit(input[position]) else {
                throw error("leading zeros are not allowed")
            }
        } else {
            while position < input.count, isDigit(input[position]) {
                appendDigit(&mantissa, &digits, &overflow, input[position])
                position += 1
            }
        }
        var exponent = 0
        var isInteger = true
        if position < input.count, input[position] == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard position < input.count, isDigit(input[position]) else { throw error("expected a digit after '.'") }
            while position < input.count, isDigit(input[position]) {
                if appendDigit(&mantissa, &digits, &overflow, input[position]) { exponent -= 1 }
                position += 1
            }
        }
        if position < input.count, input[position] | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            position += 1
            var exponentNegative = false
            if position < input.count, input[position] == UInt8(ascii: "+") || input[position] == UInt8(ascii: "-") {
                exponentNegative = input[position] == UInt8(ascii: "-")
                position += 1
            }
            guard position < input.count, isDigit(input[position]) else { throw error("expected an exponent digit") }
            var value = 0
            while position < input.count, isDigit(input[position]) {
                value = min(value * 10 + Int(input[position] - UInt8(ascii: "0")), 100_000)
                position += 1
            }
            exponent += exponentNegative ? -value : value
        }
        var token = Token(
            kind: .integer, hasEscapes: false, start: Int32(start), end: Int32(position),
            next: Int32(tokens.count + 1), count: 0, payload: 0)
        if isInteger && !overflow
            && (negative ? mantissa <= UInt64(Int64.max) + 1 : mantissa <= UInt64(Int64.max))
        {
            token.payload = negative ? UInt64(bitPattern: 0 &- Int64(bitPattern: mantissa)) : mantissa
        } else {
            token.kind = .float
            let value = fastDouble(mantissa: mantissa, exponent: exponent, overflow: overflow) ?? slowDouble(start)
            guard value.isFinite else {
                throw JSONSyntaxError(offset: start, reason: "number is out of range for a 64-bit float")
            }
            token.payload = (negative ? -value : value).bitPattern
            if negative && value == 0 { token.payload = (-0.0 as Double).bitPattern }
        }
        tokens.append(token)
    }

    @inline(__always)
    private func isDigit(_ c: UInt8) -> Bool { c &- UInt8(ascii: "0") < 10 }

    /// Adds a decimal digit to the mantissa; returns whether it was kept (false once 19 digits are held).
    @discardableResult
    @inline(__always)
    private func appendDigit(
        _ mantissa: inout UInt64, _ digits: inout Int, _ overflow: inout Bool, _ c: UInt8
    )
        -> Bool
    {
        if digits >= 19 {
            if c != UInt8(ascii: "0") { overflow = true }
            return false
        }
        mantissa = mantissa * 10 + UInt64(c - UInt8(ascii: "0"))
        if mantissa > 0 { digits += 1 }
        return true
    }

    private static let powersOfTen: [Double] = (0...22).map { exponent in
        var value = 1.0
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    /// Clinger's fast path: exact when the mantissa fits in 53 bits and the power of ten is exact.
    @inline(__always)
    private func fastDouble(mantissa: UInt64, exponent: Int, overflow: Bool) -> Double? {
        guard !overflow, mantissa < 1 << 53, exponent >= -22, exponent <= 22 else { return nil }
        let m = Double(mantissa)
        return exponent < 0 ? m / Self.powersOfTen[-exponent] : m * Self.powersOfTen[exponent]
    }

    private func slowDouble(_ start: Int) -> Double {
        var text = String(decoding: UnsafeRawBufferPointer(rebasing: input[start..<position]), as: UTF8.self)
        if text.hasPrefix("-") { text.removeFirst() }
        return Double(text) ?? .infinity
    }

    // MARK: - Reading values

    /// The decoded bytes of the string token at `index`, appended to `output`.
    public func appendString(at index: Int, to output: inout [UInt8]) {
        let token = tokens[index]
        let raw = UnsafeRawBufferPointer(rebasing: input[Int(token.start)..<Int(token.end)])
        guard token.hasEscapes else {
            output.append(contentsOf: raw)
            return
        }
        var i = 0
        while i < raw.count {
            let c = raw[i]
            guard c == UInt8(ascii: "\\") else {
                output.append(c)
                i += 1
                continue
            }
            let e = raw[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4(raw, i)
                i += 4
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    scalar = 0x10000 + (scalar - 0xD800) << 10 + (hex4(raw, i + 2) - 0xDC00)
                    i += 6
                }
                appendUTF8(scalar, to: &output)
            default: output.append(e)
            }
        }
    }

    private func hex4(_ raw: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 << 4 | UInt32(Hex.nibble(raw[offset + $1])!) }
    }

    private func appendUTF8(_ scalar: UInt32, to output: inout [UInt8]) {
        switch scalar {
        case 0..<0x80: output.append(UInt8(scalar))
        case 0x80..<0x800:
            output.append(UInt8(0xC0 | scalar >> 6))
            output.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            output.append(UInt8(0xE0 | scalar >> 12))
            output.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            output.append(UInt8(0x80 | scalar & 0x3F))
        default:
            output.append(UInt8(0xF0 | scalar >> 18))
            output.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            output.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            output.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    /// The decoded string token at `index`.
    public func string(at index: Int) -> String {
        let token = tokens[index]
        if !token.hasEscapes {
            return String(
                decoding: UnsafeRawBufferPointer(rebasing: input[Int(token.start)..<Int(token.end)]), as: UTF8.self)
        }
        var bytes: [UInt8] = []
        appendString(at: index, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether the string token at `index` equals `literal` (unescaped keys compare without decoding).
    @inline(__always)
    public func stringEquals(at index: Int, _ literal: UnsafeRawBufferPointer) -> Bool {
        let token = tokens[index]
        if token.hasEscapes {
            var bytes: [UInt8] = []
            appendString(at: index, to: &bytes)
            return bytes.elementsEqual(literal)
        }
        let count = Int(token.end - token.start)
        guard count == literal.count else { return false }
        return memcmp(input.baseAddress! + Int(token.start), literal.baseAddress!, count) == 0
    }

    /// The raw bytes of the string token at `index` when it has no escapes.
    @inline(__always)
    public func rawString(at index: Int) -> UnsafeRawBufferPointer {
        let token = tokens[index]
        return UnsafeRawBufferPointer(rebasing: input[Int(token.start)..<Int(token.end)])
    }

    /// The number token at `index` as a decimal `mantissa × 10^-scale` when it is written in plain notation
    /// (`-12.50`, no exponent) with at most `RecordLimits.maximumDecimalDigits` significant digits and at most
    /// `RecordLimits.maximumDecimalScale` fraction digits; nil otherwise (including `-0.0`).
    public func decimal(at index: Int) -> (mantissa: Int64, scale: Int)? {
        let token = tokens[index]
        var position = Int(token.start)
        let end = Int(token.end)
        var negative = false
        if input[position] == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        var mantissa: Int64 = 0
        var digits = 0
        var scale = 0
        var seenPoint = false
        while position < end {
            let c = input[position]
            position += 1
            if c == UInt8(ascii: ".") {
                seenPoint = true
                continue
            }
            guard c &- UInt8(ascii: "0") < 10 else { return nil }
            if mantissa > 0 || c != UInt8(ascii: "0") { digits += 1 }
            guard digits <= RecordLimits.maximumDecimalDigits else { return nil }
            mantissa = mantissa * 10 + Int64(c - UInt8(ascii: "0"))
            if seenPoint {
                scale += 1
                guard scale <= RecordLimits.maximumDecimalScale else { return nil }
            }
        }
        guard seenPoint, !(negative && mantissa == 0) else { return nil }
        return (negative ? -mantissa : mantissa, scale)
    }
}
