// call-ledger hold and retention: legal holds, assigning retention policies, and the retention plan.
import ArgumentParser
import Foundation
import LedgerCore
import LedgerProjections
import LedgerStore

/// Appends events made by the CLI itself (holds, assignments, purges) atomically, and prints their
/// acknowledgements.
enum OwnEvents {
    /// The source every event the CLI makes carries.
    static let source = "call-ledger/0.1"

    /// How many of its own events the CLI appends in one atomic batch (and, in `retention run`, how many
    /// purges one key-store transaction journals).
    static let batchSize = 500

    /// Appends `events` (interchange objects) in one durable batch through `writer`.
    static func append(_ events: [[String: Any]], with writer: LedgerWriter) throws -> [AppendResult] {
        var decoder = EventDecoder(maximumEventBytes: writer.configuration.maximumEventBytes)
        var decoded: [DecodedEvent] = []
        for (index, event) in events.enumerated() {
            var line = Array(try JSONSerialization.data(withJSONObject: event, options: [.sortedKeys]))
            let result = line.withUnsafeMutableBytes { raw in
                Result { () throws(EventDecodingError) in
                    try decoder.decode(UnsafeRawBufferPointer(raw), lineNumber: index + 1)
                }
            }
            decoded.append(try result.get())
        }
        return try writer.appendAtomically(decoded)
    }

    /// A `projection.definition.changed` recording that `projection` now uses definition `name` at `version`
    /// with file `digest` (hex), read from `path`. Its idempotency key names the log's size, so returning to an
    /// earlier definition is recorded again while a retried run appends nothing twice.
    static func definitionChanged(
        projection: String, name: String, version: String, digest: String, path: String?, tenant: String,
        logSize: UInt64
    ) -> [String: Any] {
        var body: [String: Any] = [
            "projection": projection, "definition": ["name": name, "version": version, "digest": digest],
        ]
        if let path { body["path"] = path }
        return [
            "type": EventType.projectionDefinitionChanged.rawValue, "tenant": tenant, "source": source,
            "idempotency": "definition:\(projection):\(name):\(digest):\(logSize)", "body": body,
        ]
    }
}

/// The calls a hold names: `--call` ids, or the calls a `--query` selects from the transcript projection.
struct CallSelection: ParsableArguments {
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
        if let query { _ = try Self.conditions(query) }
    }

    static func conditions(_ query: String) throws -> [(field: String, value: String)] {
        try query.split(separator: ",").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, ["tenant", "queue", "agent", "channel"].contains(parts[0]), !parts[1].isEmpty else {
                throw ValidationError(
                    "--query: '\(pair)' is not field=value with field tenant, queue, agent or channel")
            }
            return (parts[0], parts[1])
        }
    }

    /// The selected calls with their tenants; a named call the ledger does not know is an error.
    func resolve(_ engine: ProjectionEngine) throws -> [(call: String, tenant: String)] {
        let known = try engine.calls()
        if let query {
            let conditions = try Self.conditions(query)
            let matching = known.filter { summary in
                conditions.allSatisfy { condition in
                    switch condition.field {
                    case "tenant": summary.tenant == condition.value
                    case "queue": summary.queue == condition.value
                    case "agent": summary.agent == condition.value
                    default: summary.channel == condition.value
                    }
                }
            }
            guard !matching.isEmpty else { throw LedgerError.invalidRequest("--query \(query) selects no call") }
            return matching.map { ($0.call, $0.tenant) }
        }
        let tenants = Dictionary(known.map { ($0.call, $0.tenant) }, uniquingKeysWith: { first, _ in first })
        return try calls.map { call in
            guard let tenant = tenants[call] else {
                throw LedgerError.invalidRequest("call '\(call)' is not in the ledger")
            }
            return (call, tenant)
        }
    }
}

