// GET /v1/live/{call} upgraded to a WebSocket: a per-call relay of a live transcription session. Each text message
// is one Gladia v2 live message (`kind=gladia-live`, the default) or one Amazon Transcribe streaming event
// (`kind=transcribe-stream`), as the vendor sent it. The relay keeps the session's accepted messages and runs
// IngestOperation (the workflow of `call-ledger ingest --from KIND`) over them after each one, so that the
// adapter sees the session as a whole (partials are numbered per utterance, entities join their utterance): the
// events a message adds are appended, those of earlier messages are duplicates by their idempotency keys and are
// not acknowledged again. Each message is answered with one text message:
// `{"message": N, "acks": [{"seq", "idempotency", "status"}]}`, or `{"message": N, "status": "rejected",
// "error": "..."}` (the message is then left out of the session).
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import LedgerAdapters
import LedgerOperations
import Logging

/// The relay of one WebSocket: its call, adapter, tenant and roles.
struct LiveRelay: Sendable {
    /// The adapters a live session can be relayed with.
    static let kinds = ["gladia-live", "transcribe-stream"]
    /// The most bytes of messages one session keeps (the adapter reads them all after each message).
    static let maximumSessionBytes = 16 << 20
    /// The largest single message.
    static let maximumMessageBytes = 1 << 20

    let call: String
    let kind: String
    let tenant: String
    let roles: [Int: String]

    /// The relay a request for `/v1/live/{call}` asks for, checked: 400 for a bad query, 403 for a tenant the
    /// principal does not cover.
    static func settings(call: String, query: [(String, String)], principal: Principal) throws -> LiveRelay {
        let known: Set<String> = ["kind", "tenant", "roles"]
        var values: [String: String] = [:]
        for (key, value) in query {
            guard known.contains(key) else {
                throw APIError.badRequest(
                    "unknown query parameter '\(key)' (known: \(known.sorted().joined(separator: ", ")))")
            }
            values[key] = value
        }
        let kind = values["kind"] ?? "gladia-live"
        guard kinds.contains(kind) else {
            throw APIError.badRequest("kind must be one of \(kinds.joined(separator: ", ")), got \"\(kind)\"")
        }
        guard !call.isEmpty else { throw APIError.badRequest("the call id is empty") }
        return LiveRelay(
            call: call, kind: kind, tenant: try IngestRoute.tenant(values["tenant"], principal: principal),
            roles: try IngestRoute.roles(values["roles"]))
    }

