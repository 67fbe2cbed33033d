// Reading a record back by external id, for an apply that finds a write sent without a recorded outcome: the
// record's current values tell whether that write landed, so it need not be sent again.
//
// Format, as the Salesforce REST API Developer Guide gives it ("Retrieve a Record Using an External ID"):
// `GET /services/data/vXX.X/sobjects/Object/ExternalIdField/value?fields=A,B` answers 200 with
// `{"attributes": {"type", "url"}, "Id": ..., "A": ..., "B": ...}`, 404 when no record has the value, and 300
// with the matching records' URLs when several do.
internal import Foundation

/// A record as read back from Salesforce.
public struct FetchedRecord: Sendable, Equatable {
    /// The Salesforce record id, when the answer carried one.
    public var id: String?
    /// The scalar fields of the answer, by API name (objects such as `attributes` are left out).
    public var fields: [String: CRMFieldValue]
    /// The HTTP status of the answer.
    public var status: Int
    /// How many times the request was sent.
    public var attempts: Int
}

extension SalesforceClient {
    /// The `object` record whose `externalIdField` equals `externalId`, with only `fields` when they are given,
    /// or nil when no record has that value (404). Several matching records (300) throw `requestRejected`.
    public func record(
        object: String, externalIdField: String, externalId: String, fields: [String] = []
    ) throws(SalesforceError) -> FetchedRecord? {
        try Self.checkName(object, kind: "object")
        try Self.checkName(externalIdField, kind: "field")
        for field in fields { try Self.checkName(field, kind: "field") }
        guard !externalId.isEmpty else { throw .emptyExternalId(object: object, externalIdField: externalIdField) }
        var url = "\(configuration.dataURL)/sobjects/\(object)/\(externalIdField)/\(Self.percentEncoded(externalId))"
        if !fields.isEmpty { url += "?fields=" + fields.joined(separator: ",") }
        let (response, attempts) = try send(.get, url: url, body: [])
        switch response.status {
        case 200:
            let scalars: [String: JSONScalar]
            do {
                scalars = try JSONDecoder().decode([String: JSONScalar].self, from: Data(response.body))
            } catch {
                throw .malformedResponse(status: response.status, reason: "\(error)", body: Self.excerpt(response))
            }
            var values: [String: CRMFieldValue] = [:]
            for (name, scalar) in scalars { if let value = scalar.value { values[name] = value } }
            var id: String?
            if case .string(let text)? = values.removeValue(forKey: "Id") { id = text }
            return FetchedRecord(id: id, fields: values, status: response.status, attempts: attempts)
        case 404:
            return nil
        case 300:
            throw .requestRejected(
                status: 300,
                errors: [
                    SalesforceRecordError(
                        code: "MULTIPLE_CHOICES",
                        message: "external id \(externalId) matches several \(object) records",
                        fields: [externalIdField])
                ])
        default:
            throw .requestRejected(status: response.status, errors: Self.errors(in: response))
        }
    }
}

extension CRMFieldValue {
    /// Whether a value read back from the CRM holds this value: numbers compared by value (an integer equals the
    /// same whole fraction, fractions to 12 significant digits), everything else exactly.
    public func isHeld(by stored: CRMFieldValue) -> Bool {
        switch (self, stored) {
        case (.double(let a), .double(let b)): abs(a - b) <= 1e-12 * max(1, abs(a), abs(b))
        case (.integer(let a), .double(let b)), (.double(let b), .integer(let a)): Double(a) == b
        default: self == stored
        }
    }
}

/// One member of a JSON object: a scalar, or nil for an object or array.
private struct JSONScalar: Decodable {
    var value: CRMFieldValue?

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            value = .null
        } else if let flag = try? container.decode(Bool.self) {
            value = .bool(flag)
        } else if let number = try? container.decode(Int64.self) {
            value = .integer(number)
        } else if let number = try? container.decode(Double.self) {
            value = .double(number)
        } else if let text = try? container.decode(String.self) {
            value = .string(text)
        } else {
            value = nil
        }
    }
}
