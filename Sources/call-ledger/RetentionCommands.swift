// call-ledger hold and retention: legal holds, assigning retention policies, and the retention plan.
import ArgumentParser
import Foundation
import LedgerCore
import LedgerOperations
import LedgerProjections
import LedgerStore

/// The calls a hold names: `--call` ids, or the calls a `--query` selects from the transcript projection.
struct CallSelectionOptions: ParsableArguments {
    @Option(name: .customLong("call"), help: ArgumentHelp("A call id (repeatable).", valueName: "id"))
    var calls: [String] = []

    @Option(
        help: ArgumentHelp(
            "Calls whose fields match, as field=value pairs joined by commas; fields: tenant, queue, agent, channel.",
            valueName: "query"))
    var query: String?

    func validate() throws {
        guard calls.isEmpty != (query == nil) else {
            throw ValidationError("give either --call (one or more) or --query")
        }
        if let query {
            do { _ = try CallSelection.conditions(query) } catch { throw ValidationError(error.description) }
        }
    }

    /// The selection the options name.
    var selection: CallSelection { query.map { .query($0) } ?? .calls(calls) }
}

struct HoldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Place or release a legal hold: a held call is never shredded or compacted, whatever its policy.",
        subcommands: [Place.self, Release.self])

    /// What placing and releasing share.
    struct HoldOptions: ParsableArguments {
        @OptionGroup var options: LedgerOptions
        @OptionGroup var selection: CallSelectionOptions
        @OptionGroup var lock: WriterLockOptions

        @Option(help: ArgumentHelp("The hold's id: a case or matter number.", valueName: "id"))
        var hold: String

        @Option(help: "Why (kept in the log).")
        var reason: String

        @Option(help: "Who asked.")
        var by: String?

        @Flag(help: "Print JSON acknowledgements only.")
        var json = false

        func append(_ action: LegalHoldEvent.Action) throws {
            let directory = try options.directory()
            try reportingErrors {
                let results = try LegalHoldOperation(
                    ledger: LedgerLocation(directory: directory, keyFilePath: options.keyFilePath, lockWait: lock.wait),
                    selection: selection.selection, action: action, hold: hold, reason: reason, by: by
                ).run()
                Output.write(AppendCommand.acknowledgements(results))
                if !json {
                    let appended = results.count { $0.status == .appended }
                    Output.error(
                        "hold \(hold) \(action.rawValue) on \(appended) calls (\(results.count - appended) already)")
                }
            }
        }
    }

    struct Place: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "place",
            abstract: "Place a legal hold on calls (appends legal.hold.placed per call).",
            discussion: "Placing the same hold again appends nothing; after a release, use a new hold id.")

        @OptionGroup var hold: HoldOptions

        func run() throws { try hold.append(.placed) }
    }

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "release",
            abstract: "Release a legal hold on calls (appends legal.hold.released per call).")

        @OptionGroup var hold: HoldOptions

        func run() throws { try hold.append(.released) }
    }
}

/// Where retention policy files are read from.
struct PolicyDirectory: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The retention policies' directory (default: $CALL_LEDGER_POLICIES, else Projections/retention).",
            valueName: "dir"))
    var policies: String?

    /// The directory given with `--policies` or `$CALL_LEDGER_POLICIES`, else nil.
    private var explicitDirectory: String? {
        policies ?? ProcessInfo.processInfo.environment["CALL_LEDGER_POLICIES"]
    }

    /// Opens `options`' ledger for appending with zero retention enforced: the data keys of classes a policy
    /// keeps `zero` stay in this process's memory only (`ZeroRetentionPolicies`). Without `--policies` or
    /// `$CALL_LEDGER_POLICIES` the default directory is used when it exists. Appending to a ledger that assigns
    /// a policy no file at hand defines is refused, since zero retention could not be enforced.
    func openWriter(_ options: LedgerOptions, lockWait: Double) throws -> LedgerWriter {
        let directory = try options.directory()
        let writer = try LedgerWriter(directory: directory, keyFilePath: options.keyFilePath, lockWait: lockWait)
        do {
            let loaded: [RetentionPolicy]
            if explicitDirectory != nil || FileManager.default.fileExists(atPath: Self.defaultDirectory) {
                loaded = try loadPolicies(self)
            } else {
                loaded = []
            }
            let engine = ProjectionEngine(
                reader: try LedgerReader(directory: directory, keyFilePath: options.keyFilePath))
            let known = Set(loaded.map(\.name))
            if let missing = try engine.retentionAssignedPolicies().subtracting(known).sorted().first {
                throw LedgerError.invalidRequest(
                    "the ledger assigns retention policy '\(missing)' but no policy file at hand defines it (looked in \(explicitDirectory ?? Self.defaultDirectory)): pass --policies DIR or set CALL_LEDGER_POLICIES, so that zero retention is enforced"
                )
            }
            if let gate = try ZeroRetentionPolicies.gate(policies: loaded, engine: engine) {
                writer.useZeroRetention(gate)
            }
        } catch {
            try? writer.close()
            throw error
        }
        return writer
    }

    private static let defaultDirectory = "Projections/retention"

    /// Every `*.yaml` policy in the directory, parsed; the first bad file is an error naming it.
    func load() throws -> [RetentionPolicy] {
        let directory = explicitDirectory ?? Self.defaultDirectory
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".yaml") }
                .sorted()
        } catch {
            throw LedgerError.invalidRequest("cannot read the policy directory \(directory): pass --policies DIR")
        }
        var loaded: [RetentionPolicy] = []
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            let bytes = Array(try InputFile.read(path))
            let policy = try RetentionPolicy.parse(bytes, file: path)
            if let other = loaded.first(where: { $0.name == policy.name }) {
                throw LedgerError.invalidRequest(
                    "\(path): policy name '\(policy.name)' is already used by another file (version \(other.version))")
            }
            loaded.append(policy)
        }
        return loaded
    }
}

