// call-ledger audit export: one verifiable file with a call's events, their proofs and its redaction proof.
import ArgumentParser
import Foundation
import LedgerOperations
import LedgerStore

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Export what the ledger holds of a call, verifiable offline.",
        subcommands: [Export.self])

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Write one JSON file with a call's events, their proofs, and its redaction proof.",
            discussion: """
                The bundle holds every event of CALL (up to --as-of), each as its binary record with the sealed \
                parts of the classes the requester may read kept sealed, and every other part (erased, or left out \
                by --open) replaced by its SHA-256 digest, which keeps the event's Merkle leaf the same; its entry, \
                leaf hash and audit path in the latest signed checkpoint; and its rendering as `call-ledger cat` \
                prints it, opened parts inline. It also holds the checkpoint with its verifier key, a statement \
                signed by the checkpoint signer listing exactly which events it holds, and the redaction proof \
                (see `prove redaction`) when the call has retention.purged events.

                THE BUNDLE CONTAINS DATA KEYS: for each opened class, the call's AES-256 data key of that class, so \
                that `tools/verify bundle FILE` can authenticate and decrypt the sealed parts and check that the \
                plaintext shown is what the log committed to. Anyone holding the file can read those classes of \
                this call (and nothing else: every key belongs to one call and one class). Use --open to limit the \
                classes, and handle the file as you would the plaintext. Needs the key file. The latest checkpoint \
                must cover the call's events: run `call-ledger checkpoint` first if it does not.
                """)

        @OptionGroup var options: LedgerOptions

        @Argument(help: "The call id.")
        var call: String

        @Option(
            help: ArgumentHelp(
                "Only the events known as of this seq (inclusive) or RFC 3339 acceptance time.", valueName: "seq|time"),
            transform: AsOf.parse)
        var asOf: AsOf?

        @Option(
            name: .customLong("open"),
            help: ArgumentHelp(
                "Open only this data class (repeatable; default: every class whose data key still exists).",
                valueName: "class"))
        var openClasses: [String] = []

        @Option(name: [.customShort("o"), .long], help: ArgumentHelp("The bundle file to write.", valueName: "file"))
        var output: String

        func run() throws {
            let directory = try options.directory()
            try reportingErrors {
                // The bundle holds data keys and plaintext: the operation writes it owner-only, like the key file.
                let bundle = try AuditExportOperation(
                    ledger: LedgerLocation(directory: directory, keyFilePath: options.keyFilePath), call: call,
                    asOf: asOf?.pointInTime, open: openClasses.isEmpty ? nil : Set(openClasses), output: output
                ).run()
                Output.line(
                    "wrote \(output): \(bundle.events.count) events of call \(call) below seq \(bundle.bound), "
                        + "checkpoint \(bundle.checkpoint.treeSize); opened: "
                        + (bundle.classes.opened.isEmpty ? "none" : bundle.classes.opened.joined(separator: ", "))
                        + "; erased: "
                        + (bundle.classes.erased.isEmpty ? "none" : bundle.classes.erased.joined(separator: ", "))
                        + (bundle.classes.withheld.isEmpty
                            ? "" : "; withheld: " + bundle.classes.withheld.joined(separator: ", "))
                        + (bundle.redaction.map { "; redaction proof of \($0.purges.count) erasure(s)" } ?? ""))
            }
        }
    }
}
