// Planning CRM writes: per call, the records a mapping produces from its transcript, QA results and metadata,
// compared field by field with what the log shows was last written to each record (every `crm.write`, merged
// oldest first, as an upsert leaves it). A field differs when it was never written, was written with another
// value, or its written value can no longer be read. Once a call's `crm.values` (what was written to the CRM) are
// erased, its personal fields are never planned again, even where their sources are still readable. A record whose
// last write was sent without its outcome being recorded (the apply was killed) is marked, so apply reads it back
// before sending it again.
import Dispatch
import LedgerCore
public import LedgerStore

/// A field whose produced value differs from the last one written.
public struct CRMFieldDiff: Sendable, Equatable, Encodable {
    /// The CRM field.
    public var field: String
    /// The value last written; nil when never written or unreadable.
    public var old: CRMValue?
    /// Why the old value is not known: `never written`, or the state of its erased data (`shredded`...).
    public var oldUnknown: String?
    /// The value the mapping produces.
    public var new: CRMValue
    /// Whether the field is personal (`crm.values`).
    public var personal: Bool
}

/// One record a plan writes.
public struct CRMPlannedRecord: Sendable, Equatable, Encodable {
    /// The call it describes.
    public var call: String
    /// The call's tenant.
    public var tenant: String
    /// The record.
    public var key: CRMRecordKey
    /// `create` (the log shows no write to it) or `update`.
    public var action: String
    /// The fields to write, in name order.
    public var changes: [CRMFieldDiff]
    /// Fields the mapping names but cannot fill, and why (never written, never cleared).
    public var unavailable: [String: String]
    /// The last write sent to this record when the log records no outcome for it; apply reads the record back
    /// and, when it already holds every changed value, records that instead of sending the write again.
    public var interrupted: CRMUnansweredWrite?

    /// A record with every property given.
    public init(
        call: String, tenant: String, key: CRMRecordKey, action: String, changes: [CRMFieldDiff],
        unavailable: [String: String], interrupted: CRMUnansweredWrite?
    ) {
        self.call = call
        self.tenant = tenant
        self.key = key
        self.action = action
        self.changes = changes
        self.unavailable = unavailable
        self.interrupted = interrupted
    }
}

/// What a mapping would write: the records that differ from what was written, and counts of the rest.
public struct CRMPlan: Sendable, Equatable, Encodable {
    /// The mapping's name.
    public var mapping: String
    /// Its version.
    public var version: String
    /// Its file's SHA-256, hex.
    public var digest: String
    /// Calls considered.
    public var calls: Int
    /// Records the mapping produced.
    public var records: Int
    /// Records whose every produced field equals what was last written.
    public var unchanged: Int
    /// Records not writable because their external id is unavailable.
    public var withoutExternalId: Int
    /// The records to write, by call then object.
    public var writes: [CRMPlannedRecord]
    /// Writes sent without a recorded outcome to records this plan does not write (the mapping no longer
    /// changes them): what they left in the CRM is unknown to the log.
    public var unanswered: [CRMUnansweredWrite]
    /// Field changes in all.
    public var fieldChanges: Int { writes.reduce(0) { $0 + $1.changes.count } }
    /// Wall-clock seconds the plan took.
    public var seconds: Double
}

