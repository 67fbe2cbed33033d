// The service: routes over LedgerService, authentication, metrics, and a run loop that on SIGTERM or SIGINT stops
// accepting, lets requests in flight finish (their appends acknowledged), then closes the writer.
import Foundation
public import Hummingbird
public import LedgerCluster
public import Logging
import Metrics
public import Prometheus
import ServiceLifecycle

/// `call-ledger serve`: the ledger as an HTTP service.
public struct LedgerServer: Sendable {
    /// A route the router registers: its method and path pattern (`{name}` for a parameter), as `openapi.yaml`
    /// lists them.
    public struct Route: Hashable, Sendable, CustomStringConvertible {
        /// `GET`, `POST`...
        public var method: String
        /// The OpenAPI path, e.g. `/v1/calls/{id}`.
        public var path: String
        /// `METHOD path`.
        public var description: String { "\(method) \(path)" }
    }

    let service: LedgerService
    let authenticator: Authenticator
    let configuration: ServerConfiguration
    let registry: PrometheusCollectorRegistry
    let logger: Logger
    /// Read-only: the cluster `access.granted` events are published to, if one was given.
    let accessPublisher: ClusterPublisher?

    /// A server over `service`; `registry` is what `/metrics` shows (bootstrap `MetricsSystem` with a
    /// `PrometheusMetricsFactory` over it once per process for the request and append metrics to reach it).
    /// A read-only `service` logs the `access.granted` of personal-data reads through `accessPublisher` (the
    /// cluster its ledger is a shard of), or refuses them without one.
    public init(
        service: LedgerService, authenticator: Authenticator, configuration: ServerConfiguration,
        registry: PrometheusCollectorRegistry, logger: Logger, accessPublisher: ClusterPublisher? = nil
    ) {
        self.accessPublisher = accessPublisher
        self.service = service
        self.authenticator = authenticator
        self.configuration = configuration
        self.registry = registry
        self.logger = logger
    }

