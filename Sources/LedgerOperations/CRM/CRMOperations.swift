// CRM: what a mapping would write (plan), and writing it (apply) with a kill-safe send/confirm/close loop: every
// record's crm.write.started is durable before it is sent, every outcome is recorded, and an interrupted write is
// read back before anything is sent again.
import Foundation
public import LedgerConnectors
import LedgerCore
public import LedgerProjections
import LedgerStore

/// The CRM records and fields a mapping would write, each field compared with what the log shows was last written.
/// Brings the projections up to date first (the QA projection too when scorecards are given).
public struct CRMPlanOperation: Sendable {
    /// The ledger.
    public var ledger: LedgerLocation
    /// The mapping.
    public var mapping: CRMMapping
    /// The QA scorecards in use (recorded in the log first), if any.
    public var scorecards: [QAScorecardFile]
    /// Only these calls (all when nil).
    public var calls: Set<String>?

    /// The plan of `mapping` for `calls`.
    public init(ledger: LedgerLocation, mapping: CRMMapping, scorecards: [QAScorecardFile], calls: Set<String>?) {
        self.ledger = ledger
        self.mapping = mapping
        self.scorecards = scorecards
        self.calls = calls
    }

    /// The plan.
    public func run() throws -> CRMPlan {
        let engine = try QAScorecardRecording.engine(recording: scorecards, ledger: ledger)
        _ = try engine.catchUp(scorecards.isEmpty ? ["transcript", "retention", "crm"] : [])
        return try engine.crmPlan(mapping, calls: calls)
    }
}

/// Writes what the CRM plan lists to Salesforce, recording every outcome in the log.
public struct CRMApplyOperation: Sendable {
    /// What an apply did.
    public struct Summary: Sendable, Equatable, Encodable {
        /// The mapping's name.
        public var mapping: String
        /// Its version.
        public var version: String
        /// Its file's SHA-256, hex.
        public var digest: String
        /// Records the plan lists.
        public var planned: Int
        /// Records written.
        public var written: Int
        /// Of those, records created.
        public var created: Int
        /// Interrupted writes found already applied on read-back, recorded without being sent again.
        public var confirmed: Int
        /// Records that failed.
        public var failed: Int
        /// Collection requests sent.
        public var requests: Int
        /// The most attempts one request took.
        public var attempts: Int
        /// One line per failed record: object, external id and reason.
        public var failures: [String]
        /// Interrupted writes to records the plan no longer writes, left unconfirmed.
        public var unanswered: Int
        /// Planned records not sent because apply stopped: a whole request went unanswered after its retries.
        public var notAttempted: Int
        /// Seconds the apply took.
        public var seconds: Double
    }

    /// The ledger.
    public var ledger: LedgerLocation
    /// The mapping.
    public var mapping: CRMMapping
    /// The file it was read from (recorded in `projection.definition.changed`).
    public var mappingFile: String
    /// The QA scorecards in use (recorded in the log first), if any.
    public var scorecards: [QAScorecardFile]
    /// Only these calls (all when nil).
    public var calls: Set<String>?
    /// Records per collection request (1 to `SalesforceClient.collectionLimit`).
    public var batchSize: Int
    /// Where and how to reach Salesforce.
    public var configuration: SalesforceClient.Configuration

    /// Applying `mapping` (read from `mappingFile`) to `calls` through the CRM `configuration` names.
    public init(
        ledger: LedgerLocation, mapping: CRMMapping, mappingFile: String, scorecards: [QAScorecardFile],
        calls: Set<String>?, batchSize: Int, configuration: SalesforceClient.Configuration
    ) {
        self.ledger = ledger
        self.mapping = mapping
        self.mappingFile = mappingFile
        self.scorecards = scorecards
        self.calls = calls
        self.batchSize = batchSize
        self.configuration = configuration
    }

