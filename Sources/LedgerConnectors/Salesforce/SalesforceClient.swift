// SalesforceClient: upserts by external id through the Salesforce REST API, one record at a time or in
// collections of up to 200, retrying throttled, failing and dropped requests with backoff. Upserts by external id
// are idempotent, so sending one again after a timeout or a dropped connection cannot create a second record.
//
// Formats, as the Salesforce REST API Developer Guide gives them (checked for this code on its pages "Insert or
// Update (Upsert) a Record Using an External ID", "Upsert Records Using sObject Collections" and "UpsertResult"):
// - `PATCH /services/data/vXX.X/sobjects/Object/ExternalIdField/value` with the fields as a JSON object answers
//   201 with `{"id", "success", "errors", "created": true}` when it inserts, 200 with the same body and
//   `"created": false` when it updates (204 without a body before API 46.0), 300 with the matching records' URLs
//   when the value matches several records, and an error status with `[{"message", "errorCode", "fields"}]`.
// - `PATCH /services/data/vXX.X/composite/sobjects/Object/ExternalIdField` (API 46.0 and later) with
//   `{"allOrNone": false, "records": [{"attributes": {"type": Object}, ...}]}` takes up to 200 records of that one
//   object, answers 200 with one UpsertResult `{"id", "success", "created", "errors": [{"statusCode", "message",
//   "fields"}]}` per record in request order, and 400 when the request itself is malformed.
internal import Foundation

/// Writes records to Salesforce by external id, with retries.
///
/// Not `Sendable` (it owns an `HTTPClient` and its connection): use one client per task.
public final class SalesforceClient {
    /// The most records one collection upsert may carry.
    public static let collectionLimit = 200

    /// Where and as whom requests are sent.
    public let configuration: Configuration
    /// When requests are sent again.
    public let retryPolicy: RetryPolicy
    private let http: HTTPClient
    private let sleep: (Duration) -> Void
    private let random: () -> Double

    /// A client for `configuration`.
    ///
    /// - Parameters:
    ///   - sleep: waits between attempts; tests pass a recorder instead of really sleeping.
    ///   - random: a source of numbers in `0..<1` for the backoff jitter.
    public init(
        configuration: Configuration, retryPolicy: RetryPolicy = RetryPolicy(),
        sleep: @escaping (Duration) -> Void = SalesforceClient.blockingSleep,
        random: @escaping () -> Double = { Double.random(in: 0..<1) }
    ) throws(SalesforceError) {
        self.configuration = configuration
        self.retryPolicy = retryPolicy
        self.sleep = sleep
        self.random = random
        do throws(HTTPError) {
            http = try HTTPClient()
        } catch {
            throw .transport(error)
        }
    }

