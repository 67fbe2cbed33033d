// The values HTTPClient exchanges: a request (method, URL, headers, body, timeouts) and a response (status,
// headers, body). Plain Sendable values with no Foundation types, so callers can build and inspect them anywhere.

/// An HTTP request method.
public enum HTTPMethod: String, Sendable, Equatable {
    /// `GET`
    case get = "GET"
    /// `HEAD`: the response has headers only.
    case head = "HEAD"
    /// `POST`
    case post = "POST"
    /// `PUT`
    case put = "PUT"
    /// `PATCH`
    case patch = "PATCH"
    /// `DELETE`
    case delete = "DELETE"
}

/// One header line: a name and its value, as sent or received.
public struct HTTPHeader: Sendable, Equatable {
    /// The header name, with the case it was given or received in.
    public var name: String
    /// The header value, without surrounding whitespace.
    public var value: String

    /// A header named `name` with `value`.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A request for `HTTPClient.send(_:)`.
public struct HTTPRequest: Sendable, Equatable {
    /// The method.
    public var method: HTTPMethod
    /// The absolute `http://` or `https://` URL, already percent-encoded.
    public var url: String
    /// Headers sent as given, in order.
    public var headers: [HTTPHeader]
    /// The body bytes; sent for every method but `GET` and `HEAD`.
    public var body: [UInt8]
    /// The longest wait for the connection (TCP and TLS) to be established.
    public var connectTimeout: Duration
    /// The longest the whole exchange may take, connection included.
    public var timeout: Duration

    /// A request; the timeouts default to 10 s to connect and 30 s in all.
    public init(
        method: HTTPMethod, url: String, headers: [HTTPHeader] = [], body: [UInt8] = [],
        connectTimeout: Duration = .seconds(10), timeout: Duration = .seconds(30)
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.timeout = timeout
    }
}

/// A response received by `HTTPClient.send(_:)`, whatever its status.
public struct HTTPResponse: Sendable, Equatable {
    /// The status code (200, 404, 503...).
    public var status: Int
    /// The headers of the final response, in the order received.
    public var headers: [HTTPHeader]
    /// The body bytes.
    public var body: [UInt8]

    /// A response with `status`, `headers` and `body`.
    public init(status: Int, headers: [HTTPHeader], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The value of the first header called `name`, compared without case; nil when absent.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    /// `Retry-After` given in seconds (the delay form); nil when absent or given as an HTTP date.
    public var retryAfterSeconds: Int? {
        guard let value = header("Retry-After"), let seconds = Int(value), seconds >= 0 else { return nil }
        return seconds
    }

    /// The body decoded as UTF-8, invalid sequences repaired.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}
