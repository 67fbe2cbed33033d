// What every projection definition file (retention policy, QA scorecard) shares: YAML decoding with errors that
// name the file, the member's path and the reason; the format and name checks; and the error type itself.
import Foundation
import Yams

/// The members every definition file starts with.
protocol DefinitionHeader: Decodable {
    /// The file format, 1.
    var format: Int { get }
    /// The definition's stable name.
    var name: String { get }
}

/// Decoding and the common checks of definition files.
enum DefinitionFile {
    /// Decodes `bytes` (YAML, read from `file`) as `type` and checks its format and name; `kind` names the
    /// definition in messages (`policy`, `scorecard`).
    static func decode<Raw: DefinitionHeader>(
        _ type: Raw.Type, from bytes: [UInt8], file: String, kind: String
    ) throws(DefinitionError) -> Raw {
        let raw: Raw
        do {
            raw = try YAMLDecoder().decode(Raw.self, from: Data(bytes))
        } catch let error as Swift.DecodingError {
            throw DefinitionError(file: file, path: error.path, reason: error.reason)
        } catch {
            throw DefinitionError(file: file, path: "", reason: "not YAML: \(error)")
        }
        guard raw.format == 1 else {
            throw DefinitionError(
                file: file, path: "format", reason: "unsupported \(kind) format \(raw.format); this build reads 1")
        }
        guard isName(raw.name) else {
            throw DefinitionError(
                file: file, path: "name",
                reason: "must be 1 to 64 lowercase letters, digits, '-' or '.', starting with a letter")
        }
        return raw
    }

    /// Whether `name` is a definition or item id: 1 to 64 of `a-z`, `0-9`, `-`, `.`, starting with a letter.
    static func isName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count), let first = bytes.first,
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first)
        else { return false }
        return bytes.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
        }
    }
}

/// A projection definition file (retention policy, QA scorecard) that cannot be used: which file, which member, why.
public struct DefinitionError: Error, CustomStringConvertible, Equatable {
    /// The file.
    public var file: String
    /// The member's path (`rules[0].classes.content.retain`), empty for the whole file.
    public var path: String
    /// Why it was refused.
    public var reason: String

    /// An error about `path` of `file` (empty for the whole file).
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

extension Swift.DecodingError {
    /// The path of the member the error is about, as `rules[0].classes.content`.
    fileprivate var path: String {
        let codingPath: [any CodingKey]
        switch self {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            codingPath = context.codingPath
        case .keyNotFound(let key, let context):
            codingPath = context.codingPath + [key]
        @unknown default:
            return ""
        }
        var path = ""
        for key in codingPath {
            if let index = key.intValue {
                path += "[\(index)]"
            } else {
                path += path.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return path
    }

    /// Why decoding failed, in words.
    fileprivate var reason: String {
        switch self {
        case .typeMismatch(let type, _): return "expected \(type == String.self ? "a string" : "\(type)")"
        case .valueNotFound: return "a value is required"
        case .keyNotFound: return "required member is missing"
        case .dataCorrupted(let context):
            if case .duplicatedKeysInMapping(let duplicates, let yaml)? = context.underlyingError as? YamlError {
                let names = duplicates.map { "'\($0)'" }.joined(separator: ", ")
                return "duplicate member \(names) at line \(yaml.mark.line)"
            }
            return context.debugDescription
        @unknown default: return "\(self)"
        }
    }
}