    /// Blocks the calling thread for `duration`: the default wait between attempts.
    public static func blockingSleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        Thread.sleep(forTimeInterval: Double(seconds) + Double(attoseconds) / 1e18)
    }

    /// Creates or updates the `object` record whose `externalIdField` equals `externalId`, writing `fields`.
    ///
    /// Salesforce's refusal of the record (300 when several records match, 400 for a bad field, 404...) comes back
    /// as an outcome with `succeeded == false` and Salesforce's errors; thrown errors concern the request as a whole.
    public func upsert(
        object: String, externalIdField: String, externalId: String, fields: [String: CRMFieldValue]
    ) throws(SalesforceError) -> UpsertOutcome {
        try Self.checkName(object, kind: "object")
        try Self.checkName(externalIdField, kind: "field")
        guard !externalId.isEmpty else { throw .emptyExternalId(object: object, externalIdField: externalIdField) }
        var body = JSONWriter()
        body.raw("{")
        try body.members(fields, leadingComma: false)
        body.raw("}")
        let url = "\(configuration.dataURL)/sobjects/\(object)/\(externalIdField)/\(Self.percentEncoded(externalId))"
        let (response, attempts) = try send(.patch, url: url, body: body.bytes)
        func outcome(_ succeeded: Bool, id: String?, created: Bool?, errors: [SalesforceRecordError]) -> UpsertOutcome {
            UpsertOutcome(
                externalId: externalId, succeeded: succeeded, status: response.status, attempts: attempts, id: id,
                created: created, errors: errors)
        }
        switch response.status {
        case 200, 201:
            let result = try Self.decode(SaveResult.self, from: response)
            let errors = result.recordErrors
            return outcome(
                (result.success ?? true) && errors.isEmpty, id: result.id,
                created: result.created ?? (response.status == 201), errors: errors)
        case 204:
            return outcome(true, id: nil, created: false, errors: [])
        case 300:
            let matches = (try? JSONDecoder().decode([String].self, from: Data(response.body))) ?? []
            let message =
                "external id \(externalId) matches \(matches.isEmpty ? "several" : String(matches.count)) "
                + "\(object) records\(matches.isEmpty ? "" : " (\(matches.joined(separator: ", ")))"); "
                + "make \(externalIdField) unique before writing this record"
            return outcome(
                false, id: nil, created: nil,
                errors: [SalesforceRecordError(code: "MULTIPLE_CHOICES", message: message, fields: [externalIdField])])
        default:
            return outcome(false, id: nil, created: nil, errors: Self.errors(in: response))
        }
    }

    /// Creates or updates up to `collectionLimit` `object` records by `externalIdField` in one request.
    ///
    /// Records are written independently (`allOrNone: false`); the outcomes are in the order of `records`.
    /// A record's own `fields` entry for `externalIdField`, if any, is replaced by its `externalId`.
    public func upsertCollection(
        object: String, externalIdField: String, records: [CRMRecord]
    ) throws(SalesforceError) -> [UpsertOutcome] {
        try Self.checkName(object, kind: "object")
        try Self.checkName(externalIdField, kind: "field")
        guard records.count <= Self.collectionLimit else {
            throw .tooManyRecords(count: records.count, limit: Self.collectionLimit)
        }
        guard !records.isEmpty else { return [] }
        var body = JSONWriter()
        body.raw("{\"allOrNone\":false,\"records\":[")
        for (index, record) in records.enumerated() {
            guard !record.externalId.isEmpty else {
                throw .emptyExternalId(object: object, externalIdField: externalIdField)
            }
            body.raw(index == 0 ? "{\"attributes\":{\"type\":" : ",{\"attributes\":{\"type\":")
            body.string(object)
            body.raw("},")
            body.string(externalIdField)
            body.raw(":")
            body.string(record.externalId)
            try body.members(record.fields.filter { $0.key != externalIdField }, leadingComma: true)
            body.raw("}")
        }
        body.raw("]}")
        let url = "\(configuration.dataURL)/composite/sobjects/\(object)/\(externalIdField)"
        let (response, attempts) = try send(.patch, url: url, body: body.bytes)
        guard response.status == 200 else {
            throw .requestRejected(status: response.status, errors: Self.errors(in: response))
        }
        let results = try Self.decode([SaveResult].self, from: response)
        guard results.count == records.count else {
            throw .malformedResponse(
                status: response.status, reason: "\(results.count) results for \(records.count) records",
                body: Self.excerpt(response))
        }
        return zip(records, results).map { record, result in
            let errors = result.recordErrors
            return UpsertOutcome(
                externalId: record.externalId, succeeded: (result.success ?? false) && errors.isEmpty,
                status: response.status, attempts: attempts, id: result.id,
                created: result.success == true ? result.created : nil, errors: errors)
        }
    }

    /// Sends a request until it gets a non-retryable answer or the policy's attempts run out.
    func send(
        _ method: HTTPMethod, url: String, body: [UInt8]
    ) throws(SalesforceError) -> (response: HTTPResponse, attempts: Int) {
        let request = HTTPRequest(
            method: method, url: url,
            headers: [
                HTTPHeader("Authorization", "Bearer \(configuration.token)"),
                HTTPHeader("Content-Type", "application/json"), HTTPHeader("Accept", "application/json"),
            ],
            body: body, connectTimeout: configuration.connectTimeout, timeout: configuration.requestTimeout)
        var attempt = 0
        while true {
            attempt += 1
            let failure: String
            var retryAfter: Int?
            switch Result(catching: { () throws(HTTPError) in try http.send(request) }) {
            case .success(let response):
                if response.status == 401 {
                    throw .unauthorized(status: response.status, errors: Self.errors(in: response))
                }
                guard RetryPolicy.isRetryable(status: response.status) else { return (response, attempt) }
                let errors = Self.errors(in: response).map(\.description).joined(separator: "; ")
                failure = "HTTP \(response.status) (\(errors))"
                retryAfter = response.retryAfterSeconds
            case .failure(let error):
                guard RetryPolicy.isRetryable(error) else { throw .transport(error) }
                failure = error.description
            }
            guard attempt < retryPolicy.maxAttempts else {
                throw .retriesExhausted(attempts: attempt, lastFailure: failure)
            }
            sleep(retryPolicy.delay(afterAttempt: attempt, random: random(), retryAfterSeconds: retryAfter))
        }
    }

    /// Throws unless `name` is a Salesforce API name (a letter, then letters, digits and underscores).
    static func checkName(_ name: String, kind: String) throws(SalesforceError) {
        guard let first = name.unicodeScalars.first, first.properties.isAlphabetic, first.isASCII,
            name.unicodeScalars.allSatisfy({
                $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0))
            })
        else { throw .invalidName(kind: kind, name: name) }
    }

    /// `value` as one URL path segment: every byte but the unreserved ones (`A-Z a-z 0-9 - . _ ~`) as `%XX`.
    static func percentEncoded(_ value: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                bytes.append(byte)
            default:
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Salesforce's errors in an error response, or one `HTTP_<status>` error quoting the body.
    static func errors(in response: HTTPResponse) -> [SalesforceRecordError] {
        if let items = try? JSONDecoder().decode([ErrorItem].self, from: Data(response.body)), !items.isEmpty {
            return items.map(\.recordError)
        }
        return [SalesforceRecordError(code: "HTTP_\(response.status)", message: excerpt(response))]
    }

    private static func decode<T: Decodable>(_ type: T.Type, from response: HTTPResponse) throws(SalesforceError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(response.body))
        } catch {
            throw .malformedResponse(status: response.status, reason: "\(error)", body: excerpt(response))
        }
    }

    /// The first 500 characters of the body.
    static func excerpt(_ response: HTTPResponse) -> String {
        String(response.bodyText.prefix(500))
    }
}

/// A SaveResult / UpsertResult.
private struct SaveResult: Decodable {
    var id: String?
    var success: Bool?
    var created: Bool?
    var errors: [ErrorItem]?

    var recordErrors: [SalesforceRecordError] { (errors ?? []).map(\.recordError) }
}

/// One error: `errorCode` in error responses, `statusCode` inside results.
private struct ErrorItem: Decodable {
    var errorCode: String?
    var statusCode: String?
    var message: String?
    var fields: [String]?

    var recordError: SalesforceRecordError {
        SalesforceRecordError(code: errorCode ?? statusCode ?? "UNKNOWN", message: message ?? "", fields: fields ?? [])
    }
}
