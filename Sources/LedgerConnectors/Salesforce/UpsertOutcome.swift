// What became of one record in an upsert: written (created or updated) or refused by Salesforce, with the status,
// attempts and Salesforce's own errors, ready to be recorded as a crm.write event.

/// The result of upserting one record.
public struct UpsertOutcome: Sendable, Equatable {
    /// The external id value that identified the record.
    public var externalId: String
    /// Whether Salesforce wrote the record.
    public var succeeded: Bool
    /// The HTTP status of the final attempt (a collection's items share the collection's status).
    public var status: Int
    /// How many times the request was sent, the final attempt included.
    public var attempts: Int
    /// The Salesforce record id (18 characters), when Salesforce returned one.
    public var id: String?
    /// Whether the record was created (true) or updated (false); nil when unknown (a failure, or a 204 answer).
    public var created: Bool?
    /// Salesforce's errors for this record; empty when it succeeded.
    public var errors: [SalesforceRecordError]

    /// An outcome with every property given.
    public init(
        externalId: String, succeeded: Bool, status: Int, attempts: Int, id: String?, created: Bool?,
        errors: [SalesforceRecordError]
    ) {
        self.externalId = externalId
        self.succeeded = succeeded
        self.status = status
        self.attempts = attempts
        self.id = id
        self.created = created
        self.errors = errors
    }

    /// The errors as one line (`CODE: message; CODE: message`), nil when there are none.
    public var errorText: String? {
        errors.isEmpty ? nil : errors.map(\.description).joined(separator: "; ")
    }
}
