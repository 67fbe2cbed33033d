// call-ledger ingest: turn one vendor file (Gladia, Transcribe, Connect...) into events and append them
// atomically: all of the file's events, or none.
import ArgumentParser
import Foundation
import LedgerAdapters
import LedgerCore
import LedgerStore

struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Convert a vendor file into ledger events and append them, all or nothing.",
        discussion: """
            Adapters: \(InputAdapters.all.keys.sorted().map { "\($0) (\(InputAdapters.all[$0]!.summary))" }.joined(separator: "; ")).
            Idempotency keys come from the source's ids, so ingesting the same file again appends nothing. A file \
            the adapter cannot read fails with its JSON path and the reason, exit code 2, and nothing appended. \
            Prints one acknowledgement line per event, as append does.
            """)

    @OptionGroup var options: LedgerOptions

    @Option(name: .customLong("from"), help: "The adapter: \(InputAdapters.all.keys.sorted().joined(separator: ", ")).")
    var kind: String

    @Option(help: "The call id (default: the id the input carries).")
    var call: String?

    @Option(help: "The tenant of the events.")
    var tenant = "default"

    @Option(help: ArgumentHelp("Roles of channels or speakers, e.g. 0=agent,1=customer.", valueName: "n=role,..."))
    var roles: String?

    @Argument(help: "The input file, or - for standard input.")
    var input: String

    func validate() throws {
        guard InputAdapters.all[kind] != nil else {
            throw ValidationError(
                "unknown adapter \"\(kind)\"; known: \(InputAdapters.all.keys.sorted().joined(separator: ", "))")
        }
        _ = try parsedRoles()
    }

    private func parsedRoles() throws -> [Int: String] {
        guard let roles else { return [:] }
        var result: [Int: String] = [:]
        for pair in roles.split(separator: ",") {
            let parts = pair.split(separator: "=")
            guard parts.count == 2, let number = Int(parts[0]), ["agent", "customer", "unknown"].contains(parts[1])
            else {
                throw ValidationError(
                    "--roles takes n=agent|customer|unknown pairs separated by commas, got \"\(pair)\"")
            }
            result[number] = String(parts[1])
        }
        return result
    }

    func run() throws {
        let directory = try options.directory()
        let data: Data
        do {
            data =
                input == "-"
                ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: input))
        } catch {
            Output.error("call-ledger: error: cannot read \(input): \(error.localizedDescription)")
            throw ExitCode(1)
        }
        let adapter = InputAdapters.all[kind]!
        let lines: [[UInt8]]
        do {
            lines = try adapter.events(
                from: data, options: IngestOptions(call: call, tenant: tenant, roles: try parsedRoles(), file: input))
        } catch {
            Output.error("call-ledger: rejected \(error)")
            throw ExitCode(2)
        }
        try reportingErrors {
            let writer = try LedgerWriter(directory: directory, keyFilePath: options.keyFilePath)
            var decoder = EventDecoder(maximumEventBytes: writer.configuration.maximumEventBytes)
            var events: [DecodedEvent] = []
            for (index, line) in lines.enumerated() {
                let decoded = line.withUnsafeBytes { raw in
                    Result { () throws(EventDecodingError) in try decoder.decode(raw, lineNumber: index + 1) }
                }
                switch decoded {
                case .success(let event): events.append(event)
                case .failure(let error):
                    try writer.close()
                    Output.error(
                        "call-ledger: rejected \(input): event \(index + 1) of \(lines.count) from the \(kind) adapter: \(error)"
                    )
                    throw ExitCode(2)
                }
            }
            let results = try writer.appendAtomically(events)
            try writer.close()
            Output.write(AppendCommand.acknowledgements(results))
            let appended = results.count { $0.status == .appended }
            Output.error("ingested \(input) with \(kind): \(appended) appended, \(results.count - appended) duplicate")
        }
    }
}
