// A minimal blocking HTTP/1.1 client over one loopback TCP socket, for the service benchmarks: it writes a
// request and hands the response body to the caller as each read returns, so that the arrival time of every
// acknowledgement line or Server-Sent Event is taken when its bytes arrive. One connection per thread; no
// allocation of threads or tasks per request, so the load generator is not what limits the service.
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Nanoseconds since boot (monotonic).
func nowNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// A failure of the benchmark's HTTP client, with what it was doing.
struct HTTPFailure: Error, CustomStringConvertible {
    /// What went wrong.
    let description: String
}

/// One keep-alive HTTP/1.1 connection to 127.0.0.1.
final class HTTPConnection {
    /// The socket (another thread may `shutdown` it to end a blocked read).
    let descriptor: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var readChunk = [UInt8](repeating: 0, count: 65536)

    /// Connects to 127.0.0.1:`port` (TCP_NODELAY).
    init(port: UInt16) throws(HTTPFailure) {
        let descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw HTTPFailure(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let code = errno
            close(descriptor)
            throw HTTPFailure(description: "connect to 127.0.0.1:\(port): errno \(code)")
        }
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Writes `bytes` completely.
    func write(_ bytes: [UInt8]) throws(HTTPFailure) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                send(descriptor, raw.baseAddress.map { $0 + offset }, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard written > 0 else { throw HTTPFailure(description: "send: errno \(errno)") }
            offset += written
        }
    }

    /// A request's head and body as bytes.
    static func request(
        _ method: String, _ target: String, token: String, contentType: String? = nil, body: [UInt8] = []
    ) -> [UInt8] {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        if method != "GET" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    /// Reads one response: returns its status once the whole body was handed to `onBody` (called with each
    /// piece of the body as it arrives, and the arrival time in nanoseconds); `onBody` returns false to stop
    /// reading (the connection is then unusable).
    @discardableResult
    func readResponse(_ onBody: (ArraySlice<UInt8>, UInt64) throws(HTTPFailure) -> Bool) throws(HTTPFailure) -> Int {
        let statusLine = try line()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw HTTPFailure(description: "not an HTTP response: \(statusLine.prefix(80))")
        }
        var length: Int?
        var chunked = false
        while true {
            let header = try line()
            if header.isEmpty { break }
            let pair = header.split(separator: ":", maxSplits: 1)
            guard pair.count == 2 else { continue }
            let name = pair[0].lowercased()
            let value = pair[1].trimmingPrefix(" ").lowercased()
            if name == "content-length" { length = Int(value) }
            if name == "transfer-encoding", value.contains("chunked") { chunked = true }
        }
        if chunked {
            while true {
                let sizeLine = try line()
                guard let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16) else {
                    throw HTTPFailure(description: "bad chunk size line: \(sizeLine.prefix(40))")
                }
                if size == 0 {
                    while try !line().isEmpty {}
                    return status
                }
                var remaining = size
                while remaining > 0 {
                    try fill()
                    let take = min(remaining, buffer.count - start)
                    let piece = buffer[start..<start + take]
                    start += take
                    remaining -= take
                    guard try onBody(piece, nowNanoseconds()) else { return status }
                }
                guard try line().isEmpty else { throw HTTPFailure(description: "chunk not followed by CRLF") }
            }
        }
        var remaining = length ?? 0
        while remaining > 0 {
            try fill()
            let take = min(remaining, buffer.count - start)
            let piece = buffer[start..<start + take]
            start += take
            remaining -= take
            guard try onBody(piece, nowNanoseconds()) else { return status }
        }
        return status
    }

    /// One CRLF-terminated line of the head or of the chunk framing, without the CRLF.
    private func line() throws(HTTPFailure) -> String {
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                var end = newline
                if end > start, buffer[end - 1] == 0x0D { end -= 1 }
                let text = String(decoding: buffer[start..<end], as: UTF8.self)
                start = newline + 1
                return text
            }
            try fill(force: true)
        }
    }

    /// Makes sure unread bytes are buffered (reading more when none are, or always when `force`).
    private func fill(force: Bool = false) throws(HTTPFailure) {
        if !force, start < buffer.count { return }
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
        let count = readChunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else {
            throw HTTPFailure(description: count == 0 ? "the server closed the connection" : "recv: errno \(errno)")
        }
        buffer.append(contentsOf: readChunk[0..<count])
    }
}

/// Splits a byte stream into lines (without `\n`).
struct ByteLines {
    private var pending: [UInt8] = []

    /// The complete lines in `piece` (with what was pending before it).
    mutating func append(_ piece: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        pending.append(contentsOf: piece)
        var lines: [ArraySlice<UInt8>] = []
        var from = 0
        while let newline = pending[from...].firstIndex(of: 0x0A) {
            lines.append(pending[from..<newline])
            from = newline + 1
        }
        let result = lines.map { ArraySlice(Array($0)) }
        pending.removeFirst(from)
        return result
    }
}

extension ArraySlice where Element == UInt8 {
    /// Whether `needle` occurs in these bytes.
    func containsBytes(_ needle: [UInt8]) -> Bool {
        guard let first = needle.first else { return true }
        return withUnsafeBytes { haystack in
            needle.withUnsafeBytes { pattern in
                guard haystack.count >= pattern.count else { return false }
                guard let start = haystack.baseAddress, let bytes = pattern.baseAddress else { return false }
                for index in 0...(haystack.count - pattern.count) where haystack[index] == first {
                    if memcmp(start + index, bytes, pattern.count) == 0 { return true }
                }
                return false
            }
        }
    }
}

/// The unsigned integer value of `"key":` in a JSON line, if it holds one.
func jsonInteger(_ line: ArraySlice<UInt8>, key: String) -> UInt64? {
    let pattern = Array("\"\(key)\":".utf8)
    guard let range = line.firstRange(of: pattern) else { return nil }
    var value: UInt64 = 0
    var digits = 0
    for byte in line[range.upperBound...] {
        guard byte >= 0x30, byte <= 0x39 else { break }
        let (times, overflowTimes) = value.multipliedReportingOverflow(by: 10)
        let (sum, overflowSum) = times.addingReportingOverflow(UInt64(byte - 0x30))
        guard !overflowTimes, !overflowSum else { return nil }
        value = sum
        digits += 1
    }
    return digits > 0 ? value : nil
}

/// A value shared between threads, behind a lock.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    /// Holds `value`.
    init(_ value: Value) { mutex = Mutex(value) }

    /// Runs `body` with the value locked.
    func withLock<T: Sendable>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
}

/// `value` with three decimals.
func decimals(_ value: Double) -> String { String(format: "%.3f", value) }

/// The `fraction` percentile of `sorted` (ascending), by nearest rank.
func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((fraction * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}