    /// Applies: records the mapping's digest when the log does not (`projection.definition.changed`), brings the
    /// projections up to date and plans; confirms interrupted writes by reading them back and closes those the plan
    /// no longer writes; then, per object and external-id field, `batchSize` records at a time, appends their
    /// `crm.write.started`, sends them and appends their outcomes. Stops after a request that went unanswered
    /// after its retries; a 401 ends it with an error. `progress` hears stage `crm apply`.
    public func run(progress: any OperationProgress = NoProgress()) throws -> Summary {
        guard batchSize >= 1 else {
            throw LedgerError.invalidRequest("the batch size must be between 1 and \(SalesforceClient.collectionLimit)")
        }
        let start = Date()
        var engine = try QAScorecardRecording.engine(recording: scorecards, ledger: ledger)
        let writer = try ledger.writer()
        defer { try? writer.close() }
        if try engine.recordedDefinitionDigest(projection: "crm", name: mapping.name) != mapping.digest.hex {
            _ = try OwnEventLog.append(
                [
                    DefinitionChangedEvent(
                        projection: "crm",
                        definition: DefinitionReference(
                            name: mapping.name, version: mapping.version, digest: mapping.digest.hex),
                        path: mappingFile, tenant: "*", logSize: engine.reader.size)
                ], with: writer)
            let scorecards = engine.scorecards
            engine = ProjectionEngine(reader: try ledger.reader())
            engine.scorecards = scorecards
        }
        _ = try engine.catchUp(scorecards.isEmpty ? ["transcript", "retention", "crm"] : [])
        let plan = try engine.crmPlan(mapping, calls: calls)
        let client = try SalesforceClient(configuration: configuration)
        var summary = Summary(
            mapping: mapping.name, version: mapping.version, digest: mapping.digest.hex, planned: plan.writes.count,
            written: 0, created: 0, confirmed: 0, failed: 0, requests: 0, attempts: 0, failures: [],
            unanswered: plan.unanswered.count, notAttempted: 0, seconds: 0)
        let pending = try confirmInterrupted(plan.writes, with: client, writer: writer, summary: &summary)
        try closeUnplanned(plan.unanswered, engine: engine, with: client, writer: writer, summary: &summary)
        let requestKey = "\(mapping.digest.hex.prefix(16)):\(engine.reader.size)"
        let groups = Dictionary(grouping: pending) { "\($0.key.object)\u{0}\($0.key.externalIdField)" }
        sending: for groupKey in groups.keys.sorted() {
            for batch in (groups[groupKey] ?? []).chunked(by: batchSize) {
                _ = try OwnEventLog.append(
                    batch.map { CRMWriteEvents.started($0, mapping: mapping, requestKey: requestKey) }, with: writer)
                let (outcomes, unanswered) = try send(batch, with: client)
                summary.requests += 1
                var events: [CRMWriteOutcomeEvent] = []
                for (record, outcome) in zip(batch, outcomes) {
                    events.append(
                        CRMWriteEvents.outcome(record, outcome: outcome, mapping: mapping, requestKey: requestKey))
                    summary.attempts = max(summary.attempts, outcome.attempts)
                    if outcome.succeeded {
                        summary.written += 1
                        if outcome.created == true { summary.created += 1 }
                    } else {
                        summary.failed += 1
                        summary.failures.append(
                            "\(record.key.object) \(record.key.externalId): \(outcome.errorText ?? "failed")")
                    }
                }
                _ = try OwnEventLog.append(events, with: writer)
                if let refused = outcomes.first(where: { $0.status == 401 }) {
                    throw LedgerError.invalidRequest(refused.errorText ?? "Salesforce refused the token")
                }
                progress.update(
                    "crm apply", done: UInt64(summary.written + summary.failed), total: UInt64(pending.count))
                if unanswered {
                    summary.notAttempted = pending.count - summary.written - summary.failed
                    break sending
                }
            }
        }
        progress.finish("crm apply")
        summary.seconds = Date().timeIntervalSince(start)
        return summary
    }

    /// Upserts `batch` (records of one object and external-id field); a request that fails as a whole (after its
    /// retries, or refused with 401) becomes a failed outcome for each record, status 0 when no HTTP answer came.
    /// `unanswered` is true when the request got no usable answer after its retries (timeouts, dropped
    /// connections, 429 or 5xx to the end): the CRM is unavailable, and sending more batches would only wait
    /// through their retries too.
    private func send(
        _ batch: [CRMPlannedRecord], with client: SalesforceClient
    ) throws -> (outcomes: [UpsertOutcome], unanswered: Bool) {
        guard let first = batch.first else { return ([], false) }
        let records = batch.map { record in
            CRMRecord(
                externalId: record.key.externalId,
                fields: Dictionary(
                    record.changes.map { ($0.field, CRMFieldValue($0.new)) }, uniquingKeysWith: { _, last in last }))
        }
        do {
            let outcomes = try client.upsertCollection(
                object: first.key.object, externalIdField: first.key.externalIdField, records: records)
            return (outcomes, false)
        } catch {
            var status = 0
            var attempts = 1
            var unanswered = false
            switch error {
            case .requestRejected(let code, _), .unauthorized(let code, _): status = code
            case .retriesExhausted(let count, _):
                attempts = count
                unanswered = true
            case .transport: unanswered = true
            default: break
            }
            let outcomes = records.map {
                UpsertOutcome(
                    externalId: $0.externalId, succeeded: false, status: status, attempts: attempts, id: nil,
                    created: nil,
                    errors: [SalesforceRecordError(code: "REQUEST_FAILED", message: "\(error)", fields: [])])
            }
            return (outcomes, unanswered)
        }
    }