    /// The router and the routes it registered.
    public func router() -> (router: Router<BasicRequestContext>, routes: [Route]) {
        var table = RouteTable(authenticator: authenticator, registry: registry, logger: logger)
        let events = EventsRoute(sink: .ledger(service), maxBodyBytes: configuration.maxBodyBytes)
        let logger = self.logger
        let refusal = ReadOnlyRefusal(directory: service.directory, clusterFile: configuration.cluster)
        var access = AccessLog.writer
        if service.isReadOnly {
            access = accessPublisher.map { .cluster($0, wait: AccessLog.clusterWait) } ?? .unavailable(refusal)
        }
        let reads = ReadRoutes(service: service, access: access)
        if service.isReadOnly {
            table.readOnlyWriteRoutes(refusal)
        } else {
            table.on(.post, "/v1/events", .appendEvents) { request, _, principal in
                try await events.handle(request, principal: principal, logger: logger)
            }
            // Ingest of vendor documents (issue 13): documents, Gladia callbacks, Firehose deliveries.
            table.ingestRoutes(into: .ledger(service), configuration: configuration, logger: logger)
            table.liveRelayRoute()
        }
        table.on(.get, "/v1/checkpoint", .checkpoint) { _, _, _ in try await reads.checkpoint() }
        table.on(.get, "/v1/calls", .listCalls) { request, _, principal in
            try await reads.listCalls(request, principal: principal)
        }
        table.on(.get, "/v1/calls/{id}", .getCall) { _, context, principal in
            try await reads.call(try context.parameters.require("id"), principal: principal)
        }
        table.on(.get, "/v1/calls/{id}/transcript", .transcript) { request, context, principal in
            try await reads.transcript(
                try context.parameters.require("id"), request: request, principal: principal,
                requestID: context.id, logger: logger)
        }
        table.on(.get, "/v1/proofs/inclusion", .inclusionProof) { request, _, principal in
            try await reads.inclusionProof(request, principal: principal)
        }
        // Issue 13, read side: QA, retention, audit bundles, consistency and redaction proofs, live streams.
        table.on(.get, "/v1/calls/{id}/qa", .qa) { request, context, principal in
            try await reads.qa(try context.parameters.require("id"), request: request, principal: principal)
        }
        table.on(.get, "/v1/calls/{id}/retention", .retention) { request, context, principal in
            try await reads.retention(try context.parameters.require("id"), request: request, principal: principal)
        }
        table.on(.get, "/v1/calls/{id}/audit-bundle", .auditBundle) { request, context, principal in
            try await reads.auditBundle(
                try context.parameters.require("id"), request: request, principal: principal, requestID: context.id,
                logger: logger)
        }
        table.on(.get, "/v1/proofs/consistency", .consistencyProof) { request, _, _ in
            try await reads.consistencyProof(request)
        }
        table.on(.get, "/v1/proofs/redaction/{call}", .redactionProof) { _, context, principal in
            try await reads.redactionProof(try context.parameters.require("call"), principal: principal)
        }
        let feed = LiveFeed(service: service)
        feed.start()
        if service.isReadOnly { feed.follow(every: LiveFeed.followInterval) }
        let live = LiveRoutes(reads: reads, feed: feed)
        table.on(.get, "/v1/calls/{id}/stream", .stream) { _, context, principal in
            try await live.stream(try context.parameters.require("id"), principal: principal)
        }
        table.open(.get, "/ui/calls/{id}") { _, _ -> Response in LiveRoutes.page() }
        table.router.answerUndeclaredMethods(of: table.routes)
        return (table.router, table.routes)
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting, lets requests in flight finish, and closes the
    /// writer. `onListening` gets the bound port (useful with port 0).
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = Application(
            router: router().router,
            server: service.isReadOnly
                ? .http1() : LiveRelay.server(authenticator: authenticator, sink: .ledger(service)),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "call-ledger"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        do {
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch {
            try? service.close()
            throw error
        }
        try service.close()
        logger.info(
            service.isReadOnly
                ? "stopped (read-only: nothing was written)"
                : "stopped: every acknowledged event is durable and the writer is closed")
    }
}

/// Logs one line per request: method, route pattern, status and duration; never the path's values, the query,
/// a body or a token.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let logger: Logger

    func handle(
        _ request: Request, context: BasicRequestContext,
        next: (Request, BasicRequestContext) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        do {
            var response = try await next(request, context)
            let status = response.status.code
            // Logged once the body is written: a streamed answer (POST /v1/events) counts until its last line.
            let body = response.body
            response.body = ResponseBody(contentLength: body.contentLength) { writer in
                let written = body
                try await written.write(writer)
                log(request, context: context, status: status, start: start)
            }
            return response
        } catch let error as any HTTPResponseError {
            log(request, context: context, status: error.status.code, start: start)
            throw error
        }
    }

    private func log(_ request: Request, context: BasicRequestContext, status: Int, start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        logger.info(
            "request",
            metadata: [
                "method": "\(request.method.rawValue)", "route": "\(context.endpointPath ?? "unmatched")",
                "status": "\(status)",
                "ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
                "request": "\(context.id)",
            ])
    }
}

extension LedgerServer {
    /// Sets up logging (standard error, at `configuration.logLevel`) and Prometheus metrics for this process,
    /// opens the ledger, loads the keys, and serves until SIGTERM or SIGINT. Call once per process.
    /// `onListening` gets the address and the bound port.
    public static func serve(
        _ configuration: ServerConfiguration, onListening: @escaping @Sendable (String, Int) -> Void
    ) async throws {
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "call-ledger.serve")
        let apiKeys = try configuration.apiKeys.map { path throws(ServerError) in try APIKeyStore(path: path) }
        var jwt: JWTVerifier?
        if let jwks = configuration.jwks {
            jwt = try await JWTVerifier(jwksPath: jwks, issuer: configuration.jwtIssuer)
        }
        guard apiKeys != nil || jwt != nil else {
            throw ServerError.setting(
                name: "api_keys/jwks", origin: "missing",
                reason: "no way to authenticate: name an API keys file (--api-keys) or a JWKS file (--jwks), or both")
        }
        let authenticator = Authenticator(apiKeys: apiKeys ?? APIKeyStore(), jwt: jwt)
        let host = configuration.host
        let listening: @Sendable (Int) async -> Void = { port in
            logger.info("listening", metadata: ["host": "\(host)", "port": "\(port)"])
            onListening(host, port)
        }
        if configuration.readOnly {
            let service = try LedgerService(readingOnly: configuration.ledger, keyFile: configuration.keyFile)
            let publisher = try configuration.cluster.map { path throws(ServerError) in
                try ClusterIntakeServer.publisher(deploymentFile: path)
            }
            logger.notice(
                "read-only: no writer, the writer lock is not taken; writes answer 503",
                metadata: [
                    "access_log": "\(configuration.cluster.map { "cluster \($0)" } ?? "none: raw reads refused")"
                ])
            let server = LedgerServer(
                service: service, authenticator: authenticator, configuration: configuration, registry: registry,
                logger: logger, accessPublisher: publisher)
            try await server.run(onListening: listening)
            return
        }
        if let cluster = configuration.cluster {
            let server = try ClusterIntakeServer(
                publisher: ClusterIntakeServer.publisher(deploymentFile: cluster), authenticator: authenticator,
                configuration: configuration, registry: registry, logger: logger)
            try await server.run(onListening: listening)
            return
        }
        let service = try LedgerService(
            directory: configuration.ledger, keyFile: configuration.keyFile, lockWait: configuration.lockWait)
        if let tail = service.recovery?.truncatedTail {
            logger.notice("recovered: cut a torn last frame", metadata: ["bytes": "\(tail.bytes)"])
        }
        let server = LedgerServer(
            service: service, authenticator: authenticator, configuration: configuration, registry: registry,
            logger: logger)
        try await server.run(onListening: listening)
    }
}
