// The errors the service reports before it runs (configuration, key files) and the HTTP errors it answers with.
import Hummingbird

/// Why `call-ledger serve` cannot start: each names the file or setting and what to change.
public enum ServerError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A setting (from the config file, an option or the environment) is missing or malformed.
    case setting(name: String, origin: String, reason: String)
    /// A file the configuration names cannot be read or parsed.
    case file(path: String, reason: String)

    /// The message for a person.
    public var description: String {
        switch self {
        case .setting(let name, let origin, let reason): "setting \(name) (\(origin)): \(reason)"
        case .file(let path, let reason): "\(path): \(reason)"
        }
    }
}

/// The HTTP errors routes answer with; the body is `{"error":{"message":...}}`.
enum APIError {
    /// 400 with `message`.
    static func badRequest(_ message: String) -> HTTPError { HTTPError(.badRequest, message: message) }

    /// 401: the token is missing, malformed, expired or unknown. The reason never repeats the token.
    static func unauthorized(_ message: String) -> HTTPError {
        HTTPError(.unauthorized, headers: [.wwwAuthenticate: "Bearer"], message: message)
    }

    /// 403: the role may not use this endpoint or view.
    static func forbidden(_ message: String) -> HTTPError { HTTPError(.forbidden, message: message) }

    /// 404: absent, or outside the token's scope (never 403 for another tenant's call).
    static func notFound(_ message: String) -> HTTPError { HTTPError(.notFound, message: message) }
}
