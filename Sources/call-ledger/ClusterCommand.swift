// call-ledger cluster: replicated intake on a NATS JetStream cluster (publish), shard writers holding a lease
// (writer), and the state of every shard (status); the workflows live in LedgerCluster.
import ArgumentParser
import Foundation
import LedgerCluster
import LedgerCore
import LedgerOperations
import LedgerStore
import NATSClient

struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Replicated intake and shard writers on a NATS JetStream cluster.",
        discussion: """
            --config FILE names the deployment (YAML: name, servers, shards, replicas, duplicate_window_seconds, \
            lease_ttl_seconds, ack_wait_seconds, tenants); README.md (Cluster) documents it, FORMAT.md §13 the \
            shard map, streams and lease records. tools/cluster starts a local 3-node NATS cluster.
            """,
        subcommands: [
            ClusterPublishCommand.self, ClusterWriterCommand.self, ClusterStatusCommand.self,
            ClusterShardCommand.self, ClusterRestoreCommand.self, ClusterRootCommand.self, ClusterProveCommand.self,
            ClusterCheckProofCommand.self,
        ])
}

/// The deployment file every cluster command reads.
struct ClusterOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The deployment's YAML file.", valueName: "file"))
    var config: String

    /// The configuration, or exit 1 with the reason.
    func load() throws -> ClusterConfiguration {
        try clusterErrors { () throws(ClusterError) in try ClusterConfiguration.load(path: config) }
    }

    /// A connection to the deployment's servers, or exit 1 with the reason.
    func connect(_ configuration: ClusterConfiguration, name: String) throws -> NATSConnection {
        try clusterErrors { () throws(ClusterError) in
            do throws(NATSError) {
                return try NATSConnection(servers: configuration.servers, name: name)
            } catch {
                throw .nats(error)
            }
        }
    }
}

/// Runs `body`; a `ClusterError` is reported on standard error and ends the command with exit code 1.
func clusterErrors<R>(_ body: () throws(ClusterError) -> R) throws -> R {
    do throws(ClusterError) {
        return try body()
    } catch {
        Output.error("call-ledger: error: \(error)")
        throw ExitCode(1)
    }
}

