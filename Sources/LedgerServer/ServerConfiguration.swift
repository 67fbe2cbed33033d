// The settings of `call-ledger serve`: from a YAML file, environment variables and options, in rising precedence.
import Foundation
import Yams

/// What `call-ledger serve` runs with. Each setting can come from the config file (its `key`), the environment
/// (its `environmentVariable`) or an option (`--key-with-dashes`); an option beats the environment, which beats
/// the file, which beats the default.
public struct ServerConfiguration: Sendable, Equatable {
    /// The settings, with their file keys.
    public enum Setting: String, CaseIterable, Sendable {
        /// The ledger directory (required).
        case ledger
        /// The ledger's key file (default: DIR.key).
        case keyFile = "key_file"
        /// The address to listen on (default 127.0.0.1: loopback, put TLS in a proxy in front).
        case host
        /// The TCP port (default 8080; 0 picks a free one, reported on standard error).
        case port
        /// The API keys file (YAML of SHA-256 hashes).
        case apiKeys = "api_keys"
        /// The JWKS file JWTs are verified with.
        case jwks
        /// The `iss` a JWT must carry, if set.
        case jwtIssuer = "jwt_issuer"
        /// The largest request body accepted, in bytes (default 64 MiB).
        case maxBodyBytes = "max_body_bytes"
        /// The log level: trace, debug, info, notice, warning, error, critical (default info).
        case logLevel = "log_level"
        /// Seconds to wait for another writer to release the ledger's lock at start (default 5).
        case lockWait = "lock_wait"
        /// A cluster deployment file (as `call-ledger cluster` reads it): publish events to the shards' JetStream
        /// streams instead of appending to a ledger (cluster mode; no ledger then). With `read_only`, the cluster
        /// the ledger is a shard of: `access.granted` events are published to it.
        case cluster
        /// Serve the ledger read-only (true/false, default false): open no writer, never take the writer lock,
        /// follow the log another process writes, and answer every write with 503.
        case readOnly = "read_only"

        /// The environment variable that sets it.
        public var environmentVariable: String {
            switch self {
            case .ledger: "CALL_LEDGER_DIR"
            case .keyFile: "CALL_LEDGER_KEY_FILE"
            default: "CALL_LEDGER_SERVE_" + rawValue.uppercased()
            }
        }

        /// The command-line option that sets it.
        public var option: String { "--" + rawValue.replacingOccurrences(of: "_", with: "-") }
    }

    /// The ledger directory (empty in cluster mode).
    public var ledger: String
    /// The cluster deployment file, in cluster mode.
    public var cluster: String?
    /// The key file, if not DIR.key.
    public var keyFile: String?
    /// The listening address.
    public var host = "127.0.0.1"
    /// The listening port.
    public var port = 8080
    /// The API keys file.
    public var apiKeys: String?
    /// The JWKS file.
    public var jwks: String?
    /// The required JWT issuer.
    public var jwtIssuer: String?
    /// The largest request body, in bytes.
    public var maxBodyBytes = 64 << 20
    /// The log level name.
    public var logLevel = "info"
    /// Seconds to wait for the writer lock.
    public var lockWait = 5.0
    /// Whether the ledger is served read-only (no writer, no lock; writes answer 503). With `cluster` set too,
    /// `access.granted` events are published to that cluster.
    public var readOnly = false
    /// The Gladia callback sources (`gladia_webhooks:` in the config file), by name.
    public var gladiaWebhooks: [String: PushSource] = [:]
    /// The Amazon Data Firehose streams (`firehose:` in the config file), by the `{source}` of their URL.
    public var firehoseSources: [String: PushSource] = [:]

    /// A configuration for `ledger` with every other setting at its default.
    public init(ledger: String) {
        self.ledger = ledger
    }

    /// A cluster-mode configuration publishing to the deployment `cluster` names, other settings at their default.
    public init(cluster: String) {
        self.ledger = ""
        self.cluster = cluster
    }

