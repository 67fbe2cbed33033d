// call-ledger prove inclusion / consistency: RFC 6962 proofs as JSON, anchored to a signed checkpoint.
import ArgumentParser
import LedgerStore

struct ProveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prove", abstract: "Produce RFC 6962 proofs as JSON.",
        subcommands: [InclusionCommand.self, ConsistencyCommand.self])

    struct InclusionCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "inclusion",
            abstract: "Prove that event SEQ is in the tree of size M (default: the latest checkpoint's).",
            discussion: """
                The JSON holds the event's entry bytes (base64) and leaf hash, the audit path, the root for size M, \
                the signed checkpoint the proof is anchored to with its verifier key, and, when M is not the \
                checkpoint's size, a consistency proof from M to it.
                """)

        @OptionGroup var options: LedgerOptions

        @Option(help: "The event's seq.")
        var seq: UInt64

        @Option(help: "The tree size (default: the latest checkpoint's).")
        var size: UInt64?

        func run() throws {
            let directory = try options.directory()
            try reportingErrors {
                let reader = try LedgerReader(directory: directory, keyFilePath: options.keyFilePath)
                try Output.json(try reader.inclusionProof(seq: seq, treeSize: size), pretty: true)
            }
        }
    }

    struct ConsistencyCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "consistency",
            abstract: "Prove that the tree of size N extends the tree of size M.")

        @OptionGroup var options: LedgerOptions

        @Option(help: "The earlier tree size M.")
        var from: UInt64

        @Option(help: "The later tree size N.")
        var to: UInt64

        func run() throws {
            let directory = try options.directory()
            try reportingErrors {
                let reader = try LedgerReader(directory: directory, keyFilePath: options.keyFilePath)
                try Output.json(try reader.consistencyProof(from: from, to: to), pretty: true)
            }
        }
    }
}
