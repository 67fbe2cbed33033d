// A position in a parsed vendor JSON document that knows its path, so that every type or presence check an
// adapter makes can fail with the exact JSON path.
import Foundation
import LedgerCore

/// A JSON value (from `JSONSerialization`) and the path that leads to it.
struct JSONCursor {
    let value: Any
    let path: String
    let file: String
    /// The line of JSON-lines input the value is on, nil in a single JSON document.
    var line: Int? = nil

    /// Parses `data` as one JSON document, or as the message on `line` of JSON-lines input; errors count bytes
    /// from `byteOffset` (where `data` starts in the input).
    static func parse(
        _ data: Data, file: String, line: Int? = nil, byteOffset: Int = 0
    ) throws(AdapterError) -> JSONCursor {
        do {
            let value = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return JSONCursor(value: value, path: "", file: file, line: line)
        } catch {
            let bytes = [UInt8](data)
            var tape = JSONTape()
            var offset = bytes.count
            var reason = "not valid JSON"
            bytes.withUnsafeBytes { raw in
                do throws(JSONSyntaxError) { try tape.parse(raw) } catch {
                    offset = error.offset
                    reason = error.reason
                }
            }
            let truncated =
                offset < bytes.count
                ? ""
                : line == nil
                    ? " (the file ends early: is it truncated?)" : " (the line ends early: is the file truncated?)"
            throw AdapterError(
                file: file, line: line, path: pathOfUnfinishedValue(bytes, before: offset),
                reason:
                    "not valid JSON at byte \(byteOffset + offset)\(line == nil ? "" : " of the line"): \(reason)\(truncated)"
            )
        }
    }

