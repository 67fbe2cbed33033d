// The failures HTTPClient reports when no HTTP response arrived: each carries libcurl's code and message so the
// cause (DNS, refused connection, TLS, timeout, reset) can be read off the error.

/// A request that produced no HTTP response. Responses of any status, errors included, are not `HTTPError`s.
public enum HTTPError: Error, Equatable, CustomStringConvertible {
    /// The URL is malformed or not `http`/`https`.
    case invalidURL(url: String, message: String)
    /// The connect timeout or the total timeout elapsed; the server may still have acted on the request.
    case timeout(url: String, message: String)
    /// No connection could be made (name resolution, refused, unreachable, TLS handshake); nothing was sent.
    case connectionFailed(url: String, curlCode: Int, message: String)
    /// The connection closed or broke before a complete response arrived; the server may have acted on the request.
    case connectionDropped(url: String, curlCode: Int, message: String)
    /// libcurl failed in another way (setup, out of memory, protocol error).
    case transport(url: String, curlCode: Int, message: String)

    /// A message a person can act on.
    public var description: String {
        switch self {
        case .invalidURL(let url, let message):
            "invalid URL \(url): \(message); give an absolute http:// or https:// URL"
        case .timeout(let url, let message):
            "request to \(url) timed out: \(message)"
        case .connectionFailed(let url, let code, let message):
            "cannot connect to \(url) (curl error \(code)): \(message); check the host, port and network"
        case .connectionDropped(let url, let code, let message):
            "connection to \(url) dropped before a complete response (curl error \(code)): \(message)"
        case .transport(let url, let code, let message):
            "request to \(url) failed (curl error \(code)): \(message)"
        }
    }
}