    /// The call id and query of a request target `/v1/live/{call}?...`, or nil for another path.
    static func target(_ path: String) -> (call: String, query: [(String, String)])? {
        let parts = path.split(separator: "?", maxSplits: 1)
        guard let route = parts.first, route.hasPrefix("/v1/live/") else { return nil }
        let encoded = route.dropFirst("/v1/live/".count)
        guard !encoded.isEmpty, !encoded.contains("/"), let call = String(encoded).removingPercentEncoding else {
            return nil
        }
        var query: [(String, String)] = []
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&") {
                let field = pair.split(separator: "=", maxSplits: 1).map {
                    String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
                }
                query.append((field[0], field.count == 2 ? field[1] : ""))
            }
        }
        return (call, query)
    }

    /// Relays the messages of `inbound` until the client closes, answering each on `outbound`.
    func run(
        _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, service: LedgerService, logger: Logger
    ) async throws {
        var session: [[UInt8]] = []
        var sessionBytes = 0
        var acknowledged: Set<String> = []
        var number = 0
        for try await message in inbound.messages(maxSize: Self.maximumMessageBytes) {
            number += 1
            guard case .text(let text) = message else {
                try await outbound.writeTextMessage(
                    Self.rejection(number, "send each live message as a text frame of JSON, not binary"))
                continue
            }
            // JSON text holds no raw line breaks inside strings: the message's own ones are whitespace.
            let line = text.utf8.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 }
            guard sessionBytes + line.count <= Self.maximumSessionBytes else {
                try await outbound.writeTextMessage(
                    Self.rejection(
                        number, "the session is over \(Self.maximumSessionBytes) bytes; open a new socket to go on"))
                try await outbound.close(.messageTooLarge, reason: "session too large")
                return
            }
            let candidate = session + [line]
            let input = "live \(call)"
            let request = IngestRequest(
                kind: kind, source: .bytes(Data(candidate.joined(separator: [0x0A])), name: input),
                call: call, tenant: tenant, roles: roles)
            let outcome: ServiceIngest
            do { outcome = try await service.ingest(request) } catch {
                if case .ledger = error {
                    try await outbound.writeTextMessage(Self.rejection(number, "the ledger could not append: \(error)"))
                    try await outbound.close(.unexpectedServerError, reason: "ledger failure")
                    return
                }
                try await outbound.writeTextMessage(
                    Self.rejection(number, Self.reason(error, input: input, line: candidate.count)))
                continue
            }
            if let own = outcome.result.rejected.first(where: {
                IngestHTTP.line(of: $0, input: input) == candidate.count
            }) {
                try await outbound.writeTextMessage(Self.rejection(number, Self.reason(own)))
                continue
            }
            session = candidate
            sessionBytes += line.count
            let fresh = outcome.acknowledgements.filter { !acknowledged.contains($0.idempotency) }
            acknowledged.formUnion(fresh.map(\.idempotency))
            let answer: [String: Any] = ["message": number, "acks": fresh.map(IngestHTTP.acknowledgement)]
            try await outbound.writeTextMessage(Self.text(answer))
        }
        logger.info(
            "live relay closed",
            metadata: ["kind": "\(kind)", "messages": "\(number)", "events": "\(acknowledged.count)"])
    }

    /// How often the relay pings a producer (`CALL_LEDGER_WEBSOCKET_PING_SECONDS`, default 30, 1 to 3600); a
    /// producer that has not answered one ping by the next is disconnected.
    static func pingPeriod(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Duration {
        guard let text = environment["CALL_LEDGER_WEBSOCKET_PING_SECONDS"], let seconds = Int(text),
            (1...3600).contains(seconds)
        else { return .seconds(30) }
        return .seconds(seconds)
    }

    /// An adapter's reason for rejecting the message, without the session's file name and line.
    static func reason(_ error: AdapterError) -> String {
        error.path.isEmpty ? error.reason : "\(error.path): \(error.reason)"
    }

    /// The reason an ingest of the session with message `line` last failed, for that message.
    static func reason(_ error: IngestError, input: String, line: Int) -> String {
        switch error {
        case .rejected(let rejection, _): reason(rejection)
        case .refused(_, _, _, let rejected, _):
            rejected.first(where: { IngestHTTP.line(of: $0, input: input) == line }).map(reason)
                ?? error.description
        default: error.description
        }
    }

    /// The answer to message `number` that was rejected.
    static func rejection(_ number: Int, _ reason: String) -> String {
        text(["message": number, "status": "rejected", "error": reason])
    }

    /// `object` as compact JSON text.
    static func text(_ object: [String: Any]) -> String {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

extension LedgerServer {
    /// The HTTP/1.1 server with WebSocket upgrades of `/v1/live/{call}` for principals allowed `liveRelay`; a
    /// request that is not upgraded (a bad token or query) reaches the router, whose `GET /v1/live/{call}`
    /// answers why.
    func liveServer() -> HTTPServerBuilder {
        let authenticator = self.authenticator
        let service = self.service
        return .http1WebSocketUpgrade(
            configuration: HTTP1WebSocketUpgradeChannel.Configuration(
                ws: WebSocketServerConfiguration(
                    maxFrameSize: LiveRelay.maximumMessageBytes,
                    autoPing: .enabled(timePeriod: LiveRelay.pingPeriod())))
        ) { request, _, logger in
            guard let target = LiveRelay.target(request.path ?? ""),
                let principal = try? await authenticator.principal(request.headerFields),
                principal.role.allows(.liveRelay),
                let relay = try? LiveRelay.settings(call: target.call, query: target.query, principal: principal)
            else { return .dontUpgrade }
            let handler: WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context> = { inbound, outbound, _ in
                try await relay.run(inbound, outbound, service: service, logger: logger)
            }
            return .upgrade([:], handler)
        }
    }
}