    /// The configuration from the YAML file at `file` (if any), `environment` and `options` (values by setting).
    public static func resolve(
        file: String?, environment: [String: String], options: [Setting: String]
    ) throws(ServerError) -> ServerConfiguration {
        var fromFile: [String: String] = [:]
        if let file { fromFile = try read(file) }
        var values: [Setting: (value: String, origin: String)] = [:]
        for setting in Setting.allCases {
            if let value = options[setting] {
                values[setting] = (value, setting.option)
            } else if let value = environment[setting.environmentVariable], !value.isEmpty {
                values[setting] = (value, setting.environmentVariable)
            } else if let value = fromFile[setting.rawValue], let file {
                values[setting] = (value, "\(file): \(setting.rawValue)")
            }
        }
        var readOnly = false
        if let flag = values[.readOnly] {
            switch flag.value.lowercased() {
            case "true", "yes", "1": readOnly = true
            case "false", "no", "0": readOnly = false
            default:
                throw .setting(name: "read_only", origin: flag.origin, reason: "'\(flag.value)' is not true or false")
            }
        }
        var configuration: ServerConfiguration
        switch (values[.ledger], values[.cluster]) {
        case (let ledger?, nil): configuration = ServerConfiguration(ledger: ledger.value)
        case (nil, let cluster?):
            if readOnly, let flag = values[.readOnly] {
                throw .setting(
                    name: "read_only", origin: flag.origin,
                    reason: "a read-only server reads a ledger: name it with --ledger DIR (the cluster file then only "
                        + "says where access.granted events are published)")
            }
            configuration = ServerConfiguration(cluster: cluster.value)
        case (let ledger?, let cluster?):
            guard readOnly else {
                throw .setting(
                    name: "ledger", origin: ledger.origin,
                    reason: "cluster mode reads and writes no ledger: name either the ledger directory or the cluster "
                        + "file (both only with --read-only: serve a shard's ledger, logging access through the cluster)"
                )
            }
            configuration = ServerConfiguration(ledger: ledger.value)
            configuration.cluster = cluster.value
        case (nil, nil):
            throw .setting(
                name: "ledger", origin: "missing",
                reason: "name the ledger directory (--ledger DIR, CALL_LEDGER_DIR or `ledger:` in the config file) "
                    + "or, to publish to a NATS cluster, its deployment file (--cluster FILE)")
        }
        configuration.readOnly = readOnly
        configuration.keyFile = values[.keyFile]?.value
        configuration.apiKeys = values[.apiKeys]?.value
        configuration.jwks = values[.jwks]?.value
        configuration.jwtIssuer = values[.jwtIssuer]?.value
        if let host = values[.host] { configuration.host = host.value }
        if let port = values[.port] {
            guard let number = Int(port.value), (0...65_535).contains(number) else {
                throw .setting(
                    name: "port", origin: port.origin, reason: "'\(port.value)' is not a port from 0 to 65535")
            }
            configuration.port = number
        }
        if let size = values[.maxBodyBytes] {
            guard let number = Int(size.value), (1...(1 << 34)).contains(number) else {
                throw .setting(
                    name: "max_body_bytes", origin: size.origin,
                    reason: "'\(size.value)' is not a byte count from 1 to 2^34")
            }
            configuration.maxBodyBytes = number
        }
        if let level = values[.logLevel] {
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            guard levels.contains(level.value) else {
                throw .setting(
                    name: "log_level", origin: level.origin,
                    reason: "'\(level.value)' is not one of \(levels.joined(separator: ", "))")
            }
            configuration.logLevel = level.value
        }
        if let wait = values[.lockWait] {
            guard let seconds = Double(wait.value), seconds.isFinite, (0...86_400).contains(seconds) else {
                throw .setting(
                    name: "lock_wait", origin: wait.origin,
                    reason: "'\(wait.value)' is not a number of seconds from 0 to 86400")
            }
            configuration.lockWait = seconds
        }
        if let file {
            let sections = try pushSections(file)
            if let node = sections[.gladiaWebhooks] {
                configuration.gladiaWebhooks = try PushSourceSection.gladiaWebhooks.sources(
                    in: node, path: file, environment: environment)
            }
            if let node = sections[.firehose] {
                configuration.firehoseSources = try PushSourceSection.firehose.sources(
                    in: node, path: file, environment: environment)
            }
        }
        return configuration
    }

    /// The settings in the YAML file at `path`: a mapping of setting keys to scalars. An unknown key is an error,
    /// so that a misspelt setting does not silently fall back to its default.
    static func read(_ path: String) throws(ServerError) -> [String: String] {
        let node = try document(path)
        guard let node else { return [:] }
        guard let mapping = node.mapping else {
            throw .file(path: path, reason: "must be a mapping of settings (ledger: DIR, port: 8080, ...)")
        }
        let known = Set(Setting.allCases.map(\.rawValue))
        var values: [String: String] = [:]
        for (key, value) in mapping {
            if let name = key.string, PushSourceSection(rawValue: name) != nil { continue }
            guard let name = key.string, known.contains(name) else {
                throw .file(
                    path: path,
                    reason:
                        "unknown setting '\(key.string ?? "?")' (known: \((Setting.allCases.map(\.rawValue) + PushSourceSection.allCases.map(\.rawValue)).joined(separator: ", ")))"
                )
            }
            guard let scalar = value.scalar else {
                throw .file(path: path, reason: "\(name) must be a single value")
            }
            values[name] = scalar.string
        }
        return values
    }

    /// The YAML document of the config file at `path`, nil when it is empty.
    static func document(_ path: String) throws(ServerError) -> Node? {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .file(path: path, reason: "cannot read the config file: \(error.localizedDescription)")
        }
        do { return try Yams.compose(yaml: text) } catch {
            throw .file(path: path, reason: "not YAML: \(error)")
        }
    }

    /// The push-source sections of the YAML file at `path` (already read once by `read`).
    static func pushSections(_ path: String) throws(ServerError) -> [PushSourceSection: Node] {
        let node = try document(path)
        var sections: [PushSourceSection: Node] = [:]
        guard let mapping = node?.mapping else { return sections }
        for (key, value) in mapping {
            if let name = key.string, let section = PushSourceSection(rawValue: name) { sections[section] = value }
        }
        return sections
    }
}
