// Reading a large vendor document without building its whole tree at once: the one big array (a Gladia
// result's utterances) is found by scanning the bytes, left out of the document that is parsed, and its elements
// are parsed one at a time as the adapter reaches them. Foundation's JSONSerialization needs about 40 bytes of
// memory per byte of input; parsed element by element, the tree of one element is held at a time.
import Foundation

/// The elements of a JSON array, each parsed when asked for.
struct LazyElements {
    /// Where each element is: a cursor already parsed, or the bytes of one still to parse.
    private enum Source {
        case parsed([JSONCursor])
        case bytes([UInt8], [Range<Int>], path: String, file: String)
    }

    private let source: Source

    /// The elements of an array already parsed.
    init(_ cursor: JSONCursor) throws(AdapterError) {
        source = .parsed(try cursor.elements())
    }

    /// The elements at `ranges` of `bytes`, the array at `path` of `file`.
    init(bytes: [UInt8], ranges: [Range<Int>], path: String, file: String) {
        source = .bytes(bytes, ranges, path: path, file: file)
    }

    /// How many elements there are.
    var count: Int {
        switch source {
        case .parsed(let cursors): cursors.count
        case .bytes(_, let ranges, _, _): ranges.count
        }
    }

    /// Element `index` (from 0 to `count` - 1), parsed.
    func element(_ index: Int) throws(AdapterError) -> JSONCursor {
        switch source {
        case .parsed(let cursors): return cursors[index]
        case .bytes(let bytes, let ranges, let path, let file):
            let elementPath = "\(path)[\(index)]"
            do {
                let parsed = try JSONCursor.parse(
                    Data(bytes[ranges[index]]), file: file, byteOffset: ranges[index].lowerBound)
                return JSONCursor(value: parsed.value, path: elementPath, file: file)
            } catch {
                let inner = error.path.isEmpty ? "" : (error.path.hasPrefix("[") ? "" : ".") + error.path
                throw AdapterError(file: file, path: elementPath + inner, reason: error.reason)
            }
        }
    }
}

extension JSONCursor {
    /// `data` parsed as one JSON document, except the array at the first of `paths` (member names from the top)
    /// that it holds, which is left empty in the document and returned as lazily parsed elements. A document
    /// without such an array, or one the scan cannot follow, is parsed whole (and reports its syntax errors so).
    static func parse(
        _ data: Data, file: String, deferringArrayAt paths: [[String]]
    ) throws(AdapterError) -> (document: JSONCursor, deferred: (path: String, elements: LazyElements)?) {
        let bytes = [UInt8](data)
        for path in paths {
            guard let found = JSONScan(bytes: bytes).array(at: path) else { continue }
            var rest = Array(bytes[..<found.array.lowerBound])
            rest += Array("[]".utf8)
            rest += bytes[found.array.upperBound...]
            // A document with an error outside the array is parsed whole, so that the error names its true byte.
            guard let document = try? parse(Data(rest), file: file) else { return (try parse(data, file: file), nil) }
            let name = path.joined(separator: ".")
            return (document, (name, LazyElements(bytes: bytes, ranges: found.elements, path: name, file: file)))
        }
        return (try parse(data, file: file), nil)
    }
}

/// A scan of JSON bytes that skips values without building them.
struct JSONScan {
    let bytes: [UInt8]

    /// The byte range of the array at `path` and of each of its elements; nil when the value there is not an
    /// array, or the bytes are not JSON the scan can follow.
    func array(at path: [String]) -> (array: Range<Int>, elements: [Range<Int>])? {
        guard var position = skipWhitespace(0) else { return nil }
        for name in path {
            guard let found = member(name, ofObjectAt: position) else { return nil }
            position = found
        }
        guard position < bytes.count, bytes[position] == UInt8(ascii: "[") else { return nil }
        var elements: [Range<Int>] = []
        guard var cursor = skipWhitespace(position + 1) else { return nil }
        if bytes[cursor] == UInt8(ascii: "]") { return (position..<(cursor + 1), []) }
        while true {
            guard let end = skipValue(cursor) else { return nil }
            elements.append(cursor..<end)
            guard let next = skipWhitespace(end) else { return nil }
            if bytes[next] == UInt8(ascii: "]") { return (position..<(next + 1), elements) }
            guard bytes[next] == UInt8(ascii: ","), let following = skipWhitespace(next + 1) else { return nil }
            cursor = following
        }
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
            var position = start
            while position < bytes.count {
                switch bytes[position] {
                case UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"), 0x20, 0x0A, 0x0D, 0x09:
                    return position
                default: position += 1
                }
            }
            return position
        }
    }
}
