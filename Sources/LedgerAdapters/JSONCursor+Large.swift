// Reading a large vendor document without building its whole tree at once: the big arrays (a Gladia result's
// utterances, a Transcribe output's items, a Call Analytics transcript) are found by scanning the bytes, left out
// of the document that is parsed, and their elements are parsed one at a time as the adapter reaches them.
// Foundation's JSONSerialization needs about 40 bytes of memory per byte of input; parsed element by element, the
// tree of one element is held at a time, and the input's bytes are not copied.
import Foundation

/// The elements of a JSON array, parsed one at a time as they are visited: of an array left in the input's
/// bytes, only the element being visited is held as a tree, and no list of the elements is kept.
struct LazyElements {
    /// Where the elements are: cursors already parsed, or an array still in the input's bytes.
    private enum Source {
        case parsed([JSONCursor])
        case bytes(Data, array: Range<Int>, path: String, file: String)
    }

    private let source: Source

    /// The elements of an array already parsed.
    init(_ cursor: JSONCursor) throws(AdapterError) {
        source = .parsed(try cursor.elements())
    }

    /// The elements of the array at `listed`'s path among `deferred` (as `JSONCursor.parse(_:file:deferringArraysAt:)`
    /// gives them), else of `listed` itself, which must be an array.
    static func deferred(_ deferred: [String: LazyElements], or listed: JSONCursor) throws(AdapterError) -> LazyElements
    {
        if let found = deferred[listed.path] { return found }
        return try LazyElements(listed)
    }

    /// The elements of the array at byte range `array` of `data` (which starts at index 0), the array at `path`
    /// of `file`; the range was found by `JSONScan`, so the array's structure is known to be complete.
    init(data: Data, array: Range<Int>, path: String, file: String) {
        source = .bytes(data, array: array, path: path, file: file)
    }

    /// Calls `body` with each element's index and its value, parsed, in order; stops at the first error.
    func forEach(_ body: (Int, JSONCursor) throws(AdapterError) -> Void) throws(AdapterError) {
        switch source {
        case .parsed(let cursors):
            for (index, cursor) in cursors.enumerated() { try body(index, cursor) }
        case .bytes(let data, let array, let path, let file):
            var index = 0
            var position = array.lowerBound + 1
            while let element = data.withUnsafeBytes({
                JSONScan(bytes: $0).element(after: position, first: index == 0, within: array)
            }) {
                let elementPath = "\(path)[\(index)]"
                let parsed: JSONCursor
                do {
                    parsed = try JSONCursor.parse(
                        data.subdata(in: element), file: file, byteOffset: element.lowerBound)
                } catch {
                    let inner = error.path.isEmpty ? "" : (error.path.hasPrefix("[") ? "" : ".") + error.path
                    throw AdapterError(file: file, path: elementPath + inner, reason: error.reason)
                }
                try body(index, JSONCursor(value: parsed.value, path: elementPath, file: file))
                index += 1
                position = element.upperBound
            }
        }
    }
}

extension JSONCursor {
    /// `data` parsed as one JSON document, except the arrays at `paths` (member names from the top) that it
    /// holds, which are left empty in the document and returned, by dotted path, as elements parsed one at a
    /// time. Foundation's JSONSerialization needs about 40 bytes of memory per byte of input: the arrays that
    /// make a document large are never held as one tree. A document the scan cannot follow, or with an error
    /// outside the arrays, is parsed whole (and reports its syntax errors so).
    static func parse(
        _ data: Data, file: String, deferringArraysAt paths: [[String]]
    ) throws(AdapterError) -> (document: JSONCursor, deferred: [String: LazyElements]) {
        let data = data.startIndex == 0 ? data : Data(data)
        var found: [(path: String, array: Range<Int>)] = []
        for path in paths {
            guard let array = data.withUnsafeBytes({ JSONScan(bytes: $0).array(at: path) }) else { continue }
            found.append((path.joined(separator: "."), array))
        }
        found.sort { $0.array.lowerBound < $1.array.lowerBound }
        guard !found.isEmpty, zip(found, found.dropFirst()).allSatisfy({ $0.array.upperBound <= $1.array.lowerBound })
        else { return (try parse(data, file: file), [:]) }
        var rest = Data()
        var position = 0
        for array in found {
            rest += data[position..<array.array.lowerBound]
            rest += Data("[]".utf8)
            position = array.array.upperBound
        }
        rest += data[position...]
        // A document with an error outside the arrays is parsed whole, so that the error names its true byte.
        guard let document = try? parse(rest, file: file) else { return (try parse(data, file: file), [:]) }
        var deferred: [String: LazyElements] = [:]
        for array in found {
            deferred[array.path] = LazyElements(data: data, array: array.array, path: array.path, file: file)
        }
        return (document, deferred)
    }
}

