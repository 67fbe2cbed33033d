// POST /v1/webhooks/gladia: Gladia v2 callbacks. A pre-recorded job's callback is
// `{"id", "event": "transcription.success", "payload": {"id", "result": {...}}}` (Gladia API reference, pre-recorded
// callback "Success": https://docs.gladia.io/api-reference/v2/pre-recorded/callback/success), read by the `gladia`
// adapter; `transcription.created` and `transcription.error` carry nothing to ingest and are answered 200 with
// `ingested: false` so that Gladia does not retry them. A live session's callback is
// `{"id", "event": "live.<type>", "payload": <the WebSocket message>}` (live callback "Transcript":
// https://docs.gladia.io/api-reference/v2/live/callback/transcript), read by the `gladia-live` adapter. Both go
// through IngestOperation, so a retried callback appends nothing (the adapters' idempotency keys). The caller is
// the source whose configured secret matches the `X-Webhook-Secret` header or the `secret` query parameter
// (Gladia posts to the callback URL as given, so the secret can ride in it); the comparison takes the same time
// wherever the secrets differ.
import Foundation
import Hummingbird
import LedgerOperations
import Logging

/// The handler of `POST /v1/webhooks/gladia`.
struct GladiaWebhookRoute: Sendable {
    let sink: EventSink
    let sources: [String: PushSource]
    let maxBodyBytes: Int

    /// Callback events that carry no transcript: acknowledged, nothing appended.
    static let notifications: Set<String> = ["transcription.created", "transcription.error"]
    /// Bodies up to this size are parsed once to read `event`; larger ones can only be pre-recorded results.
    static let peekBytes = 8 << 20

    /// The largest callback read.
    var limit: Int { min(maxBodyBytes, IngestOperation.maximumInputBytes) }

    func handle(_ request: Request, logger: Logger) async throws -> Response {
        let presented =
            IngestHTTP.header(request, "x-webhook-secret") ?? request.uri.queryParameters.get("secret")
        guard !sources.isEmpty else {
            throw APIError.notFound("no Gladia webhook source is configured (gladia_webhooks: in the config file)")
        }
        guard let presented, let source = sources.values.first(where: { $0.accepts(presented) }) else {
            throw HTTPError(
                .unauthorized, message: "the X-Webhook-Secret header (or secret query parameter) is missing or wrong")
        }
        guard IngestHTTP.mediaType(request) == "application/json" else {
            throw HTTPError(.unsupportedMediaType, message: "Gladia callbacks are application/json")
        }
        let query = request.uri.queryParameters
        let known: Set<String> = ["ack", "ack_timeout", "call", "secret"]
        if let unknown = query.map({ String($0.key) }).first(where: { !known.contains($0) }) {
            throw APIError.badRequest(
                "unknown query parameter '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        let (level, wait) = try AcknowledgementLevel.parse(request)
        let body = Data(try await IngestHTTP.body(request, limit: limit).readableBytesView)
        var event: String?
        if body.count <= Self.peekBytes {
            guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                throw APIError.badRequest("the callback body is not a JSON object")
            }
            guard let name = object["event"] as? String else {
                throw APIError.badRequest("the callback has no event (a Gladia v2 callback is {id, event, payload})")
            }
            event = name
        }
        if let event, Self.notifications.contains(event) {
            logger.info("gladia callback without a transcript", metadata: ["event": "\(event)"])
            return IngestHTTP.json(.ok, ["event": event, "ingested": false, "appended": 0, "duplicate": 0])
        }
        let kind = event?.hasPrefix("live.") == true ? "gladia-live" : "gladia"
        let input = "gladia callback"
        let ingest = IngestRequest(
            kind: kind, source: .bytes(body, name: input), call: query.get("call"), tenant: source.tenant)
        let outcome: ServiceIngest
        do { outcome = try await sink.ingest(ingest, level: level, timeout: wait) } catch {
            logger.info("gladia callback rejected", metadata: ["source": "\(source.name)", "reason": "\(error)"])
            return IngestHTTP.failure(error, input: input, from: kind)
        }
        logger.info(
            "gladia callback done",
            metadata: [
                "source": "\(source.name)", "event": "\(event ?? "large result")",
                "appended": "\(outcome.result.appended)", "duplicate": "\(outcome.result.duplicate)",
            ])
        var summary = IngestHTTP.summary(input: input, from: kind, outcome)
        summary["event"] = event ?? "transcription.success"
        summary["ingested"] = true
        return IngestHTTP.json(.ok, summary)
    }
}
