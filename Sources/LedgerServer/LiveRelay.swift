// GET /v1/live/{call} upgraded to a WebSocket: a per-call relay of a live transcription session. Each text message
// is one Gladia v2 live message (`kind=gladia-live`, the default) or one Amazon Transcribe streaming event
// (`kind=transcribe-stream`), as the vendor sent it. LiveIngest (LedgerOperations) reads each message as
// `call-ledger ingest --from KIND` reads the whole capture, keeping only what the session's messages established,
// so a message costs the same at any point of the session; the events a message gives are taken as one frame by the
// node's EventSink: appended atomically to the ledger, or in `serve --cluster` published to their shard streams.
// A Gladia final waits for its utterance's `named_entity_recognition` message (up to `entity_wait_ms`) so that
// the names it holds are sealed as their own classes, as a whole-capture ingest seals them. Each message is
// answered with one text message: `{"message": N, "acks": [...], "held": [...]}` (each ack POST /v1/events' line
// answer of the mode: `{"seq", "idempotency", "status"}` in ledger mode, `{"idempotency", "status", "shard",
// "stream_seq"}` and, once durable under `?ack=durable`, `"seq"` in cluster mode), or
// `{"message": N, "status": "rejected", "error": "..."}` (the message is then left out of the session).
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import LedgerAdapters
import LedgerCore
import LedgerOperations
import LedgerStore
import Logging

/// The relay of one WebSocket: its call, adapter, tenant, roles, how long finals wait for their entities and the
/// acknowledgement each message waits for.
struct LiveRelay: Sendable {
    /// The adapters a live session can be relayed with.
    static let kinds = LiveSession.kinds
    /// The largest single message.
    static let maximumMessageBytes = 1 << 20
    /// How long a Gladia final waits for its entities unless `entity_wait_ms` says otherwise.
    static let defaultEntityWaitMilliseconds = 3000
    /// The longest wait `entity_wait_ms` may ask for.
    static let maximumEntityWaitMilliseconds = 60_000

    let call: String
    let kind: String
    let tenant: String
    let roles: [Int: String]
    /// How long a Gladia final waits for its entities; nil appends finals at once (`entities=none`).
    let entityWait: Duration?
    /// The acknowledgement each message's answer waits for (`durable` matters in cluster mode only).
    let level: AcknowledgementLevel
    /// Seconds a message's answer waits for `durable` reports.
    let ackTimeout: Double

    /// The relay a request for `/v1/live/{call}` asks for, checked: 400 for a bad query, 403 for a tenant the
    /// principal does not cover.
    static func settings(call: String, query: [(String, String)], principal: Principal) throws -> LiveRelay {
        let known: Set<String> = ["kind", "tenant", "roles", "entities", "entity_wait_ms", "ack", "ack_timeout"]
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
        let (level, ackTimeout) = try AcknowledgementLevel.parse(ack: values["ack"], timeout: values["ack_timeout"])
        return LiveRelay(
            call: call, kind: kind, tenant: try IngestRoute.tenant(values["tenant"], principal: principal),
            roles: try IngestRoute.roles(values["roles"]),
            entityWait: try entityWait(entities: values["entities"], milliseconds: values["entity_wait_ms"]),
            level: level, ackTimeout: ackTimeout)
    }