struct RetentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "Assign retention policies and see what is due.",
        discussion: "Policy files and their format: Projections/retention/README.md.",
        subcommands: [Assign.self, Plan.self, Run.self, Status.self])

    struct Assign: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "assign",
            abstract: "Assign a policy to calls or to a whole tenant (appends retention.policy.assigned).",
            discussion: """
                The event records the policy's name, version and file digest. When the log last recorded another \
                digest for the policy's name, projection.definition.changed is appended first, so every later \
                decision names the exact file that made it.
                """)

        @OptionGroup var options: LedgerOptions
        @OptionGroup var lock: WriterLockOptions

        @Option(help: ArgumentHelp("The policy file.", valueName: "file"))
        var policy: String

        @Option(name: .customLong("call"), help: ArgumentHelp("A call id (repeatable).", valueName: "id"))
        var calls: [String] = []

        @Option(help: "Assign to every call of this tenant instead.")
        var tenant: String?

        func validate() throws {
            guard calls.isEmpty != (tenant == nil) else { throw ValidationError("give either --call or --tenant") }
        }

        func run() throws {
            let directory = try options.directory()
            let parsed: RetentionPolicy
            do {
                parsed = try RetentionPolicy.parse(Array(try InputFile.read(policy)), file: policy)
            } catch let error as DefinitionError {
                Output.error("call-ledger: rejected \(error)")
                throw ExitCode(2)
            }
            try reportingErrors {
                let results = try RetentionAssignOperation(
                    ledger: LedgerLocation(directory: directory, keyFilePath: options.keyFilePath, lockWait: lock.wait),
                    policy: parsed, path: policy, target: tenant.map { .tenant($0) } ?? .calls(calls)
                ).run()
                Output.write(AppendCommand.acknowledgements(results))
            }
        }
    }

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "plan",
            abstract: "List what retention erases now and why.",
            discussion: """
                For every call and data class that still has a data key and that an assigned policy governs: the \
                policy, rule, period, trigger and due time, and the verdict: due (erase now), held (due, but a \
                legal hold suspends it), scheduled or waiting (the trigger has not happened). By default only \
                due and held items are listed; --all lists every one.
                """)

        @OptionGroup var options: LedgerOptions
        @OptionGroup var policyDirectory: PolicyDirectory

        @Option(help: ArgumentHelp("Plan as of this RFC 3339 time (default: now).", valueName: "time"))
        var now: String?

        @Flag(help: "List scheduled and waiting items too.")
        var all = false

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let directory = try options.directory()
            let at = try planTime(now)
            let policies = try loadPolicies(policyDirectory)
            try reportingErrors {
                let plan = try RetentionPlanOperation(
                    ledger: LedgerLocation(directory: directory, keyFilePath: options.keyFilePath), policies: policies,
                    now: at, all: all
                ).run()
                if json {
                    for piece in RetentionItem.jsonArrayPieces(plan, terminator: [0x0A]) { Output.write(piece) }
                    return
                }
                var lines = ["CALL\tCLASS\tSTATUS\tDUE\tPOLICY\tRULE\tRETAIN\tFROM"]
                for item in plan {
                    lines.append(
                        [
                            item.call, item.dataClass,
                            item.status.rawValue
                                + (item.holds.isEmpty ? "" : " (" + item.holds.joined(separator: ",") + ")"),
                            item.dueAt ?? "-", "\(item.policy)@\(item.policyVersion)", item.rule, item.retain,
                            item.trigger,
                        ].joined(separator: "\t"))
                }
                Output.lines(lines)
            }
        }
    }
}