    /// Reads back every planned record whose last write has no recorded outcome (an apply killed between sending
    /// and recording): when the CRM already holds every changed value, records `crm.write` with `read_back` under
    /// the interrupted write's request key instead of sending it again; otherwise records `crm.write.failed`
    /// (`read_back`, `NOT_CONFIRMED`) under that key and sends it again. Returns the records still to send; a record
    /// that cannot be read back is reported failed and not sent, since it may have been written.
    private func confirmInterrupted(
        _ writes: [CRMPlannedRecord], with client: SalesforceClient, writer: LedgerWriter, summary: inout Summary
    ) throws -> [CRMPlannedRecord] {
        var pending: [CRMPlannedRecord] = []
        var events: [CRMWriteOutcomeEvent] = []
        for record in writes {
            guard let interrupted = record.interrupted else {
                pending.append(record)
                continue
            }
            let fetched: FetchedRecord?
            do {
                fetched = try client.record(
                    object: record.key.object, externalIdField: record.key.externalIdField,
                    externalId: record.key.externalId, fields: record.changes.map(\.field))
            } catch {
                if case .unauthorized = error { throw LedgerError.invalidRequest("Salesforce refused: \(error)") }
                summary.failed += 1
                summary.failures.append(
                    "\(record.key.object) \(record.key.externalId): its write of seq \(interrupted.seq) has no "
                        + "recorded outcome and reading it back failed (\(error)); not sent again, run apply later")
                continue
            }
            guard let fetched,
                record.changes.allSatisfy({ change in
                    fetched.fields[change.field].map { CRMFieldValue(change.new).isHeld(by: $0) } ?? false
                })
            else {
                let lost = Self.notConfirmed(
                    record.key, fetched: fetched,
                    "the record does not hold the values planned now, so this write did not land or wrote "
                        + "other values; sent again")
                events.append(
                    CRMWriteEvents.outcome(
                        record, outcome: lost, mapping: mapping, requestKey: interrupted.requestKey, readBack: true))
                pending.append(record)
                continue
            }
            let outcome = UpsertOutcome(
                externalId: record.key.externalId, succeeded: true, status: fetched.status,
                attempts: fetched.attempts, id: fetched.id, created: nil, errors: [])
            events.append(
                CRMWriteEvents.outcome(
                    record, outcome: outcome, mapping: mapping, requestKey: interrupted.requestKey, readBack: true))
            summary.confirmed += 1
        }
        if !events.isEmpty { _ = try OwnEventLog.append(events, with: writer) }
        return pending
    }

    /// Reads back each unanswered write to a record the plan no longer writes. When the record holds, for every
    /// field that write named, the value the log last recorded (or neither the CRM nor the log has the record),
    /// records `crm.write.failed` (`read_back`, `NOT_CONFIRMED`) under its request key: the CRM agrees with the log
    /// whatever became of that write. Otherwise the CRM holds values the log does not record (the write probably
    /// landed); it stays unanswered and is counted in `unanswered`.
    private func closeUnplanned(
        _ writes: [CRMUnansweredWrite], engine: ProjectionEngine, with client: SalesforceClient,
        writer: LedgerWriter, summary: inout Summary
    ) throws {
        var events: [CRMWriteOutcomeEvent] = []
        for write in writes {
            let fetched: FetchedRecord?
            do {
                fetched = try client.record(
                    object: write.key.object, externalIdField: write.key.externalIdField,
                    externalId: write.key.externalId, fields: write.fieldNames)
            } catch {
                if case .unauthorized = error { throw LedgerError.invalidRequest("Salesforce refused: \(error)") }
                continue
            }
            let recorded = try engine.crmWrittenValues(of: write.key)
            let agrees: Bool
            switch (fetched, recorded) {
            case (nil, nil): agrees = true
            case (let fetched?, let recorded?):
                agrees = write.fieldNames.allSatisfy { name in
                    guard let value = recorded[name], let stored = fetched.fields[name] else { return false }
                    return CRMFieldValue(value).isHeld(by: stored)
                }
            default: agrees = false
            }
            guard agrees else { continue }
            let record = CRMPlannedRecord(
                call: write.call, tenant: write.tenant, key: write.key, action: "update", changes: [],
                unavailable: [:], interrupted: write)
            let outcome = Self.notConfirmed(
                write.key, fetched: fetched,
                "the record holds the values the log last recorded and the mapping no longer changes it; not "
                    + "sent again")
            events.append(
                CRMWriteEvents.outcome(
                    record, outcome: outcome, mapping: mapping, requestKey: write.requestKey, readBack: true))
            summary.unanswered -= 1
        }
        if !events.isEmpty { _ = try OwnEventLog.append(events, with: writer) }
    }

    /// The outcome recorded for an interrupted write to `key` that a read-back (`fetched`, nil for 404) does not
    /// confirm: `NOT_CONFIRMED`, with the read's status and `conclusion`.
    private static func notConfirmed(
        _ key: CRMRecordKey, fetched: FetchedRecord?, _ conclusion: String
    ) -> UpsertOutcome {
        let status = fetched?.status ?? 404
        return UpsertOutcome(
            externalId: key.externalId, succeeded: false, status: status, attempts: fetched?.attempts ?? 1,
            id: fetched?.id, created: nil,
            errors: [
                SalesforceRecordError(
                    code: "NOT_CONFIRMED",
                    message: "apply was interrupted before recording an outcome; read back (HTTP \(status)), "
                        + conclusion)
            ])
    }
}

extension CRMFieldValue {
    /// The connector's form of a mapping's value.
    public init(_ value: CRMValue) {
        switch value {
        case .string(let text): self = .string(text)
        case .integer(let number): self = .integer(number)
        case .double(let number): self = .double(number)
        case .bool(let flag): self = .bool(flag)
        case .null: self = .null
        }
    }
}
