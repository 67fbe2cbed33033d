// The read endpoints over LedgerOperations workflows: a call's QA evaluation (`call-ledger qa`), its retention
// status (`retention status`), its audit bundle (`audit export`), and consistency and redaction proofs (`prove
// consistency`, `prove redaction`). Each answers what the CLI prints with --json, from the same operation.
import Foundation
import Hummingbird
import LedgerCore
import LedgerOperations
import LedgerProjections
import LedgerStore
import Logging

extension ReadRoutes {
    /// `GET /v1/calls/{id}/qa[?as_of=]`: the call scored against the scorecards in `$CALL_LEDGER_SCORECARDS`
    /// (else `Projections/qa`), as `call-ledger qa CALL --json` prints it.
    func qa(_ id: String, request: Request, principal: Principal) async throws -> Response {
        let asOf = try request.uri.queryParameters.get("as_of").map(Self.asOf)
        _ = try await visibleSummary(id, principal: principal)
        let scorecards = try DefinitionDirectory.scorecards()
        let evaluations = try await operation { location in
            try QAScoreOperation(
                ledger: location, call: id, scorecards: scorecards, asOf: asOf.map(Self.pointInTime)
            ).run()
        }
        return try JSONBody.response(evaluations, snakeCase: true)
    }

    /// `GET /v1/calls/{id}/retention[?now=]`: where retention stands for each data class of the call, as
    /// `call-ledger retention status --call CALL --json` prints it, with the policies in `$CALL_LEDGER_POLICIES`
    /// (else `Projections/retention`).
    func retention(_ id: String, request: Request, principal: Principal) async throws -> Response {
        let now: Int64
        if let time = try Self.time(request.uri.queryParameters.get("now"), name: "now") {
            now = time
        } else {
            now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        }
        _ = try await visibleSummary(id, principal: principal)
        let policies = try DefinitionDirectory.policies()
        let rows = try await operation { location in
            try RetentionStatusOperation(ledger: location, policies: policies, now: now, calls: [id]).run()
        }
        return try JSONBody.response(rows, snakeCase: true)
    }

