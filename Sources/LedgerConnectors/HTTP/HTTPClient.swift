// HTTPClient: a synchronous HTTP/1.1 client over one libcurl easy handle. The handle (and with it the open
// connection, reused between requests to the same host) stays inside the class; callers see only Sendable values.
internal import CCurl

/// libcurl's process-wide initialisation, run once (Swift globals are initialised lazily and exactly once). It
/// also loads libcurl: call-ledger does not link it (see Sources/CCurl/shim.h), so a process that sends no HTTP
/// request never loads its two dozen libraries.
private let curlGlobalInit: CURLcode = call_ledger_curl_global_init()

/// Sends HTTP requests through libcurl, one at a time, reusing the connection when the host stays the same.
///
/// An instance is not `Sendable`: keep it confined to the task that uses it, and make one per task if several
/// send in parallel. Redirects are not followed; only `http` and `https` URLs are accepted.
public final class HTTPClient {
    private let handle: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>

    /// A client with its own libcurl handle; fails only if libcurl cannot be initialised.
    public init() throws(HTTPError) {
        guard curlGlobalInit == CURLE_OK, let handle = call_ledger_curl_easy_init() else {
            let reason = call_ledger_curl_load_error().map { String(cString: $0) }
            throw .transport(
                url: "", curlCode: Int(CURLE_FAILED_INIT.rawValue),
                message: reason.map { "libcurl could not be loaded (install libcurl4 for libcurl.so.4): \($0)" }
                    ?? "libcurl could not be initialised")
        }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        call_ledger_curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// Sends `request` and waits for the whole response.
    ///
    /// Every response that arrives is returned, whatever its status; `HTTPError` means none arrived.
    public func send(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        call_ledger_curl_easy_reset(handle)
        errorBuffer.update(repeating: 0, count: Int(CURL_ERROR_SIZE))
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { call_ledger_curl_slist_free_all(headerList) }
        // "Expect:" stops libcurl from waiting for `100 Continue` before sending larger bodies.
        for line in request.headers.map({ "\($0.name): \($0.value)" }) + ["Expect:"] {
            headerList = call_ledger_curl_slist_append(headerList, line)
        }
        let collector = ResponseCollector()
        let setup = configure(request, headerList: headerList, collector: Unmanaged.passUnretained(collector))
        guard setup == CURLE_OK else { throw error(setup, url: request.url) }
        let result = withExtendedLifetime(collector) { call_ledger_curl_easy_perform(handle) }
        guard result == CURLE_OK else { throw error(result, url: request.url) }
        var status = 0
        _ = call_ledger_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: collector.headers, body: collector.body)
    }

    /// Sets every option for `request`; returns the first failure, or `CURLE_OK`.
    private func configure(
        _ request: HTTPRequest, headerList: UnsafeMutablePointer<curl_slist>?,
        collector: Unmanaged<ResponseCollector>
    ) -> CURLcode {
        let context = collector.toOpaque()
        var codes = [
            call_ledger_curl_setopt_string(handle, CURLOPT_URL, request.url),
            call_ledger_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"),
            call_ledger_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer),
            call_ledger_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1),
            call_ledger_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, milliseconds(request.connectTimeout)),
            call_ledger_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, milliseconds(request.timeout)),
            call_ledger_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList),
            call_ledger_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context),
            call_ledger_curl_setopt_callback(handle, CURLOPT_WRITEFUNCTION) { data, size, count, context in
                let collector = Unmanaged<ResponseCollector>.fromOpaque(context!).takeUnretainedValue()
                collector.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: size * count))
                return size * count
            },
            call_ledger_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context),
            call_ledger_curl_setopt_callback(handle, CURLOPT_HEADERFUNCTION) { data, size, count, context in
                let collector = Unmanaged<ResponseCollector>.fromOpaque(context!).takeUnretainedValue()
                collector.receiveHeaderLine(UnsafeRawBufferPointer(start: data, count: size * count))
                return size * count
            },
        ]
        switch request.method {
        case .get:
            codes.append(call_ledger_curl_setopt_long(handle, CURLOPT_HTTPGET, 1))
        case .head:
            codes.append(call_ledger_curl_setopt_long(handle, CURLOPT_NOBODY, 1))
        case .post, .put, .patch, .delete:
            codes.append(
                call_ledger_curl_setopt_offset(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)))
            // COPYPOSTFIELDS copies the bytes at once, so the buffer need not outlive this call; an empty body still
            // needs a non-null pointer, and the size set above keeps the placeholder byte from being sent.
            let bytes = request.body.isEmpty ? [0] : request.body
            codes.append(
                bytes.withUnsafeBytes {
                    call_ledger_curl_setopt_pointer(
                        handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: $0.baseAddress))
                })
            if request.method != .post {
                codes.append(call_ledger_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method.rawValue))
            }
        }
        return codes.first { $0 != CURLE_OK } ?? CURLE_OK
    }

    /// The `HTTPError` for a failed libcurl call, with libcurl's detailed message when it left one.
    private func error(_ code: CURLcode, url: String) -> HTTPError {
        let detail = String(cString: errorBuffer)
        let message = detail.isEmpty ? String(cString: call_ledger_curl_easy_strerror(code)) : detail
        let number = Int(code.rawValue)
        switch code {
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            return .invalidURL(url: url, message: message)
        case CURLE_OPERATION_TIMEDOUT:
            return .timeout(url: url, message: message)
        case CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT, CURLE_SSL_CONNECT_ERROR,
            CURLE_PEER_FAILED_VERIFICATION:
            return .connectionFailed(url: url, curlCode: number, message: message)
        case CURLE_GOT_NOTHING, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_PARTIAL_FILE, CURLE_HTTP2,
            CURLE_HTTP2_STREAM:
            return .connectionDropped(url: url, curlCode: number, message: message)
        default:
            return .transport(url: url, curlCode: number, message: message)
        }
    }
}

/// Whole milliseconds of `duration` for libcurl, at least 1 (libcurl reads 0 as "no limit").
private func milliseconds(_ duration: Duration) -> Int {
    let (seconds, attoseconds) = duration.components
    // A configured timeout too long to count in milliseconds is as good as the longest one that can be counted.
    guard seconds >= 0 else { return 1 }
    let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
    let (total, carry) = whole.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
    return overflow || carry ? Int.max : max(1, Int(clamping: total))
}

/// Gathers the body and header lines libcurl delivers during one transfer.
private final class ResponseCollector {
    var body: [UInt8] = []
    var headers: [HTTPHeader] = []

    /// Takes one raw header line; a status line starts a new header block (after `100 Continue` for instance).
    func receiveHeaderLine(_ bytes: UnsafeRawBufferPointer) {
        let line = String(decoding: bytes, as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            headers.removeAll()
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = String(line[..<colon])
        let value = line[line.index(after: colon)...].trimmingWhitespace()
        headers.append(HTTPHeader(name, value))
    }
}

extension Substring {
    /// The text without leading and trailing spaces, tabs, carriage returns and line feeds.
    fileprivate func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