struct ClusterPublishCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish interchange events (JSON lines) to their shards' JetStream streams.",
        discussion: """
            Each line is validated as `append` validates it, sent to its shard's stream with its idempotency key \
            as Nats-Msg-Id, and acknowledged once JetStream stored it on a majority of the stream's replicas: \
            {"idempotency":"…","shard":N,"status":"replicated"|"duplicate","stream":"…","stream_seq":N}. \
            `duplicate` means the stream already held that key (inside its duplicate window) and dropped this copy. \
            With --wait durable, the lines come once the whole input is published and each event's shard writer \
            fsynced it: status `durable` with its ledger `seq`; events not durable within --timeout seconds are \
            printed with their replicated status and the run ends with exit code 1. A publish that fails (no \
            leader yet, a server down) is retried with the same key for --timeout seconds. Up to 1024 lines are \
            read ahead and published with many in flight (a call's events one at a time, in order; README, \
            Cluster). \
            A line that fails validation stops the run with exit code 2, naming the line, field and reason: every \
            event before it stays published, nothing from it on is.
            """)

    @OptionGroup var cluster: ClusterOptions

    @Argument(help: "A file of JSON lines, or - for standard input (the default).")
    var input: String = "-"

    @Option(help: ArgumentHelp("Seconds to keep retrying one event before giving up (default 30).", valueName: "s"))
    var timeout: Double = 30

    @Option(
        help: ArgumentHelp(
            "The acknowledgement to wait for: replicated (JetStream, default) or durable (fsynced by the writer).",
            valueName: "level"))
    var wait: WaitLevel = .replicated

    enum WaitLevel: String, ExpressibleByArgument {
        case replicated, durable
    }

    func validate() throws {
        guard timeout.isFinite, timeout > 0, timeout <= 3600 else {
            throw ValidationError("--timeout must be a number of seconds above 0 and at most 3600")
        }
    }

    func run() throws {
        let configuration = try cluster.load()
        let descriptor: Int32 = input == "-" ? 0 : open(input, O_RDONLY)
        guard descriptor >= 0 else {
            Output.error("call-ledger: error: cannot read \(input): \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
        defer { if descriptor != 0 { close(descriptor) } }
        let connection = try cluster.connect(configuration, name: "call-ledger publish")
        let intake = try clusterErrors { () throws(ClusterError) in
            try ClusterIntake(configuration: configuration, connection: connection, publishTimeout: timeout)
        }
        var rejected: EventDecodingError?
        var lines = LineReader(descriptor: descriptor)
        let started = Int64(Date().timeIntervalSince1970 * 1_000_000_000)
        var replicated: [IntakeAcknowledgement] = []
        let wait = wait
        try clusterErrors { () throws(ClusterError) in
            var pending: [(line: [UInt8], event: DecodedEvent)] = []
            func publishPending() throws(ClusterError) {
                for result in intake.publish(pending) {
                    let ack = try result.get()
                    if wait == .durable { replicated.append(ack) } else { Output.write(Self.line(ack)) }
                }
                pending.removeAll(keepingCapacity: true)
            }
            while let next = lines.next() {
                let (number, line) = next
                guard !line.isEmpty else { continue }
                do throws(ClusterError) {
                    pending.append((line, try intake.decode(line: line, lineNumber: number)))
                } catch {
                    guard case .invalidEvent(let invalid) = error else { throw error }
                    rejected = invalid
                    break
                }
                if pending.count == Self.linesInFlight { try publishPending() }
            }
            try publishPending()
        }
        if let error = lines.error {
            Output.error("call-ledger: error: cannot read \(input): \(error)")
            throw ExitCode(1)
        }
        if wait == .durable {
            let acks = try clusterErrors { () throws(ClusterError) in
                try intake.awaitDurable(replicated, since: started, timeout: timeout)
            }
            for ack in acks { Output.write(Self.line(ack)) }
            let late = acks.filter { $0.status != "durable" }.count
            if late > 0 && rejected == nil {
                Output.error(
                    "call-ledger: \(late) of \(acks.count) events are replicated but were not reported durable within "
                        + "\(timeout) s (is a writer running for their shards? `call-ledger cluster status`)")
                throw ExitCode(1)
            }
        }
        if let rejected {
            Output.error("call-ledger: rejected input \(input == "-" ? "(stdin)" : input), \(rejected)")
            throw ExitCode(2)
        }
    }

    /// Lines read ahead and published together (`ClusterIntake.publish(_:)` keeps those of distinct calls in flight).
    private static let linesInFlight = 1024

    private static func line(_ ack: IntakeAcknowledgement) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ((try? encoder.encode(ack)).map(Array.init) ?? []) + [0x0A]
    }
}

/// Reads a file descriptor line by line (without the newline), numbering lines from 1.
struct LineReader {
    let descriptor: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var finished = false
    private var number = 0
    /// The read error that ended the input early, if one did.
    private(set) var error: String?

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// The next line and its number, nil at the end of the input.
    mutating func next() -> (Int, [UInt8])? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                number += 1
                return (number, line)
            }
            if finished {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                start = buffer.count
                number += 1
                return (number, line)
            }
            buffer.removeFirst(start)
            start = 0
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                error = String(cString: strerror(errno))
                finished = true
            } else if count == 0 {
                finished = true
            } else {
                buffer.append(contentsOf: chunk[0..<count])
            }
        }
    }
}

