// call-ledger serve: the ledger as an HTTP service (LedgerServer); this command only gathers the settings.
import ArgumentParser
import Foundation
import LedgerServer
import LedgerStore

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the ledger over HTTP: ingest events and read calls, transcripts, checkpoints and proofs.",
        discussion: """
            Settings come from --config FILE (YAML: ledger, key_file, host, port, api_keys, jwks, jwt_issuer, \
            max_body_bytes, log_level, lock_wait, cluster, read_only), each overridden by its environment variable \
            (CALL_LEDGER_DIR, CALL_LEDGER_KEY_FILE, CALL_LEDGER_SERVE_HOST, CALL_LEDGER_SERVE_PORT, ...) and by its option. Plain HTTP \
            on 127.0.0.1:8080 by default: put a TLS-terminating proxy in front for other hosts. Tokens: API keys \
            (stored as SHA-256 hashes in the api_keys file) or JWTs verified with the jwks file. SIGTERM or SIGINT \
            stops accepting, lets requests in flight finish and closes the writer; the exit status is then 0. \
            The config file alone names push sources: gladia_webhooks (name: {secret or secret_env, tenant}) \
            for POST /v1/webhooks/gladia and firehose (source: {records: connect-ctr|contact-lens, access_key or \
            access_key_env, tenant}) for POST /v1/firehose/{source}. \
            Cluster mode: --cluster FILE (CALL_LEDGER_SERVE_CLUSTER, `cluster:`; the deployment file `call-ledger \
            cluster` reads) instead of a ledger: POST /v1/events publishes each event to its shard's JetStream \
            stream and acknowledges it `replicated`, or with ?ack=durable `durable` with its seq once the shard's \
            writer fsynced it; /healthz and /metrics are served, every other endpoint answers 501. \
            Read-only: --ledger DIR --read-only (CALL_LEDGER_SERVE_READ_ONLY=true, `read_only: true`) opens no \
            writer and never takes the ledger's lock, so it serves a ledger another process writes (a cluster \
            shard's writer, append, ingest): reads see every event written before them, the live streams follow \
            the log, writes answer 503 naming who appends, and the checkpoint is the latest stored one. Reads that \
            open personal data (the raw view, audit bundles with opened classes) need their access.granted \
            durable first: with --cluster FILE too it is published to the ledger's shard and awaited in the log, \
            without it they answer 503. \
            README.md (Serving) documents the endpoints, roles and files; openapi.yaml describes every endpoint.
            """)

    @Option(help: ArgumentHelp("A YAML file of settings.", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("The ledger directory (default: $CALL_LEDGER_DIR).", valueName: "dir"))
    var ledger: String?

    @Option(
        help: ArgumentHelp(
            "Cluster mode: publish events to the shards of this deployment file instead of a ledger.",
            valueName: "file"))
    var cluster: String?

    @Option(help: ArgumentHelp("The key file (default: $CALL_LEDGER_KEY_FILE, else DIR.key).", valueName: "path"))
    var keyFile: String?

    @Option(help: ArgumentHelp("The address to listen on (default 127.0.0.1).", valueName: "address"))
    var host: String?

    @Option(help: ArgumentHelp("The TCP port (default 8080; 0 picks a free one).", valueName: "port"))
    var port: String?

    @Option(help: ArgumentHelp("The API keys file (YAML of SHA-256 hashes).", valueName: "file"))
    var apiKeys: String?

    @Option(help: ArgumentHelp("The JWKS file JWTs are verified with.", valueName: "file"))
    var jwks: String?

    @Option(help: ArgumentHelp("The issuer (iss) JWTs must carry.", valueName: "issuer"))
    var jwtIssuer: String?

    @Option(help: ArgumentHelp("The largest request body in bytes (default 67108864).", valueName: "bytes"))
    var maxBodyBytes: String?

    @Option(
        help: ArgumentHelp("trace, debug, info, notice, warning, error or critical (default info).", valueName: "level")
    )
    var logLevel: String?

    @Option(help: ArgumentHelp("Seconds to wait for another writer's lock at start (default 5).", valueName: "seconds"))
    var lockWait: String?

    @Flag(
        help: ArgumentHelp(
            "Serve the ledger read-only: no writer, no lock; writes answer 503 (with --cluster FILE, access is logged "
                + "through that cluster)."))
    var readOnly = false

    func run() async throws {
        let given: [ServerConfiguration.Setting: String?] = [
            .ledger: ledger, .keyFile: keyFile, .host: host, .port: port, .apiKeys: apiKeys, .jwks: jwks,
            .jwtIssuer: jwtIssuer, .maxBodyBytes: maxBodyBytes, .logLevel: logLevel, .lockWait: lockWait,
            .cluster: cluster, .readOnly: readOnly ? "true" : nil,
        ]
        do {
            let configuration = try ServerConfiguration.resolve(
                file: config, environment: ProcessInfo.processInfo.environment,
                options: given.compactMapValues { $0 })
            try await LedgerServer.serve(configuration) { host, port in
                let what =
                    configuration.readOnly
                    ? "\(configuration.ledger) read-only"
                    : configuration.cluster.map { "cluster intake (\($0))" } ?? configuration.ledger
                Output.error("call-ledger: serving \(what) on http://\(host):\(port)")
            }
        } catch let error as ServerError {
            Output.error("call-ledger: error: \(error)")
            throw ExitCode(1)
        } catch let error as LedgerError {
            Output.error("call-ledger: error: \(error)")
            throw ExitCode(1)
        }
    }
}