    /// The records of an input that holds one JSON object, one JSON array of objects, or a sequence of values
    /// (JSON lines, or objects back to back as Kinesis Data Firehose writes them). The elements of an array are
    /// named by their index (`[3]`); the values of a sequence by the line they start on (`FILE:LINE`), and by the
    /// column too when they do not start a line (`FILE:LINE:COLUMN`, columns in bytes from 1). Each value of a
    /// sequence is parsed on its own, so that one that is not JSON is rejected alone; a single document that is
    /// not JSON throws.
    static func records(_ data: Data, file: String) throws(AdapterError) -> [Result<JSONCursor, AdapterError>] {
        let bytes = [UInt8](data)
        var values: [(range: Range<Int>, name: String)] = []
        var position = 0
        var line = 1
        var lineStart = 0
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: "\n"):
                line += 1
                position += 1
                lineStart = position
                continue
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                position += 1
                continue
            default: break
            }
            let start = position
            let name = start == lineStart ? "\(file):\(line)" : "\(file):\(line):\(start - lineStart + 1)"
            let structured = bytes[position] == UInt8(ascii: "{") || bytes[position] == UInt8(ascii: "[")
            var depth = 0
            var inString = false
            repeat {
                let c = bytes[position]
                if c == UInt8(ascii: "\n") {
                    line += 1
                    lineStart = position + 1
                }
                if inString {
                    if c == UInt8(ascii: "\\") {
                        position += 1
                    } else if c == UInt8(ascii: "\"") {
                        inString = false
                    }
                } else if c == UInt8(ascii: "\"") {
                    inString = true
                } else if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                    depth += 1
                } else if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                    depth -= 1
                }
                position += 1
            } while position < bytes.count
                && (structured ? depth > 0 || inString : bytes[position] != UInt8(ascii: "\n"))
            values.append((start..<min(position, bytes.count), name))
        }
        if values.count == 1 {
            let document = try parse(Data(bytes[values[0].range]), file: file)
            return (document.value is [Any] ? try document.elements() : [document]).map { .success($0) }
        }
        return values.map { value in
            Result { () throws(AdapterError) in try parse(Data(bytes[value.range]), file: value.name) }
        }
    }

    /// The JSON path of the innermost value still open at byte `offset`, found by scanning the structure.
    static func pathOfUnfinishedValue(_ bytes: [UInt8], before offset: Int) -> String {
        enum Frame {
            case object(key: String?)
            case array(index: Int)
        }
        var stack: [Frame] = []
        var position = 0
        var lastString: String?
        var expectingKey = false
        while position < min(offset, bytes.count) {
            let c = bytes[position]
            switch c {
            case UInt8(ascii: "{"):
                stack.append(.object(key: nil))
                expectingKey = true
            case UInt8(ascii: "["):
                stack.append(.array(index: 0))
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if !stack.isEmpty { stack.removeLast() }
                expectingKey = false
            case UInt8(ascii: ","):
                if case .array(let index) = stack.last {
                    stack[stack.count - 1] = .array(index: index + 1)
                } else if case .object = stack.last {
                    stack[stack.count - 1] = .object(key: nil)
                    expectingKey = true
                }
            case UInt8(ascii: ":"):
                if case .object = stack.last, let key = lastString { stack[stack.count - 1] = .object(key: key) }
                expectingKey = false
            case UInt8(ascii: "\""):
                var end = position + 1
                while end < bytes.count && bytes[end] != UInt8(ascii: "\"") {
                    end += bytes[end] == UInt8(ascii: "\\") ? 2 : 1
                }
                if expectingKey {
                    lastString = String(decoding: bytes[(position + 1)..<min(end, bytes.count)], as: UTF8.self)
                }
                position = end
            default: break
            }
            position += 1
        }
        var path = ""
        for frame in stack {
            switch frame {
            case .object(let key):
                if let key { path += path.isEmpty ? key : "." + key }
            case .array(let index): path += "[\(index)]"
            }
        }
        return path
    }

    func fail(_ reason: String) -> AdapterError {
        AdapterError(file: file, line: line, path: path, reason: reason)
    }

    private func child(_ value: Any, _ component: String) -> JSONCursor {
        let childPath: String
        if component.hasPrefix("[") {
            childPath = path + component
        } else {
            childPath = path.isEmpty ? component : path + "." + component
        }
        return JSONCursor(value: value, path: childPath, file: file, line: line)
    }

    var isNull: Bool { value is NSNull }

    /// The member `name`, if present and not null.
    subscript(name: String) -> JSONCursor? {
        guard let object = value as? [String: Any], let member = object[name], !(member is NSNull) else { return nil }
        return child(member, name)
    }

    /// The member `name`, which must be present.
    func required(_ name: String) throws(AdapterError) -> JSONCursor {
        guard value is [String: Any] else { throw fail("must be an object") }
        guard let member = self[name] else { throw child(NSNull(), name).fail("required field is missing") }
        return member
    }

    /// The elements of an array.
    func elements() throws(AdapterError) -> [JSONCursor] {
        guard let array = value as? [Any] else { throw fail("must be an array") }
        return array.enumerated().map { child($0.element, "[\($0.offset)]") }
    }

    /// A string.
    func string() throws(AdapterError) -> String {
        guard let text = value as? String else { throw fail("must be a string") }
        return text
    }

    /// Whether the value is a JSON boolean (JSONSerialization gives booleans the Objective-C type `c`).
    private var isBoolean: Bool {
        guard let number = value as? NSNumber else { return false }
        return String(cString: number.objCType) == "c"
    }

    /// A finite number (integers included).
    func number() throws(AdapterError) -> Double {
        guard let number = value as? NSNumber, !isBoolean else { throw fail("must be a number") }
        guard number.doubleValue.isFinite else { throw fail("must be a finite number, got \(number)") }
        return number.doubleValue
    }

    /// A number within `range`.
    func number(in range: ClosedRange<Double>) throws(AdapterError) -> Double {
        let value = try number()
        guard range.contains(value) else {
            throw fail("must be a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// A whole number within `range` (such as a character offset), as an `Int`.
    func int(in range: ClosedRange<Int>) throws(AdapterError) -> Int {
        let value = try number()
        guard let whole = Int(exactly: value), range.contains(whole) else {
            throw fail("must be a whole number from \(range.lowerBound) to \(range.upperBound), got \(value)")
        }
        return whole
    }

    /// A non-negative number of seconds, as whole milliseconds.
    func milliseconds() throws(AdapterError) -> Int64 {
        let seconds = try number()
        guard seconds.isFinite, seconds >= 0, seconds < 1e9 else {
            throw fail("must be a non-negative number of seconds")
        }
        return Int64((seconds * 1000).rounded())
    }

    /// A whole number from 0 through `maximum`.
    func integer(upTo maximum: Int64) throws(AdapterError) -> Int64 {
        let value = try number()
        guard let whole = Int64(exactly: value), whole >= 0, whole <= maximum else {
            throw fail("must be a whole number from 0 to \(maximum)")
        }
        return whole
    }

    /// An RFC 3339 date-time, as the same instant in UTC (`Z`) with the fraction digits it was written with.
    func utcTimestamp() throws(AdapterError) -> Timestamp {
        guard let time = Timestamp.parse(try string()) else {
            throw fail("must be an RFC 3339 date-time such as 2024-05-01T09:30:00Z")
        }
        return Timestamp(micros: time.micros, fractionDigits: time.fractionDigits)
    }

    /// A boolean.
    func bool() throws(AdapterError) -> Bool {
        guard isBoolean, let number = value as? NSNumber else { throw fail("must be true or false") }
        return number.boolValue
    }
}
