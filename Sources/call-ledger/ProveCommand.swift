// call-ledger prove inclusion / consistency / redaction: RFC 6962 proofs as JSON, anchored to a signed checkpoint.
import ArgumentParser
import LedgerOperations
import LedgerStore

struct ProveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prove", abstract: "Produce RFC 6962 proofs as JSON.",
        subcommands: [InclusionCommand.self, ConsistencyCommand.self, RedactionCommand.self])

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
                let proofs = ProofOperations(
                    ledger: LedgerLocation(directory: directory, keyFilePath: options.keyFilePath))
                try Output.json(try proofs.inclusion(seq: seq, treeSize: size), pretty: true)
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
                let proofs = ProofOperations(
                    ledger: LedgerLocation(directory: directory, keyFilePath: options.keyFilePath))
                try Output.json(try proofs.consistency(from: from, to: to), pretty: true)
            }
        }
    }

    struct RedactionCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "redaction",
            abstract: "Prove that a call's erased data classes were committed to before erasure and are gone now.",
            discussion: """
                For each retention.purged event of CALL: the call's events in the tree of the signed checkpoint \
                that the event names (signed just before the data keys were destroyed), each with its entry (class \
                and digest of every sealed part) and audit path; a consistency proof from that checkpoint to the \
                latest one; and the purged event's own audit path in the latest checkpoint. Then the store check: \
                whether keys.sqlite still holds a key for an erased class, and how many sealed parts of the erased \
                classes the segments hold as digests only (compacted) or still as ciphertext. The proofs need no \
                trust in this program: `tools/verify proof FILE` checks the --json output; the store check is the \
                ledger's report of its own files. A call without a retention.purged event is an error. The latest \
                checkpoint must cover the purged events: run `call-ledger checkpoint` after `retention run`.
                """)

        @OptionGroup var options: LedgerOptions

        @Argument(help: "The call id.")
        var call: String

        @Flag(help: "Print the whole proof as JSON (the input of `tools/verify proof`).")
        var json = false

        func run() throws {
            let directory = try options.directory()
            try reportingErrors {
                let proof = try ProofOperations(
                    ledger: LedgerLocation(directory: directory, keyFilePath: options.keyFilePath)
                ).redaction(call: call)
                if json {
                    try Output.json(proof, pretty: true)
                    return
                }
                Output.line(
                    "call \(proof.call): \(proof.purges.count) erasure\(proof.purges.count == 1 ? "" : "s"), proven "
                        + "against the checkpoint of size \(proof.checkpoint.treeSize) (root \(proof.checkpoint.rootHash))"
                )
                for purge in proof.purges {
                    Output.line(
                        "  seq \(purge.seq) retention.purged \(purge.classes.joined(separator: ", ")) "
                            + "(\(purge.policy.name) version \(purge.policy.version), \(purge.method))")
                    Output.line(
                        "    before: \(purge.leaves.count) events of the call in the signed checkpoint of size "
                            + "\(purge.before.treeSize), consistent with the latest one")
                }
                let store = proof.store
                Output.line(
                    store.keysPresent.isEmpty
                        ? "  keys.sqlite: no data key left for \(store.erasedClasses.joined(separator: ", "))"
                        : "  keys.sqlite: data keys STILL PRESENT for \(store.keysPresent.joined(separator: ", "))")
                Output.line(
                    "  segments: \(store.partsCompacted) sealed parts of the erased classes compacted, "
                        + "\(store.partsWithCiphertext) still hold ciphertext"
                        + (store.partsWithCiphertext > 0 ? " (compaction has not removed them yet)" : ""))
            }
        }
    }
}
