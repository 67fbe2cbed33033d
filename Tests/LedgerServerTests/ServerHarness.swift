// A real `call-ledger serve` process on loopback for the tests: a scratch ledger, API keys for every role, a JWKS,
// and an HTTP client (URLSession) plus a raw-socket client for watching a response stream.
import Foundation
import JWTKit
import LedgerServer
import LedgerTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// An HTTP answer.
struct Answer: Sendable {
    var status: Int
    var body: String
    var contentType: String

    /// The body's non-empty lines parsed as JSON objects.
    func jsonLines() throws -> [[String: Any]] {
        try body.split(separator: "\n").map { try jsonObject($0) }
    }
}

/// The tokens' principals: one API key per role, scoped to tenant `acme-bank` (the agent to `jdoe`).
enum Tokens {
    static func key(_ role: Role) -> String { "test-key-\(role.rawValue)-0123456789abcdef" }
    static let otherTenantQA = "test-key-qa-globex-0123456789abcdef"
    /// An ingest key for every tenant (`*`), for seeding.
    static let ingestAll = "test-key-ingest-all-0123456789abcdef"

    static func keysFile() -> String {
        var lines = ["keys:"]
        for role in Role.allCases {
            lines.append("  - sha256: \(APIKeyStore.hash(of: key(role)))")
            lines.append("    principal: \(role.rawValue)-person")
            lines.append("    role: \(role.rawValue)")
            lines.append("    tenants: [acme-bank]")
            if role == .agent { lines.append("    agent: jdoe") }
        }
        lines.append("  - sha256: \(APIKeyStore.hash(of: otherTenantQA))")
        lines.append("    principal: globex-qa")
        lines.append("    role: qa")
        lines.append("    tenants: [globex]")
        lines.append("  - sha256: \(APIKeyStore.hash(of: ingestAll))")
        lines.append("    principal: seeder")
        lines.append("    role: ingest")
        lines.append("    tenants: [\"*\"]")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Interchange lines of a call: `call.started` (agent, queue) and one final segment holding a PII name span.
func callLines(
    call: String, tenant: String, agent: String = "jdoe", queue: String = "Cards", secret: String
) -> [String] {
    [
        #"{"type":"call.started","call":"\#(call)","tenant":"\#(tenant)","source":"test/1","idempotency":"\#(call):started","occurred":"2026-11-26T09:00:00.000Z","body":{"channel":"VOICE","initiated_at":"2026-11-26T09:00:00Z","queue":{"name":"\#(queue)"},"agent":{"id":"id-\#(agent)","name":"\#(agent)"}}}"#,
        #"{"type":"transcript.segment","call":"\#(call)","tenant":"\#(tenant)","source":"test/1","idempotency":"\#(call):seg-1","occurred":"2026-11-26T09:00:05.000Z","body":{"utterance":"u1","final":true,"role":"customer","start_ms":1000,"end_ms":3000,"text":[{"text":"my name is "},{"text":"\#(secret)","pii":"name"}],"provider":"test"}}"#,
    ]
}

/// A running `call-ledger serve` over a scratch ledger.
final class ServerProcess: @unchecked Sendable {
    let scratch = ScratchDirectory()
    let process = Process()
    let port: Int
    let signer: EdDSA.PrivateKey
    private let stderrLines = LineCollector()

    var ledger: String { scratch.file("ledger") }

    /// Creates the ledger (unless `existingLedger`; `initArguments` are added to its `init`) and starts the
    /// server; waits until it listens. With `configFile`, every setting comes from a YAML file given with
    /// `--config`, the port from the environment.
    init(
        extraArguments: [String] = [], existingLedger: String? = nil, configFile: Bool = false,
        initArguments: [String] = []
    ) throws {
        if existingLedger == nil {
            let created = try callLedger(arguments: ["init", scratch.file("ledger")] + initArguments)
            try #require(created.status == 0, "init: \(created.stderr)")
        }
        let keys = scratch.file("keys.yaml")
        try Tokens.keysFile().write(toFile: keys, atomically: true, encoding: .utf8)
        let jwks = scratch.file("jwks.json")
        let key = try EdDSA.PrivateKey()
        let x = key.publicKey.rawRepresentation.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        try #"{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"test","x":"\#(x)"}]}"#
            .write(toFile: jwks, atomically: true, encoding: .utf8)
        signer = key
        process.executableURL = URL(fileURLWithPath: Repository.executable)
        if configFile {
            let config = scratch.file("serve.yaml")
            try """
            # call-ledger serve settings
            ledger: \(existingLedger ?? scratch.file("ledger"))
            api_keys: \(keys)
            jwks: \(jwks)
            port: 8
            log_level: info
            """.write(toFile: config, atomically: true, encoding: .utf8)
            process.arguments = ["serve", "--config", config] + extraArguments
            var environment = ProcessInfo.processInfo.environment
            environment["CALL_LEDGER_SERVE_PORT"] = "0"
            process.environment = environment
        } else {
            process.arguments =
                [
                    "serve", "--ledger", existingLedger ?? scratch.file("ledger"), "--port", "0", "--api-keys", keys,
                    "--jwks", jwks,
                ] + extraArguments
        }
        // The whole suite runs at once on 2 cores: a test's WebSocket client may wait minutes for a thread, so
        // the relay's ping (which disconnects a producer that does not answer) is made patient here.
        var environment = process.environment ?? ProcessInfo.processInfo.environment
        environment["CALL_LEDGER_WEBSOCKET_PING_SECONDS"] = "900"
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        stderrLines.follow(errors.fileHandleForReading)
        guard let line = stderrLines.wait(containing: "call-ledger: serving", seconds: 60),
            let portText = line.split(separator: ":").last, let port = Int(portText)
        else {
            process.terminate()
            throw HarnessError(message: "the server did not start: \(stderrLines.all())")
        }
        self.port = port
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// Everything the server wrote to standard error so far.
    var log: String { stderrLines.all() }

    /// Sends SIGTERM and waits for the exit status.
    func terminate() -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// A request with `token` as bearer.
    func request(
        _ method: String, _ path: String, token: String?, body: String? = nil,
        contentType: String = "application/x-ndjson"
    ) async throws -> Answer {
        var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)\(path)")))
        request.httpMethod = method
        request.timeoutInterval = 60
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        return Answer(
            status: http.statusCode, body: String(decoding: data, as: UTF8.self),
            contentType: http.value(forHTTPHeaderField: "Content-Type") ?? "")
    }

    /// Appends `lines` with the ingest key and expects every line acknowledged.
    func append(_ lines: [String]) async throws {
        let answer = try await request(
            "POST", "/v1/events", token: Tokens.ingestAll, body: lines.joined(separator: "\n") + "\n")
        try #require(answer.status == 200, "append: \(answer.status) \(answer.body)")
        let acks = try answer.jsonLines()
        try #require(acks.count == lines.count && acks.allSatisfy { $0["seq"] != nil }, "append: \(answer.body)")
    }

    /// A signed JWT for `role` that expires `expiresIn` seconds from now (negative: already expired).
    func jwt(role: Role, tenants: [String], expiresIn: Double = 600) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(eddsa: signer, kid: "test")
        let claims = TestClaims(
            sub: SubjectClaim(value: "jwt-\(role.rawValue)"), exp: .init(value: Date().addingTimeInterval(expiresIn)),
            role: role.rawValue, tenants: tenants, agent: role == .agent ? "jdoe" : nil)
        return try await keys.sign(claims, kid: "test")
    }
}

/// The claims the tests sign.
struct TestClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var role: String
    var tenants: [String]
    var agent: String?

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

struct HarnessError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Collects a pipe's lines on a background thread.
final class LineCollector: @unchecked Sendable {
    private let condition = NSCondition()
    private var text = ""

