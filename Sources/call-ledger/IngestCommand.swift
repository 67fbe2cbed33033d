// call-ledger ingest: turn one vendor file (Gladia, Transcribe, Connect...) into events and append them, a thin
// adapter over LedgerOperations' IngestOperation: a rejected input appends nothing; an input of up to 1000 events
// is appended as one frame, a larger one in frames of 1000 (a crash leaves a prefix that the same ingest run again
// completes). Optional enrichments that cannot be read are left out with a warning (`--strict` rejects instead);
// the records of a stream are accepted one by one, each rejected one reported with its line (`--atomic` rejects
// the whole input instead).
import ArgumentParser
import Foundation
import LedgerAdapters
import LedgerCore
import LedgerOperations
import LedgerStore

struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Convert a vendor file into ledger events and append them; a rejected file appends nothing.",
        discussion: """
            Adapters: \(InputAdapters.all.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value.summary))" }.joined(separator: "; ")).
            Idempotency keys come from the source's ids (and the call, when --call names another than the \
            source's own), so ingesting the same file again appends nothing. A file the adapter cannot read fails \
            with its JSON path and the reason, exit code 2, nothing appended, and the adapter the file looks like \
            when it is another. An optional enrichment (issues, categories, loudness, sentiment, translations, a \
            member of a newer schema) that cannot be read is left out with a warning naming the file and JSON \
            path; --strict rejects the file instead. Inputs that are streams of independent records (JSON lines: \
            contact-lens real-time, connect-ctr, transcribe-stream, gladia-live) are read record by record: each \
            rejected record is reported with its line, path and reason, the others are appended, and the exit \
            code is 2; --atomic rejects the whole input instead. Inputs larger than \
            \(IngestCommand.maximumInputBytes / 1_000_000) MB (\(IngestCommand.maximumInputBytes) bytes) are \
            refused with exit code 2 and nothing appended, a file by its size before it is read, standard input \
            after at most one byte more than the limit. \
            A first pass converts and checks every event, keeping at most one frame of them: a rejected input \
            appends nothing, and an input of up to \(IngestCommand.batchEvents) events is appended as one frame, \
            all or nothing. A larger input is converted again in a second pass and appended in frames of \
            \(IngestCommand.batchEvents) events, each durable (and acknowledged) before the next is built. A \
            process killed during the second pass leaves the frames acknowledged so far; running the same ingest \
            again completes it, reporting the events already appended as duplicates (their idempotency keys are \
            the same), so that the ledger holds each event of the input exactly once. gladia, transcribe and \
            transcribe-ca read their large arrays (utterances, items, turns) one element at a time: memory stays \
            within the input's size plus a fixed amount; the other adapters read their input whole. \
            Prints one acknowledgement line per event, as append does. connect-ctr keeps the newest copy \
            (LastUpdateTimestamp) of each contact's record; an update of a record already ingested is a new fact. \
            kvs-fragments times each fragment from the initiated_at of the call's call.started when the ledger \
            already holds one, else from the listing's first fragment.
            """)

    @OptionGroup var options: LedgerOptions
    @OptionGroup var policyDirectory: PolicyDirectory
    @OptionGroup var lock: WriterLockOptions

    @Option(name: .customLong("from"), help: "The adapter: \(InputAdapters.all.keys.sorted().joined(separator: ", ")).")
    var kind: String

    @Option(help: "The call id (default: the id the input carries, such as a contact record's ContactId).")
    var call: String?

    @Option(help: "The tenant of the events.")
    var tenant = "default"

    @Option(help: ArgumentHelp("Roles of channels or speakers, e.g. 0=agent,1=customer.", valueName: "n=role,..."))
    var roles: String?

    @Option(
        help: ArgumentHelp(
            "The audio track the input describes (kvs-fragments).", valueName: "AUDIO_FROM_CUSTOMER|AUDIO_TO_CUSTOMER"))
    var track: String?

    @Option(
        help: ArgumentHelp("The media stream, overriding the one the input names (kvs-fragments).", valueName: "ARN"))
    var stream: String?

    @Option(
        help: ArgumentHelp(
            "Audio bytes of one fragment to digest and seal (kvs-fragments); repeat for more fragments. The number may be left out when the input lists one fragment.",
            valueName: "[FRAGMENT_NUMBER=]FILE"))
    var audio: [String] = []

    @Flag(help: "Reject the input when an optional enrichment cannot be read, instead of leaving it out.")
    var strict = false

    @Flag(help: "Reject the whole input when one of its records is rejected, instead of appending the others.")
    var atomic = false

    @Flag(help: "After the acknowledgements, print a JSON summary: counts, warnings and rejected records.")
    var json = false

    @Argument(help: "The input file, or - for standard input.")
    var input: String

    /// The largest input read, in bytes.
    static let maximumInputBytes = IngestOperation.maximumInputBytes
    /// The most events appended as one frame.
    static let batchEvents = IngestRequest.defaultBatchEvents

    func validate() throws {
        guard let adapter = InputAdapters.all[kind] else {
            throw ValidationError(
                "unknown adapter \"\(kind)\"; known: \(InputAdapters.all.keys.sorted().joined(separator: ", "))")
        }
        let given = IngestOption.allCases.filter { option in
            switch option {
            case .call: call != nil
            case .track: track != nil
            case .stream: stream != nil
            case .audio: !audio.isEmpty
            }
        }
        if let foreign = given.first(where: { $0 != .call && !adapter.mediaOptions.contains($0) }) {
            throw ValidationError("--\(foreign.rawValue) does not apply to --from \(kind)")
        }
        if let missing = IngestOption.allCases.first(where: {
            adapter.requiredOptions.contains($0) && !given.contains($0)
        }) {
            throw ValidationError("--from \(kind) needs --\(missing.rawValue)")
        }
        _ = try parsedTrack()
        _ = try parsedRoles()
    }

    private func parsedTrack() throws -> AudioTrack? {
        guard let track else { return nil }
        guard let parsed = AudioTrack(rawValue: track) else {
            throw ValidationError(
                "--track takes \(AudioTrack.allCases.map(\.rawValue).joined(separator: " or ")), got \"\(track)\"")
        }
        return parsed
    }

    /// The `--audio` files, read; a leading `DIGITS=` names the fragment.
    private func audioInputs() throws -> [AudioInput] {
        try audio.map { argument in
            guard let equals = argument.firstIndex(of: "="), equals > argument.startIndex,
                argument[..<equals].allSatisfy({ $0.isASCII && $0.isNumber })
            else { return AudioInput(fragment: nil, data: try Self.read(argument), file: argument) }
            let path = String(argument[argument.index(after: equals)...])
            return AudioInput(fragment: String(argument[..<equals]), data: try Self.read(path), file: path)
        }
    }

    /// The bytes of `path` (standard input for `-`); a file that cannot be read ends the command with status 1,
    /// one larger than `maximumInputBytes` with status 2.
    private static func read(_ path: String) throws -> Data {
        do throws(IngestError) {
            return try IngestOperation.read(path == "-" ? .standardInput : .file(path))
        } catch {
            throw report(error)
        }
    }

    /// Prints `error` as ingest always has, and returns the exit code to end with.
    private static func report(_ error: IngestError) -> ExitCode {
        switch error {
        case .unknownAdapter, .unreadable, .ledger, .delivery: Output.error("call-ledger: error: \(error)")
        case .openingWriter: break
        case .tooLarge, .rejected, .refused, .invalidEvent: Output.error("call-ledger: rejected \(error)")
        }
        return ExitCode(error.exitCode)
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
        // The input is read before the audio files, so that a missing input is the error reported first.
        let data = try Self.read(input)
        let request = IngestRequest(
            kind: kind, source: .bytes(data, name: input), call: call, tenant: tenant, roles: try parsedRoles(),
            track: try parsedTrack(), stream: stream, audio: try audioInputs(), strict: strict, atomic: atomic)
        let operation = IngestOperation(directory: directory, keyFilePath: options.keyFilePath)
        let result: IngestResult
        do throws(IngestError) {
            result = try operation.run(
                request, openWriter: { try policyDirectory.openWriter(options, lockWait: lock.wait) },
                progress: { progress in
                    switch progress {
                    case .read(let warnings, let rejected):
                        for warning in warnings {
                            Output.error("call-ledger: \(strict ? "rejected" : "warning: left out") \(warning)")
                        }
                        for record in rejected { Output.error("call-ledger: rejected record \(record)") }
                    case .appended(let results):
                        Output.write(AppendCommand.acknowledgements(results))
                    }
                })
        } catch {
            let exit = Self.report(error)
            switch error {
            case .openingWriter(let underlying): throw underlying
            case .rejected(let rejection, _):
                try summarize(IngestSummary(input: input, from: kind, rejected: [IngestSummary.Problem(rejection)]))
            case .refused(_, _, let warnings, let rejected, _):
                try summarize(
                    IngestSummary(
                        input: input, from: kind, warnings: warnings.map(IngestSummary.Problem.init),
                        rejected: rejected.map(IngestSummary.Problem.init)))
            default: break
            }
            throw exit
        }
        Output.error(
            "ingested \(input) with \(kind): \(result.appended) appended, \(result.duplicate) duplicate"
                + (result.warnings.isEmpty ? "" : ", \(result.warnings.count) enrichment(s) left out")
                + (result.rejected.isEmpty ? "" : ", \(result.rejected.count) record(s) rejected"))
        try summarize(
            IngestSummary(
                input: input, from: kind, accepted: true, appended: result.appended, duplicate: result.duplicate,
                warnings: result.warnings.map(IngestSummary.Problem.init),
                rejected: result.rejected.map(IngestSummary.Problem.init)))
        if !result.rejected.isEmpty { throw ExitCode(2) }
    }

    /// Prints `summary` as one JSON line when `--json` is given.
    private func summarize(_ summary: IngestSummary) throws {
        if json { try Output.json(summary) }
    }
}

/// The `--json` summary of one ingest.
struct IngestSummary: Encodable {
    /// One warning or rejection: where, and why.
    struct Problem: Encodable {
        var file: String
        var line: Int?
        var path: String
        var reason: String

        init(_ error: AdapterError) {
            file = error.file
            line = error.line
            path = error.path
            reason = error.reason
        }
    }

    /// The input's name.
    var input: String
    /// The adapter.
    var from: String
    /// Whether events were appended (or found duplicate); false when the input was rejected whole.
    var accepted = false
    /// Events appended.
    var appended = 0
    /// Events already in the ledger.
    var duplicate = 0
    /// Enrichments left out (or, with --strict, the reasons for rejecting).
    var warnings: [Problem] = []
    /// Records rejected, or the input's error when it was rejected whole.
    var rejected: [Problem] = []
}