struct ClusterWriterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "writer",
        abstract: "Write one shard: hold its lease, append its stream to its ledger, ack what is durable.",
        discussion: """
            Starts as standby: polls the shard's lease (every third of lease_ttl_seconds) and takes it once no \
            writer holds it (expired or released). Then it opens --ledger (made with `call-ledger init`), fetches \
            from the shard's durable pull consumer `writer`, appends each batch through the ledger writer and \
            acknowledges it to JetStream only once it is durable, printing one line per event: \
            {"idempotency":"…","seq":N,"shard":N,"status":"durable"|"duplicate","stream_seq":N}. It renews the \
            lease every third of its TTL and goes back to standby when it cannot. Events delivered but not \
            acknowledged (a writer killed mid-batch) come again after ack_wait_seconds; the ledger drops the \
            ones it already holds by idempotency key (status duplicate). When --ledger holds no ledger (absent or \
            empty), the writer, once it holds the lease, restores the shard there from the replica as `cluster \
            restore` does (the key file must already be in place), then writes. \
            With --retention-every S, the writer runs `retention run` on its ledger between batches every S \
            seconds (the first time once it holds the lease), under the policies of --policies read at start, and \
            then brings the replica in line: shredded keys are erased from the replica stream, and the chunks of \
            replicated segments that compaction changed are erased and published again (FORMAT.md §13). It does \
            the same comparison whenever it starts, so it finishes what a stopped writer left.
            """)

    @OptionGroup var cluster: ClusterOptions

    @Option(help: ArgumentHelp("The shard to write (0 to shards-1).", valueName: "n"))
    var shard: Int

    @Option(help: ArgumentHelp("The shard's ledger directory.", valueName: "dir"))
    var ledger: String

    @Option(help: ArgumentHelp("The key file (default: DIR.key).", valueName: "path"))
    var keyFile: String?

    @Option(help: ArgumentHelp("This writer's id in the lease (default host:pid).", valueName: "id"))
    var id: String?

    @Option(help: ArgumentHelp("Events per fetch (1 to 4096, default 256).", valueName: "n"))
    var batch = 256

    @Option(
        help: ArgumentHelp(
            "Once active, release the lease and exit after this many seconds without events.", valueName: "s"))
    var stopWhenIdle: Double?

    @OptionGroup var policyDirectory: PolicyDirectory

    @Option(
        help: ArgumentHelp(
            "Run retention (as `retention run`) between batches every this many seconds.", valueName: "s"))
    var retentionEvery: Double?

    @Option(
        help: ArgumentHelp(
            "With --retention-every: erase what is due as of this RFC 3339 time (default: the clock at each run).",
            valueName: "time"))
    var retentionNow: String?

    @Option(
        help: ArgumentHelp(
            "Intake erase requests kept in flight when erasing what the replica holds (1 to 1024, default 64).",
            valueName: "n"))
    var intakeErasuresInFlight = 64

    @Option(help: .hidden)
    var rootDelay: Double?

    func validate() throws {
        guard (1...4096).contains(batch) else { throw ValidationError("--batch must be from 1 to 4096") }
        guard (1...1024).contains(intakeErasuresInFlight) else {
            throw ValidationError("--intake-erasures-in-flight must be from 1 to 1024")
        }
        if let stopWhenIdle, !(stopWhenIdle.isFinite && stopWhenIdle > 0) {
            throw ValidationError("--stop-when-idle must be a positive number of seconds")
        }
        if let retentionEvery, !(retentionEvery.isFinite && retentionEvery > 0) {
            throw ValidationError("--retention-every must be a positive number of seconds")
        }
        if retentionNow != nil && retentionEvery == nil {
            throw ValidationError("--retention-now needs --retention-every")
        }
    }

    /// The retention pass `--retention-every` asks for, nil without it.
    private func retention() throws -> ShardMaintenance? {
        guard let retentionEvery else { return nil }
        let policies = try loadPolicies(policyDirectory)
        let fixed = try retentionNow.map { try planTime($0) }
        let location = LedgerLocation(directory: ledger, keyFilePath: keyFile, lockWait: 0)
        return ShardMaintenance(every: retentionEvery) { writer in
            let now = try fixed ?? planTime(nil)
            let summary = try RetentionRunOperation(ledger: location, policies: policies, now: now).run(with: writer)
            return "retention erased \(summary.classes) (call, class) keys of \(summary.calls) calls, compacted "
                + "\(summary.compaction.partsCompacted) sealed parts in \(summary.compaction.segments) segments"
        }
    }

    func run() throws {
        let configuration = try cluster.load()
        let holder = id ?? "\(ProcessInfo.processInfo.hostName):\(getpid())"
        var options = ShardWriterOptions(shard: shard, ledgerDirectory: ledger, keyFilePath: keyFile, holder: holder)
        options.batch = batch
        options.stopWhenIdle = stopWhenIdle
        options.maintenance = try retention()
        options.rootDelay = rootDelay
        options.intakeErasuresInFlight = intakeErasuresInFlight
        let connection = try cluster.connect(configuration, name: "call-ledger writer \(holder)")
        let shard = shard
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try clusterErrors { () throws(ClusterError) in
            let writer = try ShardWriter(configuration: configuration, options: options, connection: connection)
            try writer.run { report in
                let prefix = "call-ledger: cluster writer \(holder) shard \(shard):"
                switch report {
                case .acquired(let revision): Output.error("\(prefix) active (lease revision \(revision))")
                case .lost(let reason): Output.error("\(prefix) standby again: \(reason)")
                case .retrying(let error): Output.error("\(prefix) retrying: \(error)")
                case .rejected(let seq, let reason): Output.error("\(prefix) dropped stream seq \(seq): \(reason)")
                case .released: Output.error("\(prefix) idle: lease released, stopping")
                case .replicated(let through): Output.error("\(prefix) replica holds events 0..<\(through)")
                case .restored(let restored):
                    Output.error(
                        "\(prefix) restored \(restored.segments) segments (\(restored.restoredEvents) events) from the "
                            + "replica, replayed \(restored.replayed) events from stream seq \(restored.replayFrom)")
                case .intakeErased(let messages, let time):
                    let milliseconds =
                        Double(time.components.seconds) * 1000 + Double(time.components.attoseconds) / 1e15
                    Output.error("\(prefix) intake: erased \(messages) messages in \(Int(milliseconds.rounded())) ms")
                case .replicaFailed(let reason): Output.error("\(prefix) replica not updated, will retry: \(reason)")
                case .maintained(let line): Output.error("\(prefix) \(line)")
                case .maintenanceFailed(let reason): Output.error("\(prefix) retention failed, will retry: \(reason)")
                case .erased(let erasure):
                    Output.error(
                        "\(prefix) replica erasure: \(erasure.keys) keys erased, \(erasure.chunks) chunks of "
                            + "\(erasure.segments) segments replaced (\(erasure.segmentsChecked) segments hashed), "
                            + "\(erasure.flushBytes) filler bytes")
                case .rooted(let sizes):
                    Output.error(
                        "\(prefix) root log records checkpoints \(sizes.map(String.init).joined(separator: ", "))")
                case .rootFailed(let reason): Output.error("\(prefix) root log not updated, will retry: \(reason)")
                case .durable(let events):
                    var out: [UInt8] = []
                    for (result, streamSeq) in events {
                        let line = DurableLine(
                            idempotency: result.idempotency, seq: result.seq, shard: shard,
                            status: result.status == .appended ? "durable" : "duplicate", streamSeq: streamSeq)
                        if let bytes = try? encoder.encode(line) { out += Array(bytes) + [0x0A] }
                    }
                    Output.write(out)
                }
            }
        }
    }

    private struct DurableLine: Encodable {
        var idempotency: String
        var seq: UInt64
        var shard: Int
        var status: String
        var streamSeq: UInt64
    }
}

