// POST /v1/ingest/{kind}: one vendor document in the body, read by the adapter `call-ledger ingest --from KIND`
// uses, through the same IngestOperation: the same events, counts, warnings and errors as the CLI, the same
// options as query parameters, and the CLI's `--json` summary (with the acknowledgements) as the answer.
import Foundation
import Hummingbird
import LedgerAdapters
import LedgerOperations
import LedgerStore
import Logging
import Metrics

/// Reading request bodies and writing JSON answers, shared by the ingest routes.
enum IngestHTTP {
    /// The media types a JSON vendor document may be sent as.
    static let documentTypes: Set<String> = [
        "application/json", "application/x-ndjson", "application/jsonl", "application/json-lines",
    ]

    /// The request's media type, lower-cased, without parameters.
    static func mediaType(_ request: Request) -> String? {
        request.headers[.contentType]?.split(separator: ";").first
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
    }

    /// The value of the header `name` (lower case), if the request has it.
    static func header(_ request: Request, _ name: String) -> String? {
        request.headers.first { $0.name.canonicalName == name }?.value
    }

    /// The body, at most `limit` bytes (413 past it, judged by Content-Length before reading when it is given).
    static func body(_ request: Request, limit: Int) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw HTTPError(.contentTooLarge, message: "the body is over the \(limit)-byte limit")
        }
        do { return try await request.body.collect(upTo: limit) } catch {
            throw HTTPError(.contentTooLarge, message: "the body is over the \(limit)-byte limit")
        }
    }

    /// A JSON answer of `object` (keys sorted).
    static func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// An adapter's warning or rejection as the `--json` summary writes it.
    static func problem(_ error: AdapterError) -> [String: Any] {
        var object: [String: Any] = ["file": error.file, "path": error.path, "reason": error.reason]
        if let line = error.line { object["line"] = line }
        return object
    }

    /// The line of `input` an adapter's rejection is about: its `line`, or the `:LINE` its file name carries
    /// (adapters of JSON lines name the record `INPUT:LINE`).
    static func line(of error: AdapterError, input: String) -> Int? {
        if let line = error.line { return line }
        guard error.file.hasPrefix(input + ":") else { return nil }
        return Int(error.file.dropFirst(input.count + 1))
    }

    /// The `--json` summary of an ingest that was accepted, with its acknowledgements.
    static func summary(input: String, from kind: String, _ ingest: ServiceIngest) -> [String: Any] {
        [
            "input": input, "from": kind, "accepted": true, "appended": ingest.result.appended,
            "duplicate": ingest.result.duplicate, "warnings": ingest.result.warnings.map(problem),
            "rejected": ingest.result.rejected.map(problem),
            "events": ingest.acknowledgements.map(\.json),
        ]
    }

    /// The status an ingest error answers with: 404 for an unknown adapter, 413 for an input over the limit,
    /// 422 for an input the adapter rejects (nothing appended), 503 when the ledger fails.
    static func status(of error: IngestError) -> HTTPResponse.Status {
        switch error {
        case .unknownAdapter: .notFound
        case .tooLarge: .contentTooLarge
        case .unreadable: .badRequest
        case .rejected, .refused, .invalidEvent: .unprocessableContent
        case .ledger, .openingWriter, .delivery: .serviceUnavailable
        }
    }

    /// The answer to an ingest error: `{"error":{"message"}}` and, like the CLI's `--json`, the input's warnings
    /// and rejected records.
    static func failure(_ error: IngestError, input: String, from kind: String) -> Response {
        var rejected: [AdapterError] = []
        var warnings: [AdapterError] = []
        switch error {
        case .rejected(let rejection, _): rejected = [rejection]
        case .refused(_, _, let left, let records, _): (warnings, rejected) = (left, records)
        default: break
        }
        return json(
            status(of: error),
            [
                "error": ["message": error.description], "input": input, "from": kind, "accepted": false,
                "warnings": warnings.map(problem), "rejected": rejected.map(problem),
            ])
    }
}

/// The handler of `POST /v1/ingest/{kind}`.
struct IngestRoute: Sendable {
    let sink: EventSink
    let maxBodyBytes: Int
    let appended = Counter(label: "ledger_ingest_events_appended_total")

    /// The largest document read: the server's body limit or ingest's input limit, whichever is smaller.
    var limit: Int { min(maxBodyBytes, IngestOperation.maximumInputBytes) }

