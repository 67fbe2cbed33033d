// call-ledger crm: what a CRM mapping would write (plan), and writing it (apply), each field compared with what
// the log shows was last written.
import ArgumentParser
import Foundation
import LedgerConnectors
import LedgerCore
import LedgerProjections
import LedgerStore

/// Which mapping to use: `--mapping FILE`, or a version (`2`, `voicecall@2`, or a file's base name such as
/// `voicecall-v1`) of the mappings in `$CALL_LEDGER_MAPPINGS`, else `Projections/crm`; by default the newest version
/// there.
struct MappingOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The mapping: a file, or a version (2, voicecall@2, voicecall-v1) of those in $CALL_LEDGER_MAPPINGS, else Projections/crm (default: the newest version there).",
            valueName: "file|version"))
    var mapping: String?

    /// The mapping and its file, or exit 2 naming the file, member and reason when it is refused, or 1 when
    /// none matches.
    func load() throws -> (file: String, mapping: CRMMapping) {
        func parse(_ file: String) throws -> CRMMapping {
            try CRMMapping.parse(Array(try InputFile.read(file)), file: file)
        }
        do {
            if let mapping, InputFile.looksLikePath(mapping) { return (mapping, try parse(mapping)) }
            let folder = ProcessInfo.processInfo.environment["CALL_LEDGER_MAPPINGS"] ?? "Projections/crm"
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
                Output.error("call-ledger: error: cannot read the mapping directory \(folder): pass --mapping FILE")
                throw ExitCode(1)
            }
            var candidates: [(file: String, mapping: CRMMapping)] = []
            for name in names.sorted() where name.hasSuffix(".yaml") {
                let file = (folder as NSString).appendingPathComponent(name)
                let parsed = try parse(file)
                let base = String(name.dropLast(".yaml".count))
                if let mapping, ![parsed.version, "\(parsed.name)@\(parsed.version)", base].contains(mapping) {
                    continue
                }
                candidates.append((file, parsed))
            }
            let mappingNames = Set(candidates.map(\.mapping.name))
            guard mappingNames.count == 1 else {
                let found = candidates.map { "\($0.mapping.name)@\($0.mapping.version)" }.joined(separator: ", ")
                Output.error(
                    "call-ledger: error: "
                        + (candidates.isEmpty
                            ? "no mapping in \(folder) matches '\(mapping ?? "")'"
                            : "several mappings in \(folder) match (\(found)): pass --mapping NAME@VERSION or FILE"))
                throw ExitCode(1)
            }
            return candidates.max {
                $0.mapping.version.compare($1.mapping.version, options: .numeric) == .orderedAscending
            }!
        } catch let error as DefinitionError {
            Output.error("call-ledger: rejected \(error)")
            throw ExitCode(2)
        }
    }
}

struct CRMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm",
        abstract: "Plan and apply CRM writes from a mapping (Projections/crm/README.md).",
        subcommands: [Plan.self, Apply.self])

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the CRM records and fields a mapping would write, with old and new values.",
            discussion: """
                For every call, the mapping's records are computed from the transcript (metadata, entities, \
                sentiment, summary, categories) and the QA projection's results, and compared field by field with \
                what the log's crm.write events last wrote to the same record (object and external id). A field is \
                listed when it was never written, was written with another value, or its written value can no \
                longer be read. Fields the mapping cannot fill (absent, or erased) are never written or cleared; \
                once a call's crm.values were erased, its personal fields are not written again. Brings the \
                projections up to date first (and the QA projection when scorecards are found); appends nothing \
                else.
                """)

        @OptionGroup var options: LedgerOptions
        @OptionGroup var mapping: MappingOptions
        @OptionGroup var scorecards: ScorecardOptions

        @Option(name: .customLong("call"), help: ArgumentHelp("Only this call (repeatable).", valueName: "id"))
        var calls: [String] = []

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let directory = try options.directory()
            let (_, loaded) = try mapping.load()
            let qa = try scorecards.load(required: false)
            try reportingErrors {
                let engine = try QAProjection.engine(recording: qa, directory: directory, options: options)
                _ = try engine.catchUp(qa.isEmpty ? ["transcript", "retention", "crm"] : [])
                let plan = try engine.crmPlan(loaded, calls: calls.isEmpty ? nil : Set(calls))
                if json {
                    try Output.json(plan, snakeCase: true)
                    return
                }
                printPlan(plan)
            }
        }
    }
}