    /// `GET /v1/calls/{id}/audit-bundle[?as_of=&purpose=&open=]`: the bundle `call-ledger audit export` writes.
    /// Without `purpose` no class is opened (every sealed part is a digest); with it (compliance only) the
    /// classes in `open` (comma-separated; default every class with a data key) are opened, and an
    /// `access.granted` event naming them is durable before the bundle is built (so the bundle holds it).
    func auditBundle(
        _ id: String, request: Request, principal: Principal, requestID: String, logger: Logger
    ) async throws -> Response {
        let query = request.uri.queryParameters
        let asOf = try query.get("as_of").map(Self.asOf)
        let purpose = query.get("purpose")?.trimmingCharacters(in: .whitespaces) ?? ""
        guard purpose.unicodeScalars.count <= 1024 else {
            throw APIError.badRequest("purpose is over 1024 characters")
        }
        let requested = query.get("open").map { text in
            Set(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        }
        if !purpose.isEmpty || requested != nil {
            guard principal.role == .compliance else {
                throw APIError.forbidden(
                    "the \(principal.role.rawValue) role gets audit bundles without opened classes: leave out purpose and open"
                )
            }
            guard !purpose.isEmpty else {
                throw APIError.badRequest("opening classes reads personal data: state why with purpose=...")
            }
            try requireAccessLog("an audit bundle with opened classes")
        }
        let summary = try await visibleSummary(id, principal: principal)
        var open: Set<String> = []
        if !purpose.isEmpty {
            let keyed = try await ledger { () async throws(LedgerError) in
                try await service.read { reader, _ throws(LedgerError) in try reader.keyedClasses()[id] ?? [] }
            }
            open = requested ?? Set(keyed)
            if let missing = open.subtracting(keyed).sorted().first {
                throw APIError.badRequest(
                    "open=\(missing): call has no data key of that class (it has: \(keyed.sorted().joined(separator: ", ")))"
                )
            }
        }
        if !open.isEmpty {
            let grant = AccessGranted(
                call: id, tenant: summary.tenant, principal: principal.name, role: principal.role.rawValue,
                purpose: purpose, view: TranscriptView.raw.rawValue, classes: open.sorted(), request: requestID)
            try await record(grant)
            logger.info("access granted", metadata: ["view": "audit-bundle", "classes": "\(open.count)"])
        }
        // The bundle's audit paths are in the latest signed checkpoint: sign one covering every event first
        // (read-only: the latest stored one).
        _ = try await storedCheckpoint()
        let opened = open
        let bytes = try await operation { location in
            try AuditExportOperation(
                ledger: location, call: id, asOf: asOf.map(Self.pointInTime), open: opened, output: ""
            ).build().json()
        }
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `GET /v1/proofs/consistency?old=M&new=N`: that the tree of size N extends the tree of size M, as
    /// `call-ledger prove consistency --from M --to N` prints it. A size beyond the log answers 404.
    func consistencyProof(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        guard let oldText = query.get("old"), let old = UInt64(oldText), let newText = query.get("new"),
            let new = UInt64(newText), old <= new
        else {
            throw APIError.badRequest("old and new must be tree sizes (whole numbers) with old <= new")
        }
        let size = try await storedCheckpoint().checkpoint
        guard new <= size.treeSize else {
            throw APIError.notFound(
                service.isReadOnly
                    ? "the latest signed checkpoint covers \(size.treeSize) events: no signed tree of size \(new) yet"
                    : "the log has \(size.treeSize) events: no tree of size \(new)")
        }
        let proof = try await operation { location in
            try ProofOperations(ledger: location).consistency(from: old, to: new)
        }
        return try JSONBody.response(proof)
    }

    /// `GET /v1/proofs/redaction/{call}`: the call's redaction proof, as `call-ledger prove redaction CALL --json`
    /// prints it; a call without `retention.purged` events answers 404.
    func redactionProof(_ id: String, principal: Principal) async throws -> Response {
        _ = try await visibleSummary(id, principal: principal)
        _ = try await storedCheckpoint()
        let proof = try await operation { location in try ProofOperations(ledger: location).redaction(call: id) }
        return try JSONBody.response(proof)
    }

    // MARK: - Helpers

    /// Runs a LedgerOperations workflow on the service's read queue. A request the ledger refuses
    /// (`invalidRequest`: no transcript, no purge, a class it lacks) answers 404 with its reason; anything
    /// else is a 500 naming the ledger's reason.
    private func operation<T: Sendable>(_ body: @escaping @Sendable (LedgerLocation) throws -> T) async throws -> T {
        do {
            return try await service.operate(body)
        } catch let error as LedgerError {
            if case .invalidRequest(let reason) = error { throw APIError.notFound(reason) }
            throw HTTPError(.internalServerError, message: "the ledger could not answer: \(error)")
        }
    }

    static func pointInTime(_ asOf: AsOf) -> PointInTime {
        switch asOf {
        case .seq(let seq): .seq(seq)
        case .time(let time): .time(time)
        }
    }
}

/// The scorecard and policy files the service reads, found as the CLI finds them.
enum DefinitionDirectory {
    /// Every `*.yaml` scorecard in `$CALL_LEDGER_SCORECARDS`, else `Projections/qa`.
    static func scorecards() throws -> [QAScorecard] {
        try files(variable: "CALL_LEDGER_SCORECARDS", fallback: "Projections/qa").map { path, bytes in
            try parsed { () throws(DefinitionError) in try QAScorecard.parse(bytes, file: path) }
        }
    }

    /// Every `*.yaml` policy in `$CALL_LEDGER_POLICIES`, else `Projections/retention`.
    static func policies() throws -> [RetentionPolicy] {
        try files(variable: "CALL_LEDGER_POLICIES", fallback: "Projections/retention").map { path, bytes in
            try parsed { () throws(DefinitionError) in try RetentionPolicy.parse(bytes, file: path) }
        }
    }

    private static func parsed<T>(_ body: () throws(DefinitionError) -> T) throws -> T {
        do { return try body() } catch {
            throw HTTPError(.internalServerError, message: "the service's definition files are bad: \(error)")
        }
    }

    private static func files(variable: String, fallback: String) throws -> [(String, [UInt8])] {
        let folder = ProcessInfo.processInfo.environment[variable] ?? fallback
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
            throw HTTPError(
                .internalServerError,
                message: "the service cannot read \(folder): start it where \(fallback) is, or set \(variable)")
        }
        return try names.filter { $0.hasSuffix(".yaml") }.sorted().map { name in
            let path = (folder as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw HTTPError(.internalServerError, message: "the service cannot read \(path)")
            }
            return (path, Array(data))
        }
    }
}
