// `call-ledger serve --cluster FILE`: a stateless intake node. POST /v1/events validates each line as in ledger
// mode and publishes it to its shard's JetStream stream (LedgerCluster.ClusterPublisher); the shard writers append.
// The vendor documents (POST /v1/ingest/{kind}, /v1/webhooks/gladia, /v1/firehose/{source}) go through the same
// adapters and IngestOperation as in ledger mode, and the live relay (WebSocket /v1/live/{call}) through the same
// LiveIngest, their events published the same way. The node holds no ledger, so it serves /healthz, /metrics and
// those write routes only and answers every other /v1 and /ui path with 501 and the reason.
import Foundation
import Hummingbird
import LedgerCluster
import Logging
import Prometheus
import ServiceLifecycle

/// The service in cluster mode: intake only, publishing to the deployment's shard streams.
struct ClusterIntakeServer: Sendable {
    let publisher: ClusterPublisher
    let authenticator: Authenticator
    let configuration: ServerConfiguration
    let registry: PrometheusCollectorRegistry
    let logger: Logger

    /// A server publishing through `publisher`; `registry` is what `/metrics` shows.
    init(
        publisher: ClusterPublisher, authenticator: Authenticator, configuration: ServerConfiguration,
        registry: PrometheusCollectorRegistry, logger: Logger
    ) {
        self.publisher = publisher
        self.authenticator = authenticator
        self.configuration = configuration
        self.registry = registry
        self.logger = logger
    }

    /// Loads the deployment file and connects to its NATS servers (creating the streams), or says why not.
    static func publisher(deploymentFile path: String) throws(ServerError) -> ClusterPublisher {
        do throws(ClusterError) {
            return try ClusterPublisher(configuration: try ClusterConfiguration.load(path: path))
        } catch {
            if case .configuration(_, let reason) = error {
                throw .file(path: path, reason: "cluster deployment file: \(reason)")
            }
            throw .setting(name: "cluster", origin: path, reason: "cannot reach the NATS cluster: \(error)")
        }
    }

    /// The router and the routes it registered.
    func router() -> (router: Router<BasicRequestContext>, routes: [LedgerServer.Route]) {
        var table = RouteTable(authenticator: authenticator, registry: registry, logger: logger)
        let events = EventsRoute(sink: .cluster(publisher), maxBodyBytes: configuration.maxBodyBytes)
        let logger = logger
        table.on(.post, "/v1/events", .appendEvents) { request, _, principal in
            try await events.handle(request, principal: principal, logger: logger)
        }
        table.ingestRoutes(into: .cluster(publisher), configuration: configuration, logger: logger)
        table.liveRelayRoute()
        table.router.answerUndeclaredMethods(of: table.routes)
        for method in Router<BasicRequestContext>.answeredMethods {
            for path: RouterPath in ["/v1/**", "/ui/**"] {
                table.router.on(path, method: method) { _, _ -> Response in
                    throw HTTPError(
                        .notImplemented,
                        message:
                            "this node runs in cluster mode: it publishes the events of POST /v1/events, "
                            + "/v1/ingest/{kind}, /v1/webhooks/gladia, /v1/firehose/{source} and the live "
                            + "relay /v1/live/{call} to the NATS cluster and serves nothing else under /v1 (read a shard with `call-ledger serve "
                            + "--ledger DIR --read-only --cluster FILE` on its writer's ledger)")
                }
            }
        }
        return (table.router, table.routes)
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting and lets requests in flight finish (their events
    /// published and acknowledged). `onListening` gets the bound port.
    func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = Application(
            router: router().router, server: LiveRelay.server(authenticator: authenticator, sink: .cluster(publisher)),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "call-ledger"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        logger.info("stopped: the requests in flight finished; every event acknowledged is in JetStream")
    }
}