    func follow(_ handle: FileHandle) {
        Thread {
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                self.condition.lock()
                self.text += String(decoding: data, as: UTF8.self)
                self.condition.broadcast()
                self.condition.unlock()
            }
        }.start()
    }

    func all() -> String {
        condition.lock()
        defer { condition.unlock() }
        return text
    }

    /// The first line containing `needle`, waiting up to `seconds`.
    func wait(containing needle: String, seconds: Double) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let line = text.split(separator: "\n").first(where: { $0.contains(needle) }) { return String(line) }
            guard condition.wait(until: deadline) else { return nil }
        }
    }
}

/// A plain HTTP/1.1 client over a socket, for sending a chunked body piece by piece and reading the answer as it
/// comes.
final class RawHTTPConnection {
    private let socketFD: Int32
    private var received: [UInt8] = []

    init(port: Int) throws {
        socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw HarnessError(message: "cannot connect to port \(port)") }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(socketFD, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(socketFD) }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(socketFD, $0.baseAddress, $0.count) }
            guard n > 0 else { return }
            offset += n
        }
    }

    /// Sends one chunk of a chunked body.
    func sendChunk(_ text: String) {
        send(String(text.utf8.count, radix: 16) + "\r\n" + text + "\r\n")
    }

    /// Sends one chunk of a chunked body given as bytes (which may end inside a UTF-8 character or a CRLF).
    func sendChunk(bytes: ArraySlice<UInt8>) {
        let framed = Array((String(bytes.count, radix: 16) + "\r\n").utf8) + bytes + Array("\r\n".utf8)
        var offset = 0
        while offset < framed.count {
            let n = framed[offset...].withUnsafeBytes { write(socketFD, $0.baseAddress, $0.count) }
            guard n > 0 else { return }
            offset += n
        }
    }

    /// Reads until what was received contains `needle` (or the read times out, or `seconds` passed); returns
    /// everything so far.
    func read(until needle: String, seconds: Double = .infinity) -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(seconds)
        while !String(decoding: received, as: UTF8.self).contains(needle), Date() < deadline {
            let n = buffer.withUnsafeMutableBytes { recv(socketFD, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            received.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: received, as: UTF8.self)
    }
}
