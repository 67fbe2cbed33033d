// Where SalesforceClient connects and with what credentials: built in code or read from the CALL_LEDGER_CRM_*
// environment variables, validated so that a typo fails before the first request, with a message naming the fix.
public import Foundation

extension SalesforceClient {
    /// The instance, API version, bearer token and timeouts of a Salesforce client.
    public struct Configuration: Sendable, Equatable, CustomStringConvertible {
        /// The variable holding the instance URL.
        public static let urlVariable = "CALL_LEDGER_CRM_URL"
        /// The variable holding the OAuth access token.
        public static let tokenVariable = "CALL_LEDGER_CRM_TOKEN"
        /// The optional variable holding the API version.
        public static let apiVersionVariable = "CALL_LEDGER_CRM_API_VERSION"
        /// The API version used when none is given.
        public static let defaultAPIVersion = "62.0"

        /// The instance URL without a trailing slash, e.g. `https://example.my.salesforce.com`.
        public var instanceURL: String
        /// The REST API version, e.g. `62.0` (at least 46.0, where collection upserts start).
        public var apiVersion: String
        /// The OAuth access token sent as `Authorization: Bearer`.
        public var token: String
        /// The longest wait for a connection.
        public var connectTimeout: Duration
        /// The longest one attempt may take, connection included.
        public var requestTimeout: Duration

        /// A validated configuration; `apiVersion` may be given with or without a leading `v`.
        public init(
            instanceURL: String, apiVersion: String = Configuration.defaultAPIVersion, token: String,
            connectTimeout: Duration = .seconds(10), requestTimeout: Duration = .seconds(60)
        ) throws(SalesforceError) {
            var url = instanceURL
            while url.hasSuffix("/") { url.removeLast() }
            let scheme = url.hasPrefix("https://") ? "https://" : url.hasPrefix("http://") ? "http://" : nil
            guard let scheme, url.count > scheme.count, !url.contains(where: \.isWhitespace) else {
                throw .invalidConfiguration(
                    setting: "instance URL", value: instanceURL,
                    reason: "give the instance's https:// URL, e.g. https://example.my.salesforce.com")
            }
            let version = apiVersion.hasPrefix("v") ? String(apiVersion.dropFirst()) : apiVersion
            let parts = version.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, let major = Int(parts[0]), parts[1].allSatisfy(\.isASCIIDigit),
                !parts[1].isEmpty, major >= 46
            else {
                throw .invalidConfiguration(
                    setting: "API version", value: apiVersion,
                    reason: "give a version such as \(Self.defaultAPIVersion); at least 46.0 is needed")
            }
            guard !token.isEmpty, !token.contains(where: { $0.isWhitespace || $0.isNewline }) else {
                throw .invalidConfiguration(
                    setting: "token", value: token.isEmpty ? "" : "<hidden>",
                    reason: "give the OAuth access token alone, without spaces, line breaks or the word Bearer")
            }
            self.instanceURL = url
            self.apiVersion = version
            self.token = token
            self.connectTimeout = connectTimeout
            self.requestTimeout = requestTimeout
        }

        /// Reads `CALL_LEDGER_CRM_URL`, `CALL_LEDGER_CRM_TOKEN` and optional `CALL_LEDGER_CRM_API_VERSION`
        /// from `environment` (the process's by default).
        public static func fromEnvironment(
            _ environment: [String: String] = ProcessInfo.processInfo.environment
        ) throws(SalesforceError) -> Configuration {
            guard let url = environment[urlVariable], !url.isEmpty else {
                throw .missingEnvironmentVariable(
                    name: urlVariable, purpose: "the Salesforce instance URL, e.g. https://example.my.salesforce.com")
            }
            guard let token = environment[tokenVariable], !token.isEmpty else {
                throw .missingEnvironmentVariable(
                    name: tokenVariable, purpose: "an OAuth access token for \(url) (the value after \"Bearer \")")
            }
            let version = environment[apiVersionVariable].flatMap { $0.isEmpty ? nil : $0 } ?? defaultAPIVersion
            return try Configuration(instanceURL: url, apiVersion: version, token: token)
        }

        /// The instance and version; the token is never shown.
        public var description: String { "Salesforce \(instanceURL) API v\(apiVersion)" }

        /// `https://instance/services/data/vNN.N`.
        var dataURL: String { "\(instanceURL)/services/data/v\(apiVersion)" }
    }
}

extension Character {
    /// Whether this is one of `0`...`9`.
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
