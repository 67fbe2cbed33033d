// call-ledger crm: what a CRM mapping would write (plan), and writing it (apply), each field compared with what
// the log shows was last written.
import ArgumentParser
import Foundation
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
        func parse(_ file: String) throws(DefinitionError) -> CRMMapping {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw DefinitionError(file: file, path: "", reason: "cannot be read")
            }
            return try CRMMapping.parse(Array(data), file: file)
        }
        do {
            if let mapping, FileManager.default.fileExists(atPath: mapping) { return (mapping, try parse(mapping)) }
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
        subcommands: [Plan.self])

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the CRM records and fields a mapping would write, with old and new values.",
            discussion: """
                For every call, the mapping's records are computed from the transcript (metadata, entities, \
                sentiment, summary, categories) and the QA projection's results, and compared field by field with \
                what the log's crm.write events last wrote to the same record (object and external id). A field is \
                listed when it was never written, was written with another value, or its written value can no \
                longer be read. Fields the mapping cannot fill (absent, or erased) are never written or cleared; \
                after a call's data was erased, its personal fields are not written again. Brings the \
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
                + " (call \(record.call))")
        for change in record.changes {
            let old = change.old.map(quoted) ?? "(\(change.oldUnknown ?? "unknown"))"
            Output.line("  \(change.field): \(old) -> \(quoted(change.new))" + (change.personal ? " [personal]" : ""))
        }
        for (field, reason) in record.unavailable.sorted(by: { $0.key < $1.key }) {
            Output.line("  \(field): not written (\(reason))")
        }
    }
}

/// A value as JSON shows it: strings quoted.
private func quoted(_ value: CRMValue) -> String {
    if case .string(let text) = value { return "\"\(text)\"" }
    return value.description
}
