// The CRM write events crm apply appends: crm.write.started before sending, crm.write or crm.write.failed with the
// outcome, built from the plan's records.
public import LedgerConnectors
public import LedgerCore
public import LedgerProjections

/// Builds the CRM write events of planned records.
public enum CRMWriteEvents {
    /// The record and request `record` is written under by `mapping`.
    public static func target(_ record: CRMPlannedRecord, mapping: CRMMapping, requestKey: String) -> CRMWriteTarget {
        CRMWriteTarget(
            system: mapping.system, call: record.call, tenant: record.tenant, object: record.key.object,
            externalIdField: record.key.externalIdField, externalId: record.key.externalId,
            mapping: DefinitionReference(name: mapping.name, version: mapping.version, digest: mapping.digest.hex),
            requestKey: requestKey)
    }

    /// The `crm.write.started` appended before `record` is sent under `requestKey`.
    public static func started(
        _ record: CRMPlannedRecord, mapping: CRMMapping, requestKey: String
    ) -> CRMWriteStartedEvent {
        CRMWriteStartedEvent(
            target: target(record, mapping: mapping, requestKey: requestKey), fieldNames: record.changes.map(\.field))
    }

    /// The `crm.write` or `crm.write.failed` recording `outcome` of `record`, sent under `requestKey`; `readBack`
    /// when the outcome was read back after an interrupted apply rather than answered.
    public static func outcome(
        _ record: CRMPlannedRecord, outcome: UpsertOutcome, mapping: CRMMapping, requestKey: String,
        readBack: Bool = false
    ) -> CRMWriteOutcomeEvent {
        CRMWriteOutcomeEvent(
            target: target(record, mapping: mapping, requestKey: requestKey), succeeded: outcome.succeeded,
            fields: fields(record.changes.map { ($0.field, $0.new) }), status: outcome.status,
            attempts: outcome.attempts, recordId: outcome.id, error: outcome.errorText, readBack: readBack)
    }

    /// The `fields` object of a CRM write: each field once (the last value given wins), keys in the order the
    /// ledger has always recorded them (`JSONSerialization`'s sorted-keys order).
    public static func fields(_ values: [(field: String, value: CRMValue)]) -> [OwnEventMember] {
        var latest: [String: CRMValue] = [:]
        for (field, value) in values { latest[field] = value }
        return latest.keys.sorted(by: JSONKeyOrder.precedes).compactMap { field in
            latest[field].map { OwnEventMember(field, Self.value($0)) }
        }
    }

    /// A mapping's value as an event value.
    static func value(_ value: CRMValue) -> OwnEventValue {
        switch value {
        case .string(let text): .string(text)
        case .integer(let number): .integer(number)
        case .double(let number): .double(number)
        case .bool(let flag): .bool(flag)
        case .null: .null
        }
    }
}
