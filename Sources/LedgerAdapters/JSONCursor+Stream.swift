// Reading streams of vendor messages (WebSocket messages, streaming events, Kinesis records) as JSON lines, so
// that an error names the line as well as the JSON path; and the checks stream messages need beyond JSONCursor's.
import Foundation
import LedgerCore

extension JSONCursor {
    /// The messages of a stream input, in order, each parsed on its own so that a line that is not JSON is
    /// rejected alone. The input is JSON lines (one message per non-blank line, each message's errors naming its
    /// line); or, when it starts with `[`, a JSON array of messages; or, when its first two non-blank lines are not
    /// JSON values on their own, one (pretty-printed) message. Only an input that holds no message, or an array or
    /// single message that is not JSON, throws.
    static func messages(_ data: Data, file: String) throws(AdapterError) -> [Result<JSONCursor, AdapterError>] {
        let bytes = [UInt8](data)
        guard let first = bytes.firstIndex(where: { !isWhitespace($0) }) else {
            throw AdapterError(file: file, path: "", reason: "the input holds no messages")
        }
        if bytes[first] == UInt8(ascii: "[") { return try parse(data, file: file).elements().map { .success($0) } }
        var lines: [(number: Int, bytes: ArraySlice<UInt8>)] = []
        var start = 0
        for (number, end) in (bytes.indices.filter { bytes[$0] == UInt8(ascii: "\n") } + [bytes.count]).enumerated() {
            let line = bytes[start..<end]
            if line.contains(where: { !isWhitespace($0) }) { lines.append((number + 1, line)) }
            start = end + 1
        }
        let parsesAlone = lines.prefix(2).map { (try? parse(Data($0.bytes), file: file, line: $0.number)) != nil }
        guard parsesAlone.contains(true) else { return [.success(try parse(data, file: file))] }
        return lines.map { line in
            Result { () throws(AdapterError) in try parse(Data(line.bytes), file: file, line: line.number) }
        }
    }

    /// Whether `byte` is JSON whitespace.
    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    /// The names of an object's members, sorted.
    func memberNames() throws(AdapterError) -> [String] {
        guard let object = value as? [String: Any] else { throw fail("must be an object") }
        return object.keys.sorted()
    }

    /// An RFC 3339 date-time, as written (it becomes an event's `occurred`).
    func timestamp() throws(AdapterError) -> String {
        let text = try string()
        guard Timestamp.parse(text) != nil else {
            throw fail("must be an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.ffffff]Z), got \"\(text)\"")
        }
        return text
    }

    /// A whole number of at least 0.
    func count() throws(AdapterError) -> Int64 {
        let number = try number()
        guard number >= 0, number < 1e15, let whole = Int64(exactly: number) else {
            throw fail("must be a whole number of at least 0")
        }
        return whole
    }

    /// A digest of the value's content (the first 16 hex digits of the SHA-256 of its JSON with sorted keys): the
    /// idempotency key of a message that has no id of its own, so that only the same content is a duplicate.
    func contentDigest() throws(AdapterError) -> String {
        guard
            let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
        else { throw fail("holds a number JSON cannot represent (not finite)") }
        return String(SHA256.hash([UInt8](data)).hex.prefix(16))
    }
}