extension RetentionCommand {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Erase what is due: destroy the data keys, then append one retention.purged per call.",
            discussion: """
                Takes the writer lock; finishes the work of an interrupted run first; appends \
                projection.definition.changed for a policy file whose digest differs from the one the log last \
                recorded; signs a checkpoint; then, \(OwnEventLog.batchSize) purges at a time, destroys the due \
                (call, class) keys and journals the purges in one key-store transaction, appends their \
                retention.purged events (classes, policy with digest, the checkpoint) and clears the journal; then compacts every erased \
                (call, class) the log does not yet record as compacted: rewrites in place the frames that hold \
                those parts, without their ciphertext, keeping their digests, so every \
                proof stays valid, removes them from the projections' copies of those calls, and appends \
                retention.compacted per call; \
                finally signs another checkpoint, covering the purges (what prove redaction anchors to). A held \
                call is never touched. Safe to kill at any point and run again.
                """)

        @OptionGroup var options: LedgerOptions
        @OptionGroup var policyDirectory: PolicyDirectory
        @OptionGroup var lock: WriterLockOptions

        @Option(help: ArgumentHelp("Erase what is due as of this RFC 3339 time (default: now).", valueName: "time"))
        var now: String?

        @Flag(help: "Print a JSON summary.")
        var json = false

        func run() throws {
            let directory = try options.directory()
            let at = try planTime(now)
            let policies = try loadPolicies(policyDirectory)
            let summary = try reportingErrors {
                try RetentionRunOperation(
                    ledger: LedgerLocation(directory: directory, keyFilePath: options.keyFilePath, lockWait: lock.wait),
                    policies: policies, now: at
                ).run(progress: ProgressBars())
            }
            if json {
                try Output.json(summary, snakeCase: true)
            } else {
                Output.line(
                    "erased \(summary.classes) (call, class) keys of \(summary.calls) calls; \(summary.purgedEvents) retention.purged events"
                        + (summary.checkpointTreeSize.map { " after checkpoint \($0)" } ?? "")
                        + String(format: " in %.3f s", summary.seconds))
                let compaction = summary.compaction
                if compaction.segments > 0 {
                    Output.line(
                        "compacted \(compaction.partsCompacted) sealed parts in \(compaction.segments) segments "
                            + "(\(compaction.bytesBefore) -> \(compaction.bytesAfter) bytes)"
                            + String(format: " in %.3f s", summary.compactionSeconds))
                }
                if summary.recoveredPurges > 0 {
                    Output.line("finished \(summary.recoveredPurges) purges of an interrupted run")
                }
            }
        }
    }
}

extension RetentionCommand {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Show, per call and data class, where retention stands: planned, held, shredded, compacted.",
            discussion: """
                For every (call, class) that still has a data key and that a policy governs: the policy, trigger \
                time, due time and hold state (as `retention plan --all` shows them). For every erased one: when \
                and by which retention.purged event (method crypto-shred or zero-retention, and the policy), and \
                when and by which retention.compacted event its ciphertext left the segments.
                """)

        @OptionGroup var options: LedgerOptions
        @OptionGroup var policyDirectory: PolicyDirectory

        @Option(name: .customLong("call"), help: ArgumentHelp("Only this call (repeatable).", valueName: "id"))
        var calls: [String] = []

        @Option(help: ArgumentHelp("Evaluate due times as of this RFC 3339 time (default: now).", valueName: "time"))
        var now: String?

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let directory = try options.directory()
            let at = try planTime(now)
            let policies = try loadPolicies(policyDirectory)
            try reportingErrors {
                let rows = try RetentionStatusOperation(
                    ledger: LedgerLocation(directory: directory, keyFilePath: options.keyFilePath), policies: policies,
                    now: at, calls: Set(calls)
                ).run()
                if json {
                    try Output.json(rows, snakeCase: true)
                    return
                }
                Output.line("CALL\tCLASS\tSTATUS\tPOLICY\tDUE\tPURGED\tCOMPACTED")
                for row in rows {
                    Output.line(
                        [
                            row.call, row.dataClass,
                            row.status + (row.holds.isEmpty ? "" : " (" + row.holds.joined(separator: ",") + ")"),
                            row.policy, row.dueAt ?? "-",
                            row.purgedAt.map { "\($0) seq \(row.purgedSeq!) \(row.method ?? "")" } ?? "-",
                            row.compactedAt.map { "\($0) seq \(row.compactedSeq!)" } ?? "-",
                        ].joined(separator: "\t"))
                }
            }
        }
    }
}

/// `--now`, or the current time, in UTC µs.
func planTime(_ text: String?) throws -> Int64 {
    guard let text else { return Int64(Date().timeIntervalSince1970 * 1_000_000) }
    guard let time = Timestamp.parse(text) else {
        throw ValidationError("--now '\(text)' is not an RFC 3339 time such as 2026-11-26T10:00:00Z")
    }
    return time.micros
}

/// The policies, or exit 2 with the file, member and reason of the first bad one.
func loadPolicies(_ directory: PolicyDirectory) throws -> [RetentionPolicy] {
    do {
        return try directory.load()
    } catch let error as DefinitionError {
        Output.error("call-ledger: rejected \(error)")
        throw ExitCode(2)
    } catch let error as LedgerError {
        Output.error("call-ledger: error: \(error)")
        throw ExitCode(1)
    }
}