struct HoldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Place or release a legal hold: a held call is never shredded or compacted, whatever its policy.",
        subcommands: [Place.self, Release.self])

    /// What placing and releasing share.
    struct HoldOptions: ParsableArguments {
        @OptionGroup var options: LedgerOptions
        @OptionGroup var selection: CallSelection
        @OptionGroup var lock: WriterLockOptions

        @Option(help: ArgumentHelp("The hold's id: a case or matter number.", valueName: "id"))
        var hold: String

        @Option(help: "Why (kept in the log).")
        var reason: String

        @Option(help: "Who asked.")
        var by: String?

        @Flag(help: "Print JSON acknowledgements only.")
        var json = false

        func append(_ type: EventType, suffix: String) throws {
            let directory = try options.directory()
            try reportingErrors {
                let engine = ProjectionEngine(
                    reader: try LedgerReader(directory: directory, keyFilePath: options.keyFilePath))
                let calls = try selection.resolve(engine)
                let writer = try LedgerWriter(
                    directory: directory, keyFilePath: options.keyFilePath, lockWait: lock.wait)
                defer { try? writer.close() }
                var body: [String: Any] = ["hold": hold, "reason": reason]
                if let by { body["by"] = by }
                let events = calls.map { call, tenant in
                    [
                        "type": type.rawValue, "call": call, "tenant": tenant, "source": OwnEvents.source,
                        "idempotency": "hold:\(hold):\(call):\(suffix)", "body": body,
                    ] as [String: Any]
                }
                let results = try OwnEvents.append(events, with: writer)
                Output.write(AppendCommand.acknowledgements(results))
                if !json {
                    let appended = results.count { $0.status == .appended }
                    Output.error("hold \(hold) \(suffix) on \(appended) calls (\(results.count - appended) already)")
                }
            }
        }
    }

    struct Place: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Place a legal hold on calls (appends legal.hold.placed per call).",
            discussion: "Placing the same hold again appends nothing; after a release, use a new hold id.")

        @OptionGroup var hold: HoldOptions

        func run() throws { try hold.append(.legalHoldPlaced, suffix: "placed") }
    }

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Release a legal hold on calls (appends legal.hold.released per call).")

        @OptionGroup var hold: HoldOptions

        func run() throws { try hold.append(.legalHoldReleased, suffix: "released") }
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
                let engine = ProjectionEngine(
                    reader: try LedgerReader(directory: directory, keyFilePath: options.keyFilePath))
                let reference: [String: Any] = [
                    "name": parsed.name, "version": parsed.version, "digest": parsed.digest.hex,
                ]
                let targets: [(call: String?, tenant: String)]
                if let tenant {
                    targets = [(nil, tenant)]
                } else {
                    targets = try CallSelection.parse(calls.flatMap { ["--call", $0] }).resolve(engine).map {
                        ($0.call, $0.tenant)
                    }
                }
                var events: [[String: Any]] = []
                let recorded = try engine.recordedPolicyDigest(parsed.name)
                if let recorded, recorded != parsed.digest.hex {
                    events.append(
                        OwnEvents.definitionChanged(
                            projection: "retention", name: parsed.name, version: parsed.version,
                            digest: parsed.digest.hex, path: policy, tenant: targets[0].tenant,
                            logSize: engine.reader.size))
                }
                for target in targets {
                    var event: [String: Any] = [
                        "type": EventType.retentionPolicyAssigned.rawValue, "tenant": target.tenant,
                        "source": OwnEvents.source,
                        "idempotency":
                            "retention:\(target.call ?? "tenant:" + target.tenant):\(parsed.name):\(parsed.digest.hex)",
                        "body": ["policy": reference],
                    ]
                    if let call = target.call { event["call"] = call }
                    events.append(event)
                }
                let writer = try LedgerWriter(
                    directory: directory, keyFilePath: options.keyFilePath, lockWait: lock.wait)
                defer { try? writer.close() }
                Output.write(AppendCommand.acknowledgements(try OwnEvents.append(events, with: writer)))
            }
        }
    }

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
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
                let reader = try LedgerReader(directory: directory, keyFilePath: options.keyFilePath)
                let engine = ProjectionEngine(reader: reader)
                let plan = try engine.retentionPlan(
                    policies: policies, keyedClasses: try reader.keyedClasses(), now: at
                )
                .filter { all || $0.status == .due || $0.status == .held }
                if json {
                    try Output.json(plan, snakeCase: true)
                    return
                }
                Output.line("CALL\tCLASS\tSTATUS\tDUE\tPOLICY\tRULE\tRETAIN\tFROM")
                for item in plan {
                    Output.line(
                        [
                            item.call, item.dataClass,
                            item.status.rawValue
                                + (item.holds.isEmpty ? "" : " (" + item.holds.joined(separator: ",") + ")"),
                            item.dueAt ?? "-", "\(item.policy)@\(item.policyVersion)", item.rule, item.retain,
                            item.trigger,
                        ].joined(separator: "\t"))
                }
            }
        }
    }
}