extension CRMCommand {
    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write what `crm plan` lists to Salesforce, recording every outcome in the log.",
            discussion: """
                Sends the changed fields of each planned record by sObject Collections upsert on its external id \
                (PATCH /services/data/vNN.N/composite/sobjects/{Object}/{ExternalIdField}, up to 200 records a \
                request, allOrNone false), retrying 429, 5xx, timeouts and dropped connections with exponential \
                backoff and jitter. Each record's outcome is appended as crm.write (written) or crm.write.failed \
                (refused by Salesforce, with its code: DUPLICATE_EXTERNAL_ID when the external id matches several \
                records, INVALID_FIELD...; or the request failed after its retries, status 0 when no HTTP answer \
                came), with the mapping's name, version and digest, the \
                HTTP status, attempts and the Salesforce id; a batch's events are appended together once its \
                answer is in, and a crm.write.started per record is appended durably before it is sent. When the \
                log does not record the mapping's digest, projection.definition.changed is appended first. Run \
                again, apply writes only what still differs. Killed between sending and recording, the next apply \
                finds the unanswered crm.write.started, reads the record back and, when it already holds the \
                values, records crm.write (read_back) instead of sending them again; a record it cannot read back \
                is reported failed and not sent. When a whole request goes unanswered after its retries (timeouts, \
                dropped connections, 429 or 5xx to the end), its records are recorded as failed and apply stops \
                there with exit code 1, leaving the rest for the next run. Configuration: \
                CALL_LEDGER_CRM_URL (instance URL), CALL_LEDGER_CRM_TOKEN (bearer token), optional \
                CALL_LEDGER_CRM_API_VERSION (default 62.0).
                """)

        @OptionGroup var options: LedgerOptions
        @OptionGroup var mapping: MappingOptions
        @OptionGroup var scorecards: ScorecardOptions
        @OptionGroup var lock: WriterLockOptions

        @Option(name: .customLong("call"), help: ArgumentHelp("Only this call (repeatable).", valueName: "id"))
        var calls: [String] = []

        @Option(help: "Records per collection request (1 to 200).")
        var batchSize = 200

        @Flag(help: "Print a JSON summary.")
        var json = false

        func validate() throws {
            guard (1...SalesforceClient.collectionLimit).contains(batchSize) else {
                throw ValidationError("--batch-size must be between 1 and \(SalesforceClient.collectionLimit)")
            }
        }

        /// What an apply did.
        struct Summary: Encodable {
            var mapping: String
            var version: String
            var digest: String
            var planned: Int
            var written: Int
            var created: Int
            /// Interrupted writes found already applied on read-back, recorded without being sent again.
            var confirmed: Int
            var failed: Int
            var requests: Int
            var attempts: Int
            var failures: [String]
            /// Interrupted writes to records the plan no longer writes, left unconfirmed.
            var unanswered: Int
            /// Planned records not sent because apply stopped: a whole request went unanswered after its retries.
            var notAttempted: Int
            var seconds: Double
        }

        func run() throws {
            let directory = try options.directory()
            let (file, loaded) = try mapping.load()
            let qa = try scorecards.load(required: false)
            let configuration: SalesforceClient.Configuration
            do { configuration = try SalesforceClient.Configuration.fromEnvironment() } catch {
                Output.error("call-ledger: error: \(error)")
                throw ExitCode(1)
            }
            let start = Date()
            let summary = try reportingErrors { () throws -> Summary in
                var engine = try QAProjection.engine(
                    recording: qa, directory: directory, options: options, lockWait: lock.wait)
                let writer = try LedgerWriter(
                    directory: directory, keyFilePath: options.keyFilePath, lockWait: lock.wait)
                defer { try? writer.close() }
                if try engine.recordedDefinitionDigest(projection: "crm", name: loaded.name) != loaded.digest.hex {
                    _ = try OwnEvents.append(
                        [
                            OwnEvents.definitionChanged(
                                projection: "crm", name: loaded.name, version: loaded.version,
                                digest: loaded.digest.hex, path: file, tenant: "*", logSize: engine.reader.size)
                        ], with: writer)
                    let scorecards = engine.scorecards
                    engine = ProjectionEngine(
                        reader: try LedgerReader(directory: directory, keyFilePath: options.keyFilePath))
                    engine.scorecards = scorecards
                }
                _ = try engine.catchUp(qa.isEmpty ? ["transcript", "retention", "crm"] : [])
                let plan = try engine.crmPlan(loaded, calls: calls.isEmpty ? nil : Set(calls))
                let client = try SalesforceClient(configuration: configuration)
                var summary = Summary(
                    mapping: loaded.name, version: loaded.version, digest: loaded.digest.hex,
                    planned: plan.writes.count, written: 0, created: 0, confirmed: 0, failed: 0, requests: 0,
                    attempts: 0, failures: [], unanswered: plan.unanswered.count, notAttempted: 0, seconds: 0)
                let pending = try confirmInterrupted(
                    plan.writes, mapping: loaded, with: client, writer: writer, summary: &summary)
                try closeUnplanned(
                    plan.unanswered, engine: engine, mapping: loaded, with: client, writer: writer, summary: &summary)
                let requestKey = "\(loaded.digest.hex.prefix(16)):\(engine.reader.size)"
                var bar = ProgressBar(label: "crm apply")
                let groups = Dictionary(grouping: pending) { "\($0.key.object)\u{0}\($0.key.externalIdField)" }
                sending: for groupKey in groups.keys.sorted() {
                    for batch in groups[groupKey]!.chunked(by: batchSize) {
                        _ = try OwnEvents.append(
                            batch.map { Self.startedEvent($0, mapping: loaded, requestKey: requestKey) }, with: writer)
                        let (outcomes, unanswered) = try send(batch, with: client)
                        summary.requests += 1
                        var events: [[String: Any]] = []
                        for (record, outcome) in zip(batch, outcomes) {
                            events.append(Self.event(record, outcome: outcome, mapping: loaded, requestKey: requestKey))
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
                        _ = try OwnEvents.append(events, with: writer)
                        if let refused = outcomes.first(where: { $0.status == 401 }) {
                            throw LedgerError.invalidRequest(refused.errorText ?? "Salesforce refused the token")
                        }
                        bar.update(
                            done: UInt64(summary.written + summary.failed), total: UInt64(pending.count))
                        if unanswered {
                            summary.notAttempted = pending.count - summary.written - summary.failed
                            break sending
                        }
                    }
                }
                bar.finish()
                summary.seconds = Date().timeIntervalSince(start)
                return summary
            }
            if json {
                try Output.json(summary, snakeCase: true)
            } else {
                Output.line(
                    "\(summary.mapping)@\(summary.version): \(summary.planned) records planned, \(summary.written) "
                        + "written (\(summary.created) created), \(summary.confirmed) confirmed by read-back, "
                        + "\(summary.failed) failed, \(summary.requests) requests, "
                        + String(format: "%.2f s", summary.seconds))
                for failure in summary.failures { Output.line("  failed: \(failure)") }
                if summary.notAttempted > 0 {
                    Output.line(
                        "  stopped: a request went unanswered after its retries; \(summary.notAttempted) records "
                            + "not sent, run apply again once the CRM answers")
                }
                if summary.unanswered > 0 {
                    Output.line(
                        "  \(summary.unanswered) earlier writes have no recorded outcome and this mapping no longer "
                            + "changes their records (`crm plan --json` lists them under unanswered)")
                }
            }
            if summary.failed > 0 { throw ExitCode(1) }
        }

        /// Upserts `batch` (records of one object and external-id field); a request that fails as a whole
        /// (after its retries, or refused with 401) becomes a failed outcome for each record, status 0 when no HTTP
        /// answer came. `unanswered` is true when the request got no usable answer after its retries (timeouts,
        /// dropped connections, 429 or 5xx to the end): the CRM is unavailable, and sending more batches would only
        /// wait through their retries too.
        private func send(
            _ batch: [CRMPlannedRecord], with client: SalesforceClient
        ) throws -> (outcomes: [UpsertOutcome], unanswered: Bool) {
            let records = batch.map { record in
                CRMRecord(
                    externalId: record.key.externalId,
                    fields: Dictionary(uniqueKeysWithValues: record.changes.map { ($0.field, CRMFieldValue($0.new)) }))
            }
            do {
                let outcomes = try client.upsertCollection(
                    object: batch[0].key.object, externalIdField: batch[0].key.externalIdField, records: records)
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

        /// Reads back every planned record whose last write has no recorded outcome (an apply killed between
        /// sending and recording): when the CRM already holds every changed value, records `crm.write` with
        /// `read_back` under the interrupted write's request key instead of sending it again; otherwise records
        /// `crm.write.failed` (`read_back`, `NOT_CONFIRMED`) under that key and sends it again. Returns the records
        /// still to send; a record that cannot be read back is reported failed and not sent, since it may have been
        /// written.
        private func confirmInterrupted(
            _ writes: [CRMPlannedRecord], mapping loaded: CRMMapping, with client: SalesforceClient,
            writer: LedgerWriter, summary: inout Summary
        ) throws -> [CRMPlannedRecord] {
            var pending: [CRMPlannedRecord] = []
            var events: [[String: Any]] = []
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
                        Self.event(
                            record, outcome: lost, mapping: loaded, requestKey: interrupted.requestKey, readBack: true))
                    pending.append(record)
                    continue
                }
                let outcome = UpsertOutcome(
                    externalId: record.key.externalId, succeeded: true, status: fetched.status,
                    attempts: fetched.attempts, id: fetched.id, created: nil, errors: [])
                events.append(
                    Self.event(
                        record, outcome: outcome, mapping: loaded, requestKey: interrupted.requestKey, readBack: true))
                summary.confirmed += 1
            }
            if !events.isEmpty { _ = try OwnEvents.append(events, with: writer) }
            return pending
        }

        /// Reads back each unanswered write to a record the plan no longer writes. When the record holds, for
        /// every field that write named, the value the log last recorded (or neither the CRM nor the log has the
        /// record), records `crm.write.failed` (`read_back`, `NOT_CONFIRMED`) under its request key: the CRM agrees
        /// with the log whatever became of that write. Otherwise the CRM holds values the log does not record (the
        /// write probably landed); it stays unanswered and is counted in `unanswered`.
        private func closeUnplanned(
            _ writes: [CRMUnansweredWrite], engine: ProjectionEngine, mapping loaded: CRMMapping,
            with client: SalesforceClient, writer: LedgerWriter, summary: inout Summary
        ) throws {
            var events: [[String: Any]] = []
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
                    Self.event(record, outcome: outcome, mapping: loaded, requestKey: write.requestKey, readBack: true))
                summary.unanswered -= 1
            }
            if !events.isEmpty { _ = try OwnEvents.append(events, with: writer) }
        }

        /// The outcome recorded for an interrupted write to `key` that a read-back (`fetched`, nil for 404) does
        /// not confirm: `NOT_CONFIRMED`, with the read's status and `conclusion`.
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

        /// The `crm.write.started` appended before `record` is sent under `requestKey`.
        private static func startedEvent(
            _ record: CRMPlannedRecord, mapping: CRMMapping, requestKey: String
        ) -> [String: Any] {
            [
                "type": EventType.crmWriteStarted.rawValue, "call": record.call, "tenant": record.tenant,
                "source": "crm/\(mapping.system)",
                "idempotency": "crm-started:\(record.key.object):\(record.key.externalId):\(requestKey)",
                "body": [
                    "system": mapping.system, "object": record.key.object,
                    "external_id_field": record.key.externalIdField, "external_id": record.key.externalId,
                    "field_names": record.changes.map(\.field),
                    "mapping": ["name": mapping.name, "version": mapping.version, "digest": mapping.digest.hex],
                    "request_key": requestKey,
                ] as [String: Any],
            ]
        }

        /// The `crm.write` or `crm.write.failed` recording `outcome` of `record`, sent under `requestKey`;
        /// `readBack` when the outcome was read back after an interrupted apply rather than answered.
        private static func event(
            _ record: CRMPlannedRecord, outcome: UpsertOutcome, mapping: CRMMapping, requestKey: String,
            readBack: Bool = false
        ) -> [String: Any] {
            var fields: [String: Any] = [:]
            for change in record.changes { fields[change.field] = change.new.jsonObject }
            var body: [String: Any] = [
                "system": mapping.system, "object": record.key.object,
                "external_id_field": record.key.externalIdField, "external_id": record.key.externalId,
                "fields": fields,
                "mapping": ["name": mapping.name, "version": mapping.version, "digest": mapping.digest.hex],
                "request_key": requestKey, "status": outcome.status, "attempts": outcome.attempts,
            ]
            if let id = outcome.id { body["record_id"] = id }
            if let error = outcome.errorText { body["error"] = error }
            if readBack { body["read_back"] = true }
            return [
                "type": outcome.succeeded ? EventType.crmWrite.rawValue : EventType.crmWriteFailed.rawValue,
                "call": record.call, "tenant": record.tenant, "source": "crm/\(mapping.system)",
                "idempotency": "crm:\(record.key.object):\(record.key.externalId):\(requestKey)", "body": body,
            ]
        }
    }
}

