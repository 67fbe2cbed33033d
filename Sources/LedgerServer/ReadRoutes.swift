// The read endpoints: checkpoint, calls, one call, a call's transcript by view, inclusion proofs. Each reads
// through LedgerService (a fresh reader, projections caught up), filters by the principal, and answers a call
// outside the token's scope exactly as an absent one (404).
import Foundation
import Hummingbird
import LedgerCore
import LedgerProjections
import LedgerStore
import Logging

/// The handlers of the read endpoints.
struct ReadRoutes: Sendable {
    let service: LedgerService
    /// How an `access.granted` is made durable before personal data is answered.
    var access: AccessLog = .writer

    // MARK: - Checkpoint and proofs

    /// `GET /v1/checkpoint`: the latest signed checkpoint (C2SP tlog-checkpoint note), signed anew when events
    /// were appended since the last one (read-only: the latest stored; 503 when there is none yet).
    func checkpoint() async throws -> Response {
        let note = try await storedCheckpoint().note
        return Response(
            status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: note)))
    }

    /// `GET /v1/proofs/inclusion?seq=N[&size=M]`: the RFC 6962 inclusion proof `call-ledger prove inclusion`
    /// prints, for an event of one of the token's tenants.
    func inclusionProof(_ request: Request, principal: Principal) async throws -> Response {
        let query = request.uri.queryParameters
        guard let seqText = query.get("seq"), let seq = UInt64(seqText) else {
            throw APIError.badRequest("seq must be an event's seq (a whole number)")
        }
        let size: UInt64?
        if let sizeText = query.get("size") {
            guard let value = UInt64(sizeText), value > seq else {
                throw APIError.badRequest("size must be a tree size (a whole number) greater than seq")
            }
            size = value
        } else {
            size = nil
        }
        let latest = try await storedCheckpoint().checkpoint
        if service.isReadOnly, max(seq + 1, size ?? 0) > latest.treeSize {
            throw APIError.notFound(
                "no event \(seq) (in a tree of that size) covered by the latest signed checkpoint (\(latest.treeSize) "
                    + "events) yet: this server is read-only and signs none; its writer signs the next one")
        }
        let proof = try await ledger { () async throws(LedgerError) in
            try await service.read { reader, _ throws(LedgerError) -> InclusionProof? in
                guard seq < reader.size else { return nil }
                var tenant = ""
                try reader.withRecord(seq: seq) { record in tenant = record.string(record.tenantRange) }
                guard principal.covers(tenant: tenant) else { return nil }
                if let size, size > reader.size { return nil }
                return try reader.inclusionProof(seq: seq, treeSize: size)
            }
        }
        guard let proof else { throw APIError.notFound("no event \(seq) (in a tree of that size) this token may see") }
        return try JSONBody.response(proof)
    }

    // MARK: - Calls

    /// `GET /v1/calls`: the calls the principal may see, filtered by tenant, queue, agent and start time, in
    /// pages of `limit` (default 100, at most 1000) from `cursor`.
    func listCalls(_ request: Request, principal: Principal) async throws -> Response {
        let query = request.uri.queryParameters
        let tenant = query.get("tenant")
        let queue = query.get("queue")
        let agent = query.get("agent")
        let from = try Self.time(query.get("from"), name: "from")
        let to = try Self.time(query.get("to"), name: "to")
        var limit = 100
        if let text = query.get("limit") {
            guard let value = Int(text), (1...1000).contains(value) else {
                throw APIError.badRequest("limit must be a whole number from 1 to 1000")
            }
            limit = value
        }
        var offset = 0
        if let text = query.get("cursor") {
            guard let value = Int(text), value >= 0 else {
                throw APIError.badRequest("cursor must be the `next` value of a previous page")
            }
            offset = value
        }
        let calls = try await ledger { () async throws(LedgerError) in
            try await service.read { _, engine throws(LedgerError) in try engine.calls() }
        }
        let matching = calls.filter { summary in
            guard principal.canSee(summary) else { return false }
            if let tenant, summary.tenant != tenant { return false }
            if let queue, summary.queue != queue { return false }
            if let agent, summary.agent != agent { return false }
            if let from, (summary.startedAt ?? .min) < from { return false }
            if let to, (summary.startedAt ?? .max) >= to { return false }
            return true
        }
        let page = Array(matching.dropFirst(offset).prefix(limit))
        let next = offset + page.count < matching.count ? String(offset + page.count) : nil
        return try JSONBody.response(CallPage(calls: page, next: next), snakeCase: true)
    }

    /// `GET /v1/calls/{id}`: the call's summary.
    func call(_ id: String, principal: Principal) async throws -> Response {
        try JSONBody.response(try await visibleSummary(id, principal: principal), snakeCase: true)
    }

    /// `GET /v1/calls/{id}/transcript`: the call as the view the role may have: `summary` (no text), `redacted`
    /// or `raw` (compliance, with `purpose`; `access.granted` is appended and durable before the answer).
    func transcript(
        _ id: String, request: Request, principal: Principal, requestID: String, logger: Logger
    ) async throws -> Response {
        let query = request.uri.queryParameters
        let view: TranscriptView
        if let text = query.get("view") {
            guard let parsed = TranscriptView(rawValue: text) else {
                throw APIError.badRequest("view must be one of summary, redacted, raw")
            }
            view = parsed
        } else {
            view = principal.role.defaultTranscriptView
        }
        guard principal.role.transcriptViews.contains(view) else {
            throw APIError.forbidden("the \(principal.role.rawValue) role may not read the \(view.rawValue) view")
        }
        let format = query.get("format") ?? "json"
        guard ["json", "text", "vtt"].contains(format) else {
            throw APIError.badRequest("format must be one of json, text, vtt")
        }
        let purpose = query.get("purpose")?.trimmingCharacters(in: .whitespaces) ?? ""
        guard purpose.unicodeScalars.count <= 1024 else {
            throw APIError.badRequest("purpose is over 1024 characters")
        }
        if view == .raw, purpose.isEmpty {
            throw APIError.badRequest("the raw view opens personal data: state why with purpose=...")
        }
        if view == .raw { try requireAccessLog("the raw view") }
        let asOf = try query.get("as_of").map(Self.asOf)
        if view == .summary {
            guard format == "json" else { throw APIError.badRequest("the summary view is JSON only (format=json)") }
            return try JSONBody.response(try await visibleSummary(id, principal: principal), snakeCase: true)
        }
        let read = try await ledger { () async throws(LedgerError) in
            try await service.read { reader, engine throws(LedgerError) -> (CallSummary, CallTranscript?)? in
                guard let summary = try engine.summary(call: id), principal.canSee(summary) else { return nil }
                let bound: UInt64? =
                    switch asOf {
                    case .seq(let seq)?: seq == .max ? nil : seq + 1
                    case .time(let time)?: try reader.sizeAsOf(time: time)
                    case nil: nil
                    }
                return (summary, try engine.transcript(call: id, asOf: bound))
            }
        }
        guard let (summary, transcript) = read else {
            throw APIError.notFound("no call with this id that this token may see")
        }
        guard let transcript else {
            throw APIError.notFound(
                "the log holds no transcript events for this call\(asOf == nil ? "" : " as of that point")")
        }
        let redacted = view != .raw
        if !redacted {
            let grant = AccessGranted(
                call: id, tenant: summary.tenant, principal: principal.name, role: principal.role.rawValue,
                purpose: purpose, view: view.rawValue, classes: Self.openedClasses(transcript), request: requestID)
            try await record(grant)
            logger.info("access granted", metadata: ["view": "raw", "classes": "\(grant.classes.count)"])
        }
        switch format {
        case "text":
            return Self.text(TranscriptRenderer.text(transcript, redacted: redacted), type: "text/plain; charset=utf-8")
        case "vtt":
            return Self.text(TranscriptRenderer.webVTT(transcript, redacted: redacted), type: "text/vtt; charset=utf-8")
        default:
            return JSONBody.response(bytes: TranscriptJSON.transcript(transcript, redacted: redacted))
        }
    }

    // MARK: - Helpers

    /// The latest signed checkpoint (`LedgerService.checkpoint`); read-only without one yet, 503 saying so.
    func storedCheckpoint() async throws -> (checkpoint: Checkpoint, note: String) {
        do { return try await service.checkpoint() } catch {
            if service.isReadOnly, case .invalidRequest(let reason) = error {
                throw HTTPError(.serviceUnavailable, message: reason)
            }
            throw HTTPError(.internalServerError, message: "the ledger could not answer: \(error)")
        }
    }

    /// The summary of call `id` if the principal may see it; 404 otherwise, whether absent or out of scope.
    func visibleSummary(_ id: String, principal: Principal) async throws -> CallSummary {
        let summary = try await ledger { () async throws(LedgerError) in
            try await service.read { _, engine throws(LedgerError) in try engine.summary(call: id) }
        }
        guard let summary, principal.canSee(summary) else {
            throw APIError.notFound("no call with this id that this token may see")
        }
        return summary
    }

    /// The personal-data classes whose text `transcript` shows opened.
    static func openedClasses(_ transcript: CallTranscript) -> [String] {
        var classes: Set<String> = []
        func note(_ span: TextSpan?) {
            if let span, span.text != nil, span.dataClass.hasPrefix("pii.") { classes.insert(span.dataClass) }
        }
        func note(_ enrichment: EnrichmentNote) {
            note(enrichment.text)
            for entity in enrichment.entities { note(entity.text) }
        }
        for line in transcript.lines {
            for span in line.spans { note(span) }
            for enrichment in line.enrichments { note(enrichment) }
        }
        for enrichment in transcript.callEnrichments { note(enrichment) }
        return classes.sorted()
    }

    /// An `as_of` bound: a seq, or an RFC 3339 time.
    enum AsOf: Equatable {
        case seq(UInt64)
        case time(Int64)
    }

    static func asOf(_ text: String) throws -> AsOf {
        if let seq = UInt64(text) { return .seq(seq) }
        if let time = Timestamp.parse(text) { return .time(time.micros) }
        throw APIError.badRequest(
            "as_of must be a seq (a whole number) or an RFC 3339 time such as 2026-11-26T10:00:00Z")
    }

    static func time(_ text: String?, name: String) throws -> Int64? {
        guard let text else { return nil }
        guard let time = Timestamp.parse(text) else {
            throw APIError.badRequest("\(name) must be an RFC 3339 time such as 2026-11-26T10:00:00Z")
        }
        return time.micros
    }

    static func text(_ text: String, type: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: type], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// Runs a ledger operation, turning its failure into a 500 whose message names the ledger's reason (never
    /// logged: it may name calls).
    func ledger<T>(_ body: () async throws(LedgerError) -> T) async throws -> T {
        do { return try await body() } catch {
            throw HTTPError(.internalServerError, message: "the ledger could not answer: \(error)")
        }
    }
}

/// A page of `GET /v1/calls`.
struct CallPage: Encodable {
    var calls: [CallSummary]
    var next: String?

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(calls, forKey: .calls)
        try container.encode(next, forKey: .next)
    }

    enum CodingKeys: String, CodingKey {
        case calls, next
    }
}

/// JSON responses encoded as the CLI encodes them (sorted keys; snake case where the CLI uses it).
enum JSONBody {
    static func response(
        _ value: some Encodable, snakeCase: Bool = false, userInfo: [CodingUserInfoKey: any Sendable] = [:]
    ) throws -> Response {
        let encoder = JSONEncoder()
        encoder.userInfo = userInfo
        if snakeCase { encoder.keyEncodingStrategy = .convertToSnakeCase }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return response(bytes: Array(try encoder.encode(value)))
    }

    /// An `application/json` answer of `bytes` (one JSON value) and a newline.
    static func response(bytes: [UInt8]) -> Response {
        var bytes = bytes
        bytes.append(0x0A)
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
