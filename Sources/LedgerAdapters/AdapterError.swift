// Errors from the input adapters: the file, the JSON path and the reason, so a bad vendor file can be fixed.

/// An input that an adapter cannot turn into events.
public struct AdapterError: Error, CustomStringConvertible, Equatable {
    /// The input's name (a path, or `-` for standard input).
    public var file: String
    /// The JSON path of the offending value (`result.transcription.utterances[3].start`), empty for the whole input.
    public var path: String
    /// What is wrong.
    public var reason: String

    /// An error at `path` of `file`.
    public init(file: String, path: String, reason: String) {
        self.file = file
        self.path = path
        self.reason = reason
    }

    /// A message a person can act on.
    public var description: String {
        path.isEmpty ? "\(file): \(reason)" : "\(file): \(path): \(reason)"
    }
}