    func handle(_ request: Request, kind: String, principal: Principal, logger: Logger) async throws -> Response {
        guard let adapter = InputAdapters.all[kind] else {
            return IngestHTTP.failure(.unknownAdapter(kind), input: "body", from: kind)
        }
        guard let mediaType = IngestHTTP.mediaType(request), IngestHTTP.documentTypes.contains(mediaType) else {
            throw HTTPError(
                .unsupportedMediaType,
                message: "send the vendor document as application/json (JSON lines as application/x-ndjson)")
        }
        let query = request.uri.queryParameters
        let known: Set<String> = [
            "call", "tenant", "roles", "track", "stream", "strict", "atomic", "ack", "ack_timeout",
        ]
        if let unknown = query.map({ String($0.key) }).first(where: { !known.contains($0) }) {
            throw APIError.badRequest(
                "unknown query parameter '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        let call = query.get("call")
        let track = try query.get("track").map { text throws -> AudioTrack in
            guard let track = AudioTrack(rawValue: text) else {
                throw APIError.badRequest(
                    "track takes \(AudioTrack.allCases.map(\.rawValue).joined(separator: " or ")), got \"\(text)\"")
            }
            return track
        }
        let stream = query.get("stream")
        var given: [IngestOption] = []
        if call != nil { given.append(.call) }
        if track != nil { given.append(.track) }
        if stream != nil { given.append(.stream) }
        if let foreign = given.first(where: { $0 != .call && !adapter.mediaOptions.contains($0) }) {
            throw APIError.badRequest("\(foreign.rawValue) does not apply to \(kind)")
        }
        if let missing = IngestOption.allCases.first(where: {
            adapter.requiredOptions.contains($0) && !given.contains($0)
        }) {
            throw APIError.badRequest("\(kind) needs the \(missing.rawValue) query parameter")
        }
        let tenant = try Self.tenant(query.get("tenant"), principal: principal)
        let roles = try Self.roles(query.get("roles"))
        let strict = try Self.flag(query.get("strict"), name: "strict")
        let atomic = try Self.flag(query.get("atomic"), name: "atomic")
        let (level, wait) = try AcknowledgementLevel.parse(request)
        let body = try await IngestHTTP.body(request, limit: limit)
        let input = "body"
        let ingestRequest = IngestRequest(
            kind: kind, source: .bytes(Data(body.readableBytesView), name: input), call: call, tenant: tenant,
            roles: roles,
            track: track, stream: stream, strict: strict, atomic: atomic)
        let outcome: ServiceIngest
        do { outcome = try await sink.ingest(ingestRequest, level: level, timeout: wait) } catch {
            logger.info("ingest rejected", metadata: ["from": "\(kind)", "reason": "\(error)"])
            return IngestHTTP.failure(error, input: input, from: kind)
        }
        appended.increment(by: outcome.result.appended)
        logger.info(
            "ingest done",
            metadata: [
                "from": "\(kind)", "appended": "\(outcome.result.appended)",
                "duplicate": "\(outcome.result.duplicate)", "rejected": "\(outcome.result.rejected.count)",
            ])
        return IngestHTTP.json(.ok, IngestHTTP.summary(input: input, from: kind, outcome))
    }

    /// The tenant to ingest into: the one asked for, else the token's only tenant, else `default`; one the token
    /// does not cover answers 403.
    static func tenant(_ asked: String?, principal: Principal) throws -> String {
        let tenant: String
        if let asked {
            tenant = asked
        } else if principal.tenants.count == 1, let only = principal.tenants.first, only != "*" {
            tenant = only
        } else {
            tenant = "default"
        }
        guard !tenant.isEmpty else { throw APIError.badRequest("tenant must not be empty") }
        guard principal.covers(tenant: tenant) else {
            throw APIError.forbidden("this token may not write events of tenant \(tenant)")
        }
        return tenant
    }

    /// `roles=0=agent,1=customer` as `--roles` takes it.
    static func roles(_ text: String?) throws -> [Int: String] {
        guard let text else { return [:] }
        var result: [Int: String] = [:]
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=")
            guard parts.count == 2, let number = Int(parts[0]), ["agent", "customer", "unknown"].contains(parts[1])
            else {
                throw APIError.badRequest(
                    "roles takes n=agent|customer|unknown pairs separated by commas, got \"\(pair)\"")
            }
            result[number] = String(parts[1])
        }
        return result
    }

    /// A `true`/`false` query flag (absent: false).
    static func flag(_ text: String?, name: String) throws -> Bool {
        switch text {
        case nil, "false": false
        case "true": true
        default: throw APIError.badRequest("\(name) must be true or false")
        }
    }
}