/// A scan of JSON bytes that skips values without building them.
struct JSONScan {
    let bytes: UnsafeRawBufferPointer

    /// The byte range of the array at `path`; nil when the value there is not an array, or the bytes are not
    /// JSON the scan can follow.
    func array(at path: [String]) -> Range<Int>? {
        guard var position = skipWhitespace(0) else { return nil }
        for name in path {
            guard let found = member(name, ofObjectAt: position) else { return nil }
            position = found
        }
        guard position < bytes.count, bytes[position] == UInt8(ascii: "[") else { return nil }
        var cursor = position + 1
        while let element = element(after: cursor, first: cursor == position + 1, within: position..<bytes.count) {
            cursor = element.upperBound
        }
        guard let close = skipWhitespace(cursor), bytes[close] == UInt8(ascii: "]") else { return nil }
        return position..<(close + 1)
    }

    /// The byte range of the array element after `position` (just after the array's `[` for the `first`
    /// element, else just after the previous element), within the bytes `array`; nil at the array's `]`, or where
    /// the bytes are not an array's elements.
    func element(after position: Int, first: Bool, within array: Range<Int>) -> Range<Int>? {
        guard var start = skipWhitespace(position), start < array.upperBound else { return nil }
        if !first {
            guard bytes[start] == UInt8(ascii: ","), let next = skipWhitespace(start + 1) else { return nil }
            start = next
        }
        guard bytes[start] != UInt8(ascii: "]"), let end = skipValue(start), end <= array.upperBound else {
            return nil
        }
        return start..<end
    }

    /// Where the value of member `name` of the object starting at `start` begins.
    private func member(_ name: String, ofObjectAt start: Int) -> Int? {
        guard start < bytes.count, bytes[start] == UInt8(ascii: "{"), var position = skipWhitespace(start + 1)
        else { return nil }
        let key = Array(name.utf8)
        while bytes[position] == UInt8(ascii: "\"") {
            guard let keyEnd = skipString(position), let colon = skipWhitespace(keyEnd),
                bytes[colon] == UInt8(ascii: ":"), let value = skipWhitespace(colon + 1)
            else { return nil }
            if bytes[(position + 1)..<(keyEnd - 1)].elementsEqual(key) { return value }
            guard let end = skipValue(value), let next = skipWhitespace(end) else { return nil }
            guard bytes[next] == UInt8(ascii: ","), let following = skipWhitespace(next + 1) else { return nil }
            position = following
        }
        return nil
    }

    /// The first position from `start` that is not whitespace, nil at the end of the bytes.
    private func skipWhitespace(_ start: Int) -> Int? {
        var position = start
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return position
            }
        }
        return nil
    }

    /// The position after the string starting at `start`.
    private func skipString(_ start: Int) -> Int? {
        var position = start + 1
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: "\\"): position += 2
            case UInt8(ascii: "\""): return position + 1
            default: position += 1
            }
        }
        return nil
    }

    /// The position after the value starting at `start`.
    private func skipValue(_ start: Int) -> Int? {
        guard start < bytes.count else { return nil }
        switch bytes[start] {
        case UInt8(ascii: "\""): return skipString(start)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var position = start
            while position < bytes.count {
                switch bytes[position] {
                case UInt8(ascii: "\""):
                    guard let end = skipString(position) else { return nil }
                    position = end
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return position + 1 }
                default: break
                }
                position += 1
            }
            return nil
        default:
            // A number, true, false or null: at least one byte, up to the next delimiter. A delimiter where a value
            // should start (`[}`, `[,`) is not a value: scanning on from it would make no progress.
            var position = start
            scalar: while position < bytes.count {
                switch bytes[position] {
                case UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: ":"), 0x20, 0x0A, 0x0D, 0x09:
                    break scalar
                default: position += 1
                }
            }
            return position > start ? position : nil
        }
    }
}