extension ProjectionEngine {
    /// The plan of `mapping` over every call the transcript projection knows (or only `calls`), against the
    /// writes the log records; brings the transcript, retention and CRM projections up to date first and reads
    /// the QA projection's stored results for `qa.*` facts.
    public func crmPlan(_ mapping: CRMMapping, calls only: Set<String>? = nil) throws(LedgerError) -> CRMPlan {
        let start = DispatchTime.now().uptimeNanoseconds
        let transcripts = try currentState()
        let written = CRMState(file: try current(CRMFold.self))
        let retention = RetentionState(file: try current(RetentionFold.self))
        let erasedCalls = Set(try retention.purges(call: nil).filter { $0.dataClass == "crm.values" }.map(\.call))
        let qa = try QAState.open(in: directory)
        let end = reader.size
        var plan = CRMPlan(
            mapping: mapping.name, version: mapping.version, digest: mapping.digest.hex, calls: 0, records: 0,
            unchanged: 0, withoutExternalId: 0, writes: [], unanswered: [], seconds: 0)
        var unanswered = try written.unanswered()
        var contexts: [PlanWorker] = []
        for base in try workerContexts(transcripts) {
            let isOwn = base.engine === self
            contexts.append(
                PlanWorker(
                    base: base, written: isOwn ? written : CRMState(file: try base.engine.current(CRMFold.self)),
                    qa: isOwn ? qa : try QAState.open(in: directory)))
        }
        let summaries = try transcripts.summaries().filter { only?.contains($0.call) ?? true }
        try forEachInOrder(summaries, contexts: contexts) {
            (worker, summary) throws(LedgerError) -> [PlannedOutcome]? in
            try worker.base.engine.outcomes(
                of: summary, mapping: mapping, bound: end, erased: erasedCalls.contains(summary.call), worker: worker)
        } consume: { (_, outcomes) throws(LedgerError) in
            guard let outcomes else { return }
            plan.calls += 1
            plan.records += outcomes.count
            for outcome in outcomes {
                switch outcome {
                case .withoutExternalId: plan.withoutExternalId += 1
                case .unchanged: plan.unchanged += 1
                case .write(var record):
                    record.interrupted = unanswered.removeValue(forKey: record.key)
                    plan.writes.append(record)
                }
            }
        }
        plan.unanswered = unanswered.values.filter { only?.contains($0.call) ?? true }.sorted { $0.seq < $1.seq }
        plan.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return plan
    }

    /// What `mapping` makes of one call's records against the writes the log records, read through `worker`'s
    /// connections; nil when the call has no transcript.
    private func outcomes(
        of summary: CallSummary, mapping: CRMMapping, bound: UInt64, erased: Bool, worker: PlanWorker
    ) throws(LedgerError) -> [PlannedOutcome]? {
        guard let transcript = try transcript(call: summary.call, bound: bound, state: worker.base.state) else {
            return nil
        }
        let facts = CRMFacts(transcript: transcript, evaluations: try worker.qa.evaluations(call: summary.call))
        var outcomes: [PlannedOutcome] = []
        for produced in mapping.records(for: facts) {
            guard let externalId = produced.externalId else {
                outcomes.append(.withoutExternalId)
                continue
            }
            let key = CRMRecordKey(
                object: produced.object, externalIdField: produced.externalIdField, externalId: externalId)
            let written = try lastWritten(try worker.written.writes(to: key))
            if let record = planned(produced, key: key, call: summary, written: written, erased: erased) {
                outcomes.append(.write(record))
            } else {
                outcomes.append(.unchanged)
            }
        }
        return outcomes
    }

    /// The values the log shows `key` holds after its writes, by field: only those still readable (a value whose
    /// `crm.values` were erased is left out); nil when the log shows no write to it.
    public func crmWrittenValues(of key: CRMRecordKey) throws(LedgerError) -> [String: CRMValue]? {
        let written = CRMState(file: try current(CRMFold.self))
        guard let fields = try lastWritten(try written.writes(to: key)) else { return nil }
        var values: [String: CRMValue] = [:]
        for (name, field) in fields.values { if case .written(let value) = field { values[name] = value } }
        return values
    }

    /// The record to write for `produced`, or nil when nothing differs.
    private func planned(
        _ produced: CRMRecordValues, key: CRMRecordKey, call: CallSummary, written: WrittenFields?, erased: Bool
    ) -> CRMPlannedRecord? {
        let personal = Set(produced.personalFields)
        var unavailable = produced.unavailable.mapValues(\.description)
        var changes: [CRMFieldDiff] = []
        for field in produced.sortedFieldNames {
            let value = produced.fields[field]!
            if erased, personal.contains(field) {
                unavailable[field] = "not written again: the call's crm.values were erased"
                continue
            }
            let old = written?.field(field)
            if let old, case .written(let previous) = old, Self.same(previous, value) { continue }
            let unknown: String?
            switch old {
            case .written?: unknown = nil
            case .unreadable(let state)?: unknown = state
            case nil: unknown = "never written"
            }
            var oldValue: CRMValue?
            if case .written(let previous)? = old { oldValue = previous }
            changes.append(
                CRMFieldDiff(
                    field: field, old: oldValue, oldUnknown: unknown, new: value, personal: personal.contains(field)))
        }
        guard !changes.isEmpty else { return nil }
        return CRMPlannedRecord(
            call: call.call, tenant: call.tenant, key: key, action: written == nil ? "create" : "update",
            changes: changes, unavailable: unavailable, interrupted: nil)
    }