struct ClusterStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every shard: its stream, replicas, lease holder and the writer's lag.",
        discussion: """
            lag is pending (stored, not yet delivered to a writer) plus ack_pending (delivered, not yet durable); \
            durable_through is the stream sequence up to which every event is durable in the shard's ledger. \
            replica is what the shard's writer last published of its replica (FORMAT.md §13): segments_replicated \
            of segments_sealed, replicated_through (events), last_manifest (segment) and last_manifest_ms, \
            keys_replicated, pending_erasures (replica messages still to erase: above 0 while a writer works on them \
            or after one stopped before finishing), keys_erased and chunks_replaced, holder, updated_ms.
            """)

    @OptionGroup var cluster: ClusterOptions

    @Flag(help: "One JSON object per shard, one per line.")
    var json = false

    func run() throws {
        let configuration = try cluster.load()
        let connection = try cluster.connect(configuration, name: "call-ledger status")
        let shards = try clusterErrors { () throws(ClusterError) in try configuration.status(connection: connection) }
        for shard in shards {
            if json {
                try Output.json(shard, snakeCase: true)
            } else {
                let replicas = shard.replicas.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                Output.line(
                    "shard \(shard.shard): stream \(shard.stream) messages \(shard.messages) last_seq \(shard.lastSeq) "
                        + "leader \(shard.leader ?? "none") replicas [\(replicas.joined(separator: ", "))] "
                        + "writer \(shard.leaseHolder ?? "none") lag \(shard.lag) "
                        + "durable_through \(shard.durableThrough) " + Self.replicaText(shard.replica))
            }
        }
    }
}

