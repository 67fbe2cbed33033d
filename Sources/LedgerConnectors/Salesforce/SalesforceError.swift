// The errors SalesforceClient reports, and the per-record errors Salesforce returns inside outcomes. Thrown errors
// concern the whole request (configuration, credentials, transport, exhausted retries); a record's own rejection
// (300, 400, 404, a failed collection item) is an outcome, not a thrown error.

/// One error Salesforce gave for a record: `errorCode` (single upsert) or `statusCode` (collections), message, fields.
public struct SalesforceRecordError: Sendable, Equatable, CustomStringConvertible {
    /// Salesforce's code: `DUPLICATE_VALUE`, `INVALID_FIELD`, `NOT_FOUND`... (`MULTIPLE_CHOICES` for HTTP 300).
    public var code: String
    /// Salesforce's message.
    public var message: String
    /// The fields the error concerns, when Salesforce names them.
    public var fields: [String]

    /// An error with `code`, `message` and `fields`.
    public init(code: String, message: String, fields: [String] = []) {
        self.code = code
        self.message = message
        self.fields = fields
    }

    /// `CODE: message (fields: A, B)`.
    public var description: String {
        "\(code): \(message)" + (fields.isEmpty ? "" : " (fields: \(fields.joined(separator: ", ")))")
    }
}

/// A failure of a Salesforce request as a whole.
public enum SalesforceError: Error, Equatable, CustomStringConvertible {
    /// A required environment variable is unset or empty.
    case missingEnvironmentVariable(name: String, purpose: String)
    /// A configuration value is unusable.
    case invalidConfiguration(setting: String, value: String, reason: String)
    /// An object or field API name has characters Salesforce API names cannot have.
    case invalidName(kind: String, name: String)
    /// An upsert was given an empty external id value.
    case emptyExternalId(object: String, externalIdField: String)
    /// A collection upsert was given more records than Salesforce accepts in one request.
    case tooManyRecords(count: Int, limit: Int)
    /// A field value is NaN or infinite, which JSON cannot carry.
    case nonFiniteNumber(field: String)
    /// Salesforce refused the token (HTTP 401); never retried.
    case unauthorized(status: Int, errors: [SalesforceRecordError])
    /// Salesforce refused the request as a whole (a collection answered with 400, 403, 404...); never retried.
    case requestRejected(status: Int, errors: [SalesforceRecordError])
    /// Every attempt failed with a retryable failure; the request may or may not have been applied.
    case retriesExhausted(attempts: Int, lastFailure: String)
    /// The request failed without a retryable cause (invalid URL, transport failure).
    case transport(HTTPError)
    /// Salesforce answered with a body this client cannot read.
    case malformedResponse(status: Int, reason: String, body: String)

    /// A message a person can act on.
    public var description: String {
        switch self {
        case .missingEnvironmentVariable(let name, let purpose):
            "environment variable \(name) is not set; set it to \(purpose)"
        case .invalidConfiguration(let setting, let value, let reason):
            "invalid CRM setting \(setting) \"\(value)\": \(reason)"
        case .invalidName(let kind, let name):
            "invalid Salesforce \(kind) name \"\(name)\": use an API name of letters, digits and underscores"
        case .emptyExternalId(let object, let field):
            "empty external id for \(object).\(field): every upserted record needs a value"
        case .tooManyRecords(let count, let limit):
            "\(count) records in one collection upsert; Salesforce accepts at most \(limit), split them into batches"
        case .nonFiniteNumber(let field):
            "field \(field) is NaN or infinite, which JSON cannot carry; write null or a finite number"
        case .unauthorized(let status, let errors):
            "Salesforce refused the token (HTTP \(status)\(Self.list(errors))); set a valid access token in "
                + "\(SalesforceClient.Configuration.tokenVariable)"
        case .requestRejected(let status, let errors):
            "Salesforce rejected the request (HTTP \(status)\(Self.list(errors)))"
        case .retriesExhausted(let attempts, let lastFailure):
            "gave up after \(attempts) attempts, the last failing with \(lastFailure); the write may or may not "
                + "have been applied, upserting it again is safe"
        case .transport(let error):
            error.description
        case .malformedResponse(let status, let reason, let body):
            "unreadable Salesforce response (HTTP \(status)): \(reason); body: \(body)"
        }
    }

    private static func list(_ errors: [SalesforceRecordError]) -> String {
        errors.isEmpty ? "" : ": " + errors.map(\.description).joined(separator: "; ")
    }
}