extension CRMFieldValue {
    /// The connector's form of a mapping's value.
    init(_ value: CRMValue) {
        switch value {
        case .string(let text): self = .string(text)
        case .integer(let number): self = .integer(number)
        case .double(let number): self = .double(number)
        case .bool(let flag): self = .bool(flag)
        case .null: self = .null
        }
    }
}

extension CRMValue {
    /// The value as `JSONSerialization` takes it.
    var jsonObject: Any {
        switch self {
        case .string(let text): text
        case .integer(let number): number
        case .double(let number): number
        case .bool(let flag): flag
        case .null: NSNull()
        }
    }
}

/// Prints a plan: a summary line, then per record its action and each field's old and new value.
func printPlan(_ plan: CRMPlan) {
    let creates = plan.writes.filter { $0.action == "create" }.count
    Output.line(
        "\(plan.mapping)@\(plan.version) (digest \(plan.digest.prefix(12))): \(plan.calls) calls, "
            + "\(plan.records) records: \(plan.writes.count) to write (\(creates) create, "
            + "\(plan.writes.count - creates) update), \(plan.unchanged) unchanged, "
            + "\(plan.withoutExternalId) without external id; \(plan.fieldChanges) field changes")
    for record in plan.writes {
        Output.line(
            "\(record.action) \(record.key.object) \(record.key.externalIdField)=\(record.key.externalId)"
                + " (call \(record.call))"
                + (record.interrupted.map { " [interrupted write, seq \($0.seq): read back before sending]" } ?? ""))
        for change in record.changes {
            let old = change.old.map(quoted) ?? "(\(change.oldUnknown ?? "unknown"))"
            Output.line("  \(change.field): \(old) -> \(quoted(change.new))" + (change.personal ? " [personal]" : ""))
        }
        for (field, reason) in record.unavailable.sorted(by: { $0.key < $1.key }) {
            Output.line("  \(field): not written (\(reason))")
        }
    }
    for write in plan.unanswered {
        Output.line(
            "unanswered \(write.key.object) \(write.key.externalIdField)=\(write.key.externalId) (call \(write.call)):"
                + " the write of seq \(write.seq) has no recorded outcome; the mapping no longer changes this record")
    }
}

/// A value as JSON shows it: strings quoted.
private func quoted(_ value: CRMValue) -> String {
    if case .string(let text) = value { return "\"\(text)\"" }
    return value.description
}
