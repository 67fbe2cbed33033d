// call-ledger cat, stats, checkpoint, reindex: reading events back and maintaining the ledger.
import ArgumentParser
import Foundation
import LedgerCore
import LedgerOperations
import LedgerStore

/// A `--as-of` bound: a seq, or an RFC 3339 time.
enum AsOf {
    case seq(UInt64)
    case time(Int64)

    /// Parses `--as-of`; an argument that is neither a seq nor an RFC 3339 time is a usage error (exit 64) that
    /// shows both forms.
    static func parse(_ argument: String) throws -> AsOf {
        if let seq = UInt64(argument) { return .seq(seq) }
        if let time = Timestamp.parse(argument) { return .time(time.micros) }
        throw ValidationError(
            "'\(argument)' is neither a seq (a whole number such as 4200) nor an RFC 3339 time with Z or an "
                + "offset (2026-11-26T10:00:00Z, 2026-11-26T11:00:00.5+01:00)")
    }

    /// The bound as operations take it.
    var pointInTime: PointInTime {
        switch self {
        case .seq(let seq): .seq(seq)
        case .time(let time): .time(time)
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

    @Option(help: "Last seq (inclusive; default: the last event).")
    var to: UInt64?

    @Option(
        help: ArgumentHelp("Only events known as of this seq or RFC 3339 time.", valueName: "seq|time"),
        transform: AsOf.parse)
    var asOf: AsOf?

    func run() throws {
        let directory = try options.directory()
        try reportingErrors {
            options.warnIfKeyFileIsMissing(directory: directory, shownAs: #"its digest with "state":"locked""#)
            let reader = try LedgerReader(directory: directory, keyFilePath: options.keyFilePath)
            var selection = EventSelection(call: call, from: from, to: to ?? .max)
            switch asOf {
            case .seq(let seq): selection.to = min(selection.to, seq)
            case .time(let time): selection.asOfTime = time
            case nil: break
            }
            var buffer: [UInt8] = []
            var printed = 0
            try reader.events(selection) { line in
                printed += 1
                buffer.append(contentsOf: line)
                buffer.append(0x0A)
                if buffer.count > 1 << 16 {
                    Output.write(buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            Output.write(buffer)
            if let call, printed == 0 {
                let bounded = asOf != nil || from > 0 || to != nil
                throw LedgerError.invalidRequest(
                    "call '\(call)' has no events in the ledger\(bounded ? " within the given bounds" : "")")
            }
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
            let reader = try LedgerReader(directory: directory, keyFilePath: options.keyFilePath)
            if let tail = reader.tail { Output.error("call-ledger: note: \(tail)") }
            let stats = try reader.statistics()
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
    @OptionGroup var lock: WriterLockOptions

    @Flag(help: "Print JSON instead of the signed note.")
    var json = false

    func run() throws {
        let directory = try options.directory()
        try reportingErrors {
            let stored = try LedgerWriter.signCheckpoint(
                directory: directory, keyFilePath: options.keyFilePath, lockWait: lock.wait)
            if let repair = stored.treeRepair { Output.error("call-ledger: recovered: \(repair)") }
            let (checkpoint, note) = (stored.checkpoint, stored.note)
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
        commandName: "reindex", abstract: "Delete index.sqlite and tree/ and rebuild them from the log.")

    @OptionGroup var options: LedgerOptions
    @OptionGroup var lock: WriterLockOptions

    func run() throws {
        let directory = try options.directory()
        try reportingErrors {
            let report = try LedgerWriter.reindex(directory: directory, lockWait: lock.wait)
            Output.line("reindexed \(report.logSize) events in \(report.framesIndexed) frames")
        }
    }
}