    /// The wait of `entities=wait|none` and `entity_wait_ms`.
    static func entityWait(entities: String?, milliseconds: String?) throws -> Duration? {
        switch entities ?? "wait" {
        case "none":
            guard milliseconds == nil else {
                throw APIError.badRequest("entity_wait_ms applies to entities=wait only")
            }
            return nil
        case "wait":
            guard let milliseconds else { return .milliseconds(defaultEntityWaitMilliseconds) }
            guard let value = Int(milliseconds), (0...maximumEntityWaitMilliseconds).contains(value) else {
                throw APIError.badRequest(
                    "entity_wait_ms must be a whole number from 0 to \(maximumEntityWaitMilliseconds), got "
                        + "\"\(milliseconds)\"")
            }
            return .milliseconds(value)
        case let other:
            throw APIError.badRequest("entities must be wait or none, got \"\(other)\"")
        }
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

    /// Relays the messages of `inbound` until the client closes, answering each on `outbound` once `sink` took its
    /// events; finals still held then are taken before the relay ends.
    func run(
        _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, sink: EventSink, logger: Logger
    ) async throws {
        let options = IngestOptions(call: call, tenant: tenant, roles: roles, file: "live \(call)")
        guard
            var session = LiveIngest(
                kind: kind, options: options, entityWait: entityWait, maximumEventBytes: sink.maximumEventBytes)
        else { return }
        var number = 0
        var taken = 0
        for try await message in inbound.messages(maxSize: Self.maximumMessageBytes) {
            number += 1
            guard case .text(let text) = message else {
                try await outbound.writeTextMessage(
                    Self.rejection(number, "send each live message as a text frame of JSON, not binary"))
                continue
            }
            let batch: LiveIngest.Batch
            do { batch = try session.add(Array(text.utf8), number: number) } catch {
                try await outbound.writeTextMessage(Self.rejection(number, error.description))
                continue
            }
            let acks: [IngestAcknowledgement]
            do { acks = try await sink.take(batch.accepted, level: level, timeout: ackTimeout) } catch {
                try await outbound.writeTextMessage(Self.rejection(number, "the events could not be taken: \(error)"))
                try await outbound.close(.unexpectedServerError, reason: "sink failure")
                return
            }
            taken += acks.count { $0.isNew }
            try await outbound.writeTextMessage(Self.answer(number, batch, acks))
        }
        // The producer is gone: the finals still waiting for their entities are kept without them.
        let (rest, invalid) = session.finish()
        let acks = try await sink.take(rest.accepted, level: .replicated, timeout: ackTimeout)
        taken += acks.count { $0.isNew }
        logger.info(
            "live relay closed",
            metadata: [
                "kind": "\(kind)", "messages": "\(number)", "events": "\(taken)",
                "finals_without_entities": "\(rest.releasedWithoutEntities.count)", "invalid": "\(invalid.count)",
            ])
    }

    /// The answer to message `number`: the acknowledgements of its events (and of the held finals it released),
    /// the utterances it holds, and what was left out.
    static func answer(_ number: Int, _ batch: LiveIngest.Batch, _ acks: [IngestAcknowledgement]) -> String {
        var answer: [String: Any] = ["message": number, "acks": acks.map(\.json)]
        if !batch.held.isEmpty { answer["held"] = batch.held }
        if !batch.releasedWithoutEntities.isEmpty {
            answer["released_without_entities"] = batch.releasedWithoutEntities
        }
        if !batch.warnings.isEmpty { answer["warnings"] = batch.warnings.map(reason) }
        return text(answer)
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

extension LiveRelay {
    /// The HTTP/1.1 server with WebSocket upgrades of `/v1/live/{call}` for principals allowed `liveRelay`, whose
    /// events go to `sink`; a request that is not upgraded (a bad token or query) reaches the router, whose
    /// `GET /v1/live/{call}` answers why.
    static func server(authenticator: Authenticator, sink: EventSink) -> HTTPServerBuilder {
        .http1WebSocketUpgrade(
            configuration: HTTP1WebSocketUpgradeChannel.Configuration(
                ws: WebSocketServerConfiguration(
                    maxFrameSize: maximumMessageBytes, autoPing: .enabled(timePeriod: pingPeriod())))
        ) { request, _, logger in
            guard let target = target(request.path ?? ""),
                let principal = try? await authenticator.principal(request.headerFields),
                principal.role.allows(.liveRelay),
                let relay = try? settings(call: target.call, query: target.query, principal: principal)
            else { return .dontUpgrade }
            let handler: WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context> = { inbound, outbound, _ in
                try await relay.run(inbound, outbound, sink: sink, logger: logger)
            }
            return .upgrade([:], handler)
        }
    }
}

extension RouteTable {
    /// Registers `GET /v1/live/{call}`, reached only when the WebSocket upgrade was not made
    /// (`LiveRelay.server`): it says why.
    mutating func liveRelayRoute() {
        on(.get, "/v1/live/{call}", .liveRelay) { request, context, principal in
            let query = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
            _ = try LiveRelay.settings(call: try context.parameters.require("call"), query: query, principal: principal)
            throw HTTPError(
                .upgradeRequired, headers: [.upgrade: "websocket"],
                message: "connect with a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)")
        }
    }
}