    /// Whether a written value equals a produced one; fractions are compared to 12 significant digits, since the
    /// log keeps a decimal as received and reading it back may differ in the last binary digit.
    private static func same(_ written: CRMValue, _ produced: CRMValue) -> Bool {
        switch (written, produced) {
        case (.double(let a), .double(let b)): abs(a - b) <= 1e-12 * max(1, abs(a), abs(b))
        case (.integer(let a), .double(let b)), (.double(let b), .integer(let a)): Double(a) == b
        default: written == produced
        }
    }

    /// What the log shows a record holds after `writes` (copies of `crm.write` events, oldest first), each
    /// upsert setting the fields it names; nil when there was none.
    private func lastWritten(_ writes: [(copy: [UInt8], mappingDigest: String?)]) throws(LedgerError) -> WrittenFields?
    {
        guard !writes.isEmpty else { return nil }
        var result = WrittenFields()
        for write in writes {
            var failure: LedgerError?
            write.copy.withUnsafeBytes { raw in
                do throws(LedgerError) {
                    let record: RecordView
                    do { record = try RecordView(raw) } catch {
                        throw .invalidRequest(
                            "a copied crm.write no longer parses: \(error); run `call-ledger rebuild crm`")
                    }
                    let body: EventValue
                    do {
                        body = try EventValue.body(of: record, parts: try reader.openParts(of: record))
                    } catch let error as LedgerError {
                        throw error
                    } catch {
                        throw .invalidRequest("event \(record.seq) (crm.write) cannot be read: \(error)")
                    }
                    switch body["fields"] {
                    case .object(let fields)?:
                        for (name, value) in fields {
                            if let field = WrittenFields.Field(value) { result.values[name] = field }
                        }
                    case .unavailable(_, let state)?:
                        result.unreadable = state
                    default:
                        break
                    }
                } catch {
                    failure = error
                }
            }
            if let failure { throw failure }
        }
        return result
    }
}

/// A record's fields as the log's writes left them.
private struct WrittenFields {
    enum Field: Equatable {
        case written(CRMValue)
        case unreadable(String)

        /// A written value from an event body, unreadable when sealed out of reach.
        init?(_ value: EventValue) {
            switch value {
            case .string(let text): self = .written(.string(text))
            case .integer(let number): self = .written(.integer(number))
            case .number(let number): self = .written(.double(number))
            case .boolean(let flag): self = .written(.bool(flag))
            case .null: self = .written(.null)
            case .unavailable(_, let state): self = .unreadable(state)
            default: return nil
            }
        }
    }

    /// The fields written, by name.
    var values: [String: Field] = [:]
    /// Set when a write's fields could not be opened at all (their names unknown too): why.
    var unreadable: String?

    /// What is known of `name`: written, unreadable, or (nil) never written.
    func field(_ name: String) -> Field? {
        values[name] ?? unreadable.map { .unreadable($0) }
    }
}

/// A plan worker's connections: its reader and transcript state, the CRM state and the QA results.
private struct PlanWorker {
    let base: WorkerContext
    let written: CRMState
    let qa: QAState
}

/// What the plan makes of one produced record.
private enum PlannedOutcome {
    /// The mapping gave it no external id.
    case withoutExternalId
    /// The log shows the CRM already holds every value.
    case unchanged
    /// Values differ: the record to write.
    case write(CRMPlannedRecord)
}
