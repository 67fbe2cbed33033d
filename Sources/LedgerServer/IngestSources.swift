// The pushing sources the service accepts without a bearer token: Gladia callbacks (a shared secret) and Amazon
// Data Firehose streams (the stream's access key), read from the config file's `gladia_webhooks:` and `firehose:`
// sections; each secret is given in the file or, better, named by the environment variable that holds it.
import Foundation
import LedgerCore
import Yams

/// A source that pushes vendor documents: who it is, its secret and the tenant its events belong to.
public struct PushSource: Sendable, Equatable {
    /// The source's name (the key of its entry in the config file).
    public var name: String
    /// The shared secret (Gladia) or access key (Firehose) the source presents.
    public var secret: String
    /// The tenant of the events it delivers.
    public var tenant: String
    /// The adapter its documents are read with (Firehose: `connect-ctr` or `contact-lens`).
    public var records: String

    /// A source.
    public init(name: String, secret: String, tenant: String, records: String) {
        self.name = name
        self.secret = secret
        self.tenant = tenant
        self.records = records
    }

    /// Whether `presented` is the source's secret, compared in time independent of where they differ (the
    /// SHA-256 digests of both are compared whole, so neither the length nor a common prefix shows).
    public func accepts(_ presented: String) -> Bool {
        let given = LedgerCore.SHA256.hash(Array(presented.utf8)).bytes
        let expected = LedgerCore.SHA256.hash(Array(secret.utf8)).bytes
        var difference: UInt8 = 0
        for (a, b) in zip(given, expected) { difference |= a ^ b }
        return difference == 0 && !secret.isEmpty
    }
}

/// The config file's sections of pushing sources.
enum PushSourceSection: String, CaseIterable {
    /// `gladia_webhooks:` name → `{secret | secret_env, tenant}`.
    case gladiaWebhooks = "gladia_webhooks"
    /// `firehose:` source → `{records: connect-ctr | contact-lens, access_key | access_key_env, tenant}`.
    case firehose

    /// The adapters a source of the section may name in `records`.
    var adapters: [String] {
        switch self {
        case .gladiaWebhooks: ["gladia"]
        case .firehose: ["connect-ctr", "contact-lens"]
        }
    }

    /// The key of the secret in an entry (`secret` or `access_key`; with `_env`, the variable holding it).
    var secretKey: String {
        switch self {
        case .gladiaWebhooks: "secret"
        case .firehose: "access_key"
        }
    }

    /// The sources of this section in the composed config file `node`, their secrets read from `environment`
    /// when the entry names a variable.
    func sources(
        in node: Node, path: String, environment: [String: String]
    ) throws(ServerError) -> [String: PushSource] {
        guard let mapping = node.mapping else {
            throw .file(path: path, reason: "\(rawValue) must be a mapping of source names to settings")
        }
        var sources: [String: PushSource] = [:]
        for (key, value) in mapping {
            guard let name = key.string, !name.isEmpty,
                name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
            else {
                throw .file(
                    path: path, reason: "\(rawValue): source names are letters, digits, '-' and '_' (a URL segment)")
            }
            let at = "\(rawValue).\(name)"
            guard let entry = value.mapping else { throw .file(path: path, reason: "\(at) must be a mapping") }
            var fields: [String: String] = [:]
            let known = ["tenant", "records", secretKey, secretKey + "_env"]
            for (field, fieldValue) in entry {
                guard let fieldName = field.string, known.contains(fieldName), let scalar = fieldValue.scalar else {
                    throw .file(
                        path: path,
                        reason: "\(at): unknown or non-scalar setting '\(field.string ?? "?")' (known: "
                            + known.joined(separator: ", ") + ")")
                }
                fields[fieldName] = scalar.string
            }
            guard let tenant = fields["tenant"], !tenant.isEmpty else {
                throw .file(path: path, reason: "\(at).tenant is missing: name the tenant of the source's events")
            }
            let records = fields["records"] ?? adapters[0]
            guard adapters.contains(records) else {
                throw .file(
                    path: path,
                    reason: "\(at).records '\(records)' is not one of \(adapters.joined(separator: ", "))")
            }
            let secret: String
            if let variable = fields[secretKey + "_env"] {
                guard let value = environment[variable], !value.isEmpty else {
                    throw .file(
                        path: path, reason: "\(at).\(secretKey)_env names \(variable), which is not set or empty")
                }
                secret = value
            } else if let value = fields[secretKey], !value.isEmpty {
                secret = value
            } else {
                throw .file(
                    path: path,
                    reason: "\(at) needs \(secretKey)_env (the environment variable holding it) or \(secretKey)")
            }
            guard secret.utf8.count >= 16 else {
                throw .file(path: path, reason: "\(at): the \(secretKey) is shorter than 16 characters")
            }
            sources[name] = PushSource(name: name, secret: secret, tenant: tenant, records: records)
        }
        return sources
    }
}
