// call-ledger cat, stats, checkpoint, reindex: reading events back and maintaining the ledger.
import ArgumentParser
import Foundation
import LedgerCore
import LedgerStore

/// A `--as-of` bound: a seq, or an RFC 3339 time.
enum AsOf: ExpressibleByArgument {
    case seq(UInt64)
    case time(Int64)

    init?(argument: String) {
        if let seq = UInt64(argument) {
            self = .seq(seq)
        } else if let time = Timestamp.parse(argument) {
            self = .time(time.micros)
        } else {
            return nil
        }
    }
}

struct CatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cat",
        abstract: "Print events as JSON lines.",
        discussion: """
            Sealed parts are opened where the key file and the data key allow; otherwise each sealed value \
            shows as {"redacted":"<class>","digest":"<sha256 of the sealed bytes>"}, and the event's "sealed" list \
            says which parts are opened, shredded, compacted or locked (no key file). --as-of SEQ prints what was \
            known once event SEQ was appended; --as-of TIME what was accepted at or before TIME.
            """)

    @OptionGroup var options: LedgerOptions

    @Option(help: "Only this call's events.")
    var call: String?

    @Option(help: "First seq (inclusive).")
    var from: UInt64 = 0

    @Option(help: "Last seq (inclusive).")
    var to: UInt64 = .max

    @Option(help: ArgumentHelp("Only events known as of this seq or RFC 3339 time.", valueName: "seq|time"))
    var asOf: AsOf?

    func run() throws {
        let directory = try options.directory()
        try reportingErrors {
            let reader = try LedgerReader(directory: directory, keyFilePath: options.keyFilePath)
            var selection = EventSelection(call: call, from: from, to: to)
            switch asOf {
            case .seq(let seq): selection.to = min(selection.to, seq)
            case .time(let time): selection.asOfTime = time
            case nil: break
            }
            var buffer: [UInt8] = []
            try reader.events(selection) { line in
                buffer.append(contentsOf: line)
                buffer.append(0x0A)
                if buffer.count > 1 << 16 {
                    Output.write(buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            Output.write(buffer)
        }
    }
}

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Show events, calls, segments, and raw versus stored bytes.")

    @OptionGroup var options: LedgerOptions

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let directory = try options.directory()
        try reportingErrors {
            let stats = try LedgerReader(directory: directory, keyFilePath: options.keyFilePath).statistics()
            if json {
                try Output.json(stats)
                return
            }
            Output.line("events              \(stats.events)")
            Output.line("calls               \(stats.calls)")
            Output.line("segments            \(stats.segments)")
            Output.line("frames              \(stats.frames)")
            Output.line("input bytes (JSON)  \(stats.inputBytes)")
            Output.line("record bytes        \(stats.recordBytes)")
            Output.line("stored bytes (zstd) \(stats.storedBytes)")
            Output.line("compression ratio   \(String(format: "%.2f", stats.compressionRatio))x")
            Output.line("tree bytes          \(stats.treeBytes)")
            Output.line(
                "checkpoints         \(stats.checkpoints)\(stats.latestCheckpointSize.map { " (latest at size \($0))" } ?? "")"
            )
        }
    }
}

/// The JSON form of a checkpoint.
struct CheckpointOutput: Encodable {
    var treeSize: UInt64
    var rootHash: String
    var note: String

    enum CodingKeys: String, CodingKey {
        case note
        case treeSize = "tree_size"
        case rootHash = "root_hash"
    }
}

struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Sign and store a checkpoint (C2SP tlog-checkpoint, Ed25519 signed note) of the whole log.")

    @OptionGroup var options: LedgerOptions

    @Flag(help: "Print JSON instead of the signed note.")
    var json = false

    func run() throws {
        let directory = try options.directory()
        try reportingErrors {
            let writer = try LedgerWriter(directory: directory, keyFilePath: options.keyFilePath)
            if let repair = writer.treeRepair { Output.error("call-ledger: recovered: \(repair)") }
            let (checkpoint, note) = try writer.checkpoint()
            try writer.close()
            if json {
                try Output.json(
                    CheckpointOutput(treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash.hex, note: note))
            } else {
                Output.write(Array(note.utf8))
            }
        }
    }
}

struct ReindexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reindex", abstract: "Delete index.sqlite and rebuild it from the log.")

    @OptionGroup var options: LedgerOptions

    func run() throws {
        let directory = try options.directory()
        try reportingErrors {
            let report = try LedgerWriter.reindex(directory: directory)
            Output.line("reindexed \(report.logSize) events in \(report.framesIndexed) frames")
        }
    }
}
