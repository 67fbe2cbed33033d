// call-ledger crm: what a CRM mapping would write (plan), and writing it (apply), each field compared with what
// the log shows was last written.
import ArgumentParser
import Foundation
import LedgerConnectors
import LedgerCore
import LedgerOperations
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
            commandName: "plan",
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
                let plan = try CRMPlanOperation(
                    ledger: LedgerLocation(directory: directory, keyFilePath: options.keyFilePath), mapping: loaded,
                    scorecards: qa, calls: calls.isEmpty ? nil : Set(calls)
                ).run()
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
            commandName: "apply",
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

        func run() throws {
            let directory = try options.directory()
            let (file, loaded) = try mapping.load()
            let qa = try scorecards.load(required: false)
            let configuration: SalesforceClient.Configuration
            do { configuration = try SalesforceClient.Configuration.fromEnvironment() } catch {
                Output.error("call-ledger: error: \(error)")
                throw ExitCode(1)
            }
            let summary = try reportingErrors {
                try CRMApplyOperation(
                    ledger: LedgerLocation(directory: directory, keyFilePath: options.keyFilePath, lockWait: lock.wait),
                    mapping: loaded, mappingFile: file, scorecards: qa, calls: calls.isEmpty ? nil : Set(calls),
                    batchSize: batchSize, configuration: configuration
                ).run(progress: ProgressBars())
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
