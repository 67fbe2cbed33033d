// call-ledger init: create a ledger directory and its key file.
import ArgumentParser
import LedgerStore

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a new ledger in DIR and its key file (mode 0600, by default DIR.key).",
        discussion: """
            Writes ledger.json (settings), verifier.key (the C2SP verifier key that checks checkpoints), \
            empty segments/, tree/ and checkpoints/, index.sqlite and keys.sqlite. The key file holds the master \
            key that wraps data keys and the Ed25519 checkpoint signer; keep it outside the ledger directory.
            """)

    @Argument(help: "The directory to create (must be new or empty).")
    var directory: String

    @Option(help: ArgumentHelp("Where to write the key file (default: DIR.key).", valueName: "path"))
    var keyFile: String?

    @Option(help: "The checkpoint origin line and signer name (default: call-ledger/<random id>).")
    var origin: String?

    @Option(help: "Roll segments at this many bytes.")
    var segmentSize: Int?

    @Option(help: "Write a checkpoint every N events.")
    var checkpointEveryEvents: Int?

    @Option(help: "Write a checkpoint once T seconds have passed since the last one.")
    var checkpointEverySeconds: Int?

    @Option(help: "Reject events larger than this many bytes of JSON (default 1048576).")
    var maxEventBytes: Int?

    @Option(help: "Most events per commit batch (frame), default 1000.")
    var batch: Int?

    @Flag(help: "Keep sealed bytes inline in frames, the layout before side-cars (FORMAT.md §2.1), for comparisons.")
    var sealedInline = false

    @Flag(
        help: """
            Store records in frames with their seqs and absolute times, the form before compact records             (FORMAT.md §2.2), for comparisons.
            """)
    var plainRecords = false

    func run() throws {
        try reportingErrors {
            var options = LedgerCreationOptions()
            options.origin = origin
            options.segmentSizeLimit = segmentSize
            options.checkpointEveryEvents = checkpointEveryEvents
            options.checkpointEverySeconds = checkpointEverySeconds
            options.maximumEventBytes = maxEventBytes
            options.maximumBatchEvents = batch
            if sealedInline { options.sealedSideCar = false }
            if plainRecords { options.compactRecords = false }
            let layout = try LedgerWriter.create(directory: directory, keyFilePath: keyFile, options: options)
            Output.line("created ledger \(layout.directory)")
            Output.line(
                "key file: \(keyFile ?? layout.defaultKeyFile) (mode 0600; keep it secret and outside backups of the ledger)"
            )
        }
    }
}
