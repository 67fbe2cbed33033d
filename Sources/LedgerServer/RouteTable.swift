// RouteTable: what every router of the service shares, in ledger mode as in cluster mode: the request metrics and
// log, /healthz and /metrics, the authentication and role check in front of each API route, the routes of vendor
// documents (into the node's EventSink), with the list of routes registered (checked against openapi.yaml).
import Hummingbird
import Logging
import Prometheus

/// Registers routes on a router, each behind its token and role check, remembering each route.
struct RouteTable {
    let router = Router()
    let authenticator: Authenticator
    private(set) var routes: [LedgerServer.Route] = []

    /// A router with the request metrics and log, `GET /healthz` and `GET /metrics` (no token) over `registry`.
    init(authenticator: Authenticator, registry: PrometheusCollectorRegistry, logger: Logger) {
        self.authenticator = authenticator
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: RequestLogMiddleware(logger: logger))
        routes.append(LedgerServer.Route(method: "GET", path: "/healthz"))
        router.get("/healthz") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        routes.append(LedgerServer.Route(method: "GET", path: "/metrics"))
        router.get("/metrics") { _, _ -> Response in
            var bytes: [UInt8] = []
            registry.emit(into: &bytes)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    /// The router path of an OpenAPI path (`{id}` becomes `:id`).
    static func routerPath(_ path: String) -> RouterPath {
        let components = path.split(separator: "/").map { part in
            part.hasPrefix("{") ? ":" + part.dropFirst().dropLast() : String(part)
        }
        return RouterPath("/" + components.joined(separator: "/"))
    }

    /// Registers `handler` for `method path` (an OpenAPI path), reached only with a token whose role allows
    /// `endpoint`.
    mutating func on(
        _ method: HTTPRequest.Method, _ path: String, _ endpoint: Endpoint,
        _ handler: @escaping @Sendable (Request, BasicRequestContext, Principal) async throws -> Response
    ) {
        routes.append(LedgerServer.Route(method: method.rawValue, path: path))
        let authenticator = authenticator
        router.on(Self.routerPath(path), method: method) { request, context -> Response in
            let principal = try await authenticator.principal(request.headers)
            guard principal.role.allows(endpoint) else {
                throw APIError.forbidden("the \(principal.role.rawValue) role may not use \(method) \(path)")
            }
            return try await handler(request, context, principal)
        }
    }

    /// Registers the routes of vendor documents, whose events go to `sink`: POST /v1/ingest/{kind},
    /// /v1/webhooks/gladia and /v1/firehose/{source}.
    mutating func ingestRoutes(into sink: EventSink, configuration: ServerConfiguration, logger: Logger) {
        let ingest = IngestRoute(sink: sink, maxBodyBytes: configuration.maxBodyBytes)
        on(.post, "/v1/ingest/{kind}", .ingestDocument) { request, context, principal in
            try await ingest.handle(
                request, kind: try context.parameters.require("kind"), principal: principal, logger: logger)
        }
        let gladia = GladiaWebhookRoute(
            sink: sink, sources: configuration.gladiaWebhooks, maxBodyBytes: configuration.maxBodyBytes)
        open(.post, "/v1/webhooks/gladia") { request, _ -> Response in
            try await gladia.handle(request, logger: logger)
        }
        let firehose = FirehoseRoute(
            sink: sink, sources: configuration.firehoseSources, maxBodyBytes: configuration.maxBodyBytes)
        open(.post, "/v1/firehose/{source}") { request, context -> Response in
            await firehose.handle(request, source: try context.parameters.require("source"), logger: logger)
        }
    }

    /// Registers a route without a token check (push sources authenticate themselves).
    mutating func open(
        _ method: HTTPRequest.Method, _ path: String,
        _ handler: @escaping @Sendable (Request, BasicRequestContext) async throws -> Response
    ) {
        routes.append(LedgerServer.Route(method: method.rawValue, path: path))
        router.on(Self.routerPath(path), method: method, use: handler)
    }
}
