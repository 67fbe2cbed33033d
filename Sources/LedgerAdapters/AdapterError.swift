// Errors from the input adapters: the file, the line (of JSON-lines input), the JSON path and the reason, so a
// bad vendor file can be fixed.

/// An input that an adapter cannot turn into events.
public struct AdapterError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The input's name (a path, or `-` for standard input).
    public var file: String
    /// The 1-based line of JSON-lines input the offending message is on, nil for a single JSON document.
    public var line: Int?
    /// The JSON path of the offending value (`result.transcription.utterances[3].start`), empty for the whole input.
    public var path: String
    /// What is wrong.
    public var reason: String

    /// An error at `path` of `file` (of the message on `line`, for JSON-lines input).
    public init(file: String, line: Int? = nil, path: String, reason: String) {
        self.file = file
        self.line = line
        self.path = path
        self.reason = reason
    }

    /// A message a person can act on.
    public var description: String {
        let location = line.map { "\(file): line \($0)" } ?? file
        return path.isEmpty ? "\(location): \(reason)" : "\(location): \(path): \(reason)"
    }
}