extension RetentionCommand {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase what is due: destroy the data keys, then append one retention.purged per call.",
            discussion: """
                Takes the writer lock; finishes the work of an interrupted run first; appends \
                projection.definition.changed for a policy file whose digest differs from the one the log last \
                recorded; signs a checkpoint; then, 500 purges at a time, destroys the due (call, class) keys \
                and journals the purges in one key-store transaction, appends their retention.purged events \
                (classes, policy with digest, the checkpoint) and clears the journal; then compacts every erased \
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

        /// What a run did.
        struct Summary: Encodable {
            var recoveredPurges: Int
            var definitionsChanged: [String]
            var calls: Int
            var classes: Int
            var purgedEvents: Int
            var compaction: CompactionReport
            var compactionSeconds: Double
            var checkpointTreeSize: UInt64?
            var checkpointRoot: String?
            var finalCheckpointTreeSize: UInt64?
            var seconds: Double
            var callsPerSecond: Double
        }

        func run() throws {
            let directory = try options.directory()
            let at = try planTime(now)
            let policies = try loadPolicies(policyDirectory)
            let start = Date()
            let summary = try reportingErrors { () throws -> Summary in
                let writer = try LedgerWriter(
                    directory: directory, keyFilePath: options.keyFilePath, lockWait: lock.wait)
                defer { try? writer.close() }
                let leftover = try writer.pendingPurges()
                if !leftover.isEmpty {
                    _ = try OwnEvents.append(leftover.map(Self.purgedEvent), with: writer)
                    try writer.clearPendingPurges(leftover)
                }
                let reader = try LedgerReader(directory: directory, keyFilePath: options.keyFilePath)
                let engine = ProjectionEngine(reader: reader)
                let due = try engine.retentionPlan(
                    policies: policies, keyedClasses: try reader.keyedClasses(), now: at
                ).filter { $0.status == .due }
                var changed: [[String: Any]] = []
                for policy in policies where due.contains(where: { $0.policy == policy.name }) {
                    guard let recorded = try engine.recordedPolicyDigest(policy.name), recorded != policy.digest.hex
                    else { continue }
                    changed.append(
                        OwnEvents.definitionChanged(
                            projection: "retention", name: policy.name, version: policy.version,
                            digest: policy.digest.hex, path: nil,
                            tenant: due.first { $0.policy == policy.name }!.tenant, logSize: reader.size))
                }
                if !changed.isEmpty { _ = try OwnEvents.append(changed, with: writer) }
                guard !due.isEmpty else {
                    let compactionStart = Date()
                    let compaction = try compact(with: writer, directory: directory)
                    let after =
                        leftover.isEmpty && compaction.calls.isEmpty ? nil : try writer.checkpoint().checkpoint
                    return Summary(
                        recoveredPurges: leftover.count, definitionsChanged: [], calls: 0, classes: 0, purgedEvents: 0,
                        compaction: compaction, compactionSeconds: Date().timeIntervalSince(compactionStart),
                        finalCheckpointTreeSize: after?.treeSize, seconds: Date().timeIntervalSince(start),
                        callsPerSecond: 0)
                }
                let checkpoint = try writer.checkpoint().checkpoint
                var grouped: [String: PendingPurge] = [:]
                var order: [String] = []
                for item in due {
                    let key = item.call + "\u{0}" + item.policy
                    if grouped[key] == nil {
                        order.append(key)
                        grouped[key] = PendingPurge(
                            call: item.call, tenant: item.tenant, classes: [], policy: item.policy,
                            policyVersion: item.policyVersion,
                            policyDigest: item.policyDigest, treeSize: checkpoint.treeSize,
                            root: checkpoint.rootHash.hex, method: "crypto-shred")
                    }
                    grouped[key]?.classes.append(item.dataClass)
                }
                let purges = order.compactMap { grouped[$0] }
                var bar = ProgressBar(label: "retention")
                var done = 0
                for chunk in purges.chunked(by: OwnEvents.batchSize) {
                    try writer.shred(chunk)
                    _ = try OwnEvents.append(chunk.map(Self.purgedEvent), with: writer)
                    try writer.clearPendingPurges(chunk)
                    done += chunk.count
                    bar.update(done: UInt64(done), total: UInt64(purges.count))
                }
                bar.finish()
                let compactionStart = Date()
                let compaction = try compact(with: writer, directory: directory)
                let compactionSeconds = Date().timeIntervalSince(compactionStart)
                let after = try writer.checkpoint().checkpoint
                let seconds = Date().timeIntervalSince(start)
                let calls = Set(purges.map(\.call)).count
                return Summary(
                    recoveredPurges: leftover.count,
                    definitionsChanged: changed.compactMap {
                        (($0["body"] as? [String: Any])?["definition"] as? [String: Any])?["name"] as? String
                    },
                    calls: calls, classes: due.count, purgedEvents: purges.count, compaction: compaction,
                    compactionSeconds: compactionSeconds, checkpointTreeSize: checkpoint.treeSize,
                    checkpointRoot: checkpoint.rootHash.hex, finalCheckpointTreeSize: after.treeSize, seconds: seconds,
                    callsPerSecond: seconds > 0 ? Double(calls) / seconds : 0)
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

        /// Compacts away every erased (call, class) that the log does not yet record as compacted (this run's
        /// purges and any an interrupted run left), with a progress bar; removes it from the transcript and CRM
        /// projections' record copies of those calls only; then appends one `retention.compacted` per call.
        /// Killed anywhere in between, the next run finds the same pairs uncompacted and does the rest.
        private func compact(with writer: LedgerWriter, directory: String) throws -> CompactionReport {
            let reader = try LedgerReader(directory: directory, keyFilePath: options.keyFilePath)
            let pending = try ProjectionEngine(reader: reader).retentionPurges().filter { $0.compactedSeq == nil }
            guard !pending.isEmpty else { return CompactionReport() }
            var bar = ProgressBar(label: "compaction")
            let compaction = try writer.compact(erased: Set(pending.map { $0.call + "\u{0}" + $0.dataClass })) {
                done, total in bar.update(done: UInt64(done), total: UInt64(total))
            }
            bar.finish()
            guard !compaction.calls.isEmpty else { return compaction }
            let compacted = try LedgerReader(directory: directory, keyFilePath: options.keyFilePath)
            var erased: Set<String> = []
            for (call, done) in compaction.calls {
                for dataClass in done.classes { erased.insert(call + "\u{0}" + dataClass) }
            }
            _ = try ProjectionEngine(reader: compacted).removeErasedCiphertext(erased)
            var latest: [String: RetentionPurge] = [:]
            for purge in pending where purge.seq >= latest[purge.call]?.seq ?? 0 { latest[purge.call] = purge }
            let events = compaction.calls.keys.sorted().compactMap { call -> [String: Any]? in
                guard let done = compaction.calls[call], let purge = latest[call] else { return nil }
                return [
                    "type": EventType.retentionCompacted.rawValue, "call": call, "tenant": purge.tenant,
                    "source": OwnEvents.source, "idempotency": "compacted:\(call):\(purge.seq)",
                    "body": ["classes": done.classes, "parts": done.parts, "segments": done.segments],
                ]
            }
            for chunk in events.chunked(by: OwnEvents.batchSize) { _ = try OwnEvents.append(chunk, with: writer) }
            return compaction
        }

        /// The `retention.purged` event of a purge.
        static func purgedEvent(_ purge: PendingPurge) -> [String: Any] {
            [
                "type": EventType.retentionPurged.rawValue, "call": purge.call, "tenant": purge.tenant,
                "source": OwnEvents.source, "idempotency": "purge:\(purge.call):\(purge.policy):\(purge.treeSize)",
                "body": [
                    "classes": purge.classes,
                    "policy": ["name": purge.policy, "version": purge.policyVersion, "digest": purge.policyDigest],
                    "method": purge.method, "checkpoint": ["tree_size": purge.treeSize, "root": purge.root],
                ],
            ]
        }
    }
}

extension RetentionCommand {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
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

        /// One (call, class) row.
        struct Row: Encodable {
            var call: String
            var dataClass: String
            var status: String
            var policy: String
            var triggerAt: String?
            var dueAt: String?
            var holds: [String]
            var purgedAt: String?
            var purgedSeq: UInt64?
            var method: String?
            var compactedAt: String?
            var compactedSeq: UInt64?
        }

        func run() throws {
            let directory = try options.directory()
            let at = try planTime(now)
            let policies = try loadPolicies(policyDirectory)
            try reportingErrors {
                let reader = try LedgerReader(directory: directory, keyFilePath: options.keyFilePath)
                let engine = ProjectionEngine(reader: reader)
                let wanted = Set(calls)
                var rows = try engine.retentionPlan(
                    policies: policies, keyedClasses: try reader.keyedClasses(), now: at
                )
                .filter { wanted.isEmpty || wanted.contains($0.call) }
                .map { item in
                    Row(
                        call: item.call, dataClass: item.dataClass, status: item.status.rawValue,
                        policy: "\(item.policy)@\(item.policyVersion)", triggerAt: item.triggerAt,
                        dueAt: item.dueAt, holds: item.holds)
                }
                for purge in try engine.retentionPurges() where wanted.isEmpty || wanted.contains(purge.call) {
                    rows.append(
                        Row(
                            call: purge.call, dataClass: purge.dataClass,
                            status: purge.compactedSeq == nil ? "shredded" : "compacted", policy: purge.policy,
                            holds: [], purgedAt: Timestamp.format(micros: purge.purgedAt), purgedSeq: purge.seq,
                            method: purge.method, compactedAt: purge.compactedAt.map(Timestamp.format(micros:)),
                            compactedSeq: purge.compactedSeq))
                }
                rows.sort { ($0.call, $0.dataClass) < ($1.call, $1.dataClass) }
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

extension Array {
    /// The elements in consecutive slices of at most `size`, in order.
    func chunked(by size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
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