extension ClusterStatusCommand {
    /// The replica part of a shard's status line.
    static func replicaText(_ replica: ReplicaStatus?) -> String {
        guard let replica else { return "replica none" }
        let segments = "\(replica.segmentsReplicated)/\(replica.segmentsSealed)"
        let last = replica.lastManifest ?? "none"
        return "replica \(segments) segments through \(replica.replicatedThrough) last \(last) keys "
            + "\(replica.keysReplicated) pending_erasures \(replica.pendingErasures)"
    }
}

struct ClusterShardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shard",
        abstract: "Print the shard a tenant's call maps to (FNV-1a 64 of the tenant, or of the call id).")

    @OptionGroup var cluster: ClusterOptions

    @Option(help: "The tenant id.")
    var tenant: String

    @Option(help: "The call id.")
    var call: String

    func run() throws {
        let configuration = try cluster.load()
        Output.line("\(configuration.shard(tenant: tenant, call: call))")
    }
}

struct ClusterRestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a shard's ledger into an empty directory from its replica, then replay its intake.",
        discussion: """
            Lays the shard's ledger out in --dir (absent or empty) from the replica stream CALL_LEDGER_<name>_replica \
            (FORMAT.md §13): ledger.json, verifier.key, the wrapped data keys, every replicated segment and its tree \
            entries (each checked against the SHA-256 in its manifest entry) and the checkpoints they cover; then \
            appends the shard's intake stream from the last manifest entry's replay_from up to the stream's last \
            sequence now (events the ledger already holds are dropped by idempotency key). --key-file (default \
            DIR.key) must be the shard ledger's key file: it is not replicated. Prints one JSON object: shard, \
            directory, segments, restored_events, checkpoints, keys, replay_from, replay_through, replayed, \
            duplicates, rejected, events. The directory is the shard as of the replay: start the shard's writer on \
            it at once, before another writer acknowledges more events.
            """)

    @OptionGroup var cluster: ClusterOptions

    @Option(help: ArgumentHelp("The shard to restore (0 to shards-1).", valueName: "n"))
    var shard: Int

    @Option(help: ArgumentHelp("The directory to restore into (absent or empty).", valueName: "dir"))
    var dir: String

    @Option(help: ArgumentHelp("The shard ledger's key file (default: DIR.key).", valueName: "path"))
    var keyFile: String?

    func run() throws {
        let configuration = try cluster.load()
        let connection = try cluster.connect(configuration, name: "call-ledger restore")
        let report = try clusterErrors { () throws(ClusterError) in
            try configuration.restore(shard: shard, directory: dir, keyFilePath: keyFile, connection: connection)
        }
        try Output.json(report, snakeCase: true)
    }
}
