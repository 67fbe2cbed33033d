// call-ledger ingest: turn one vendor file (Gladia, Transcribe, Connect...) into events and append them
// atomically: all of the events read, or none. Optional enrichments that cannot be read are left out with a
// warning (`--strict` rejects instead); the records of a stream are accepted one by one, each rejected one
// reported with its line (`--atomic` rejects the whole input instead).
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
            \(IngestCommand.maximumInputBytes / 1_000_000) MB are refused. \
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

    /// The largest input read (bytes): the adapters hold the parsed input in memory.
    static let maximumInputBytes = 200_000_000

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
        let data: Data
        do {
            if path == "-" {
                data = try FileHandle.standardInput.read(upToCount: maximumInputBytes + 1) ?? Data()
            } else {
                let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
                guard size <= maximumInputBytes else { throw InputTooLarge() }
                data = try Data(contentsOf: URL(fileURLWithPath: path))
            }
        } catch is InputTooLarge {
            data = Data(count: maximumInputBytes + 1)
        } catch {
            Output.error("call-ledger: error: cannot read \(path): \(error.localizedDescription)")
            throw ExitCode(1)
        }
        guard data.count <= maximumInputBytes else {
            Output.error(
                "call-ledger: rejected \(path): the input is larger than \(maximumInputBytes) bytes, the most ingest "
                    + "reads; split it (JSON lines by lines, a batch output per call)")
            throw ExitCode(2)
        }
        return data
    }

    /// A file larger than `maximumInputBytes`.
    private struct InputTooLarge: Error {}

    /// When `call` started as the ledger knows it: the `initiated_at` of its newest `call.started` (the latest
    /// `updated_at`, the last appended among equal ones, events without `updated_at` before all others).
    private static func start(
        of call: String, directory: String, keyFilePath: String?
    ) throws(LedgerError) -> Timestamp? {
        let reader = try LedgerReader(directory: directory, keyFilePath: keyFilePath)
        var newest: (updated: Int64, start: Timestamp?)?
        try reader.events(EventSelection(call: call)) { line in
            guard let event = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                event["type"] as? String == EventType.callStarted.rawValue,
                let body = event["body"] as? [String: Any]
            else { return }
            let updated = (body["updated_at"] as? String).flatMap(Timestamp.parse)?.micros ?? .min
            if updated >= newest?.updated ?? .min {
                newest = (updated, (body["initiated_at"] as? String).flatMap(Timestamp.parse))
            }
        }
        return newest?.start
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
        let data = try Self.read(input)
        let audio = try audioInputs()
        guard let adapter = InputAdapters.all[kind] else { throw ValidationError("unknown adapter \"\(kind)\"") }
        let callStart = try reportingErrors { () throws(LedgerError) -> Timestamp? in
            guard adapter.readsCallStart, let call else { return nil }
            return try Self.start(of: call, directory: directory, keyFilePath: options.keyFilePath)
        }
        let ingestOptions = IngestOptions(
            call: call, tenant: tenant, roles: try parsedRoles(), file: input, track: try parsedTrack(),
            stream: stream, audio: audio, callStart: callStart)
        let output: AdapterOutput
        do {
            output = try adapter.read(data, options: ingestOptions)
        } catch {
            Output.error("call-ledger: rejected \(error)\(suggestion(for: data))")
            try summarize(IngestSummary(input: input, from: kind, rejected: [IngestSummary.Problem(error)]))
            throw ExitCode(2)
        }
        for warning in output.warnings {
            Output.error("call-ledger: \(strict ? "rejected" : "warning: left out") \(warning)")
        }
        for record in output.rejected { Output.error("call-ledger: rejected record \(record)") }
        var summary = IngestSummary(
            input: input, from: kind, warnings: output.warnings.map(IngestSummary.Problem.init),
            rejected: output.rejected.map(IngestSummary.Problem.init))
        let refusal =
            strict && !output.warnings.isEmpty
            ? "--strict: \(output.warnings.count) enrichment(s) could not be read"
            : atomic && !output.rejected.isEmpty
                ? "--atomic: \(output.rejected.count) record(s) were rejected"
                : output.events.isEmpty && !output.rejected.isEmpty ? "no record could be read" : nil
        if let refusal {
            Output.error("call-ledger: rejected \(input): \(refusal); nothing appended\(suggestion(for: data))")
            try summarize(summary)
            throw ExitCode(2)
        }
        let lines = output.events
        let counts = try reportingErrors { () throws -> (appended: Int, duplicate: Int) in
            let writer = try policyDirectory.openWriter(options, lockWait: lock.wait)
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
            Output.error(
                "ingested \(input) with \(kind): \(appended) appended, \(results.count - appended) duplicate"
                    + (output.warnings.isEmpty ? "" : ", \(output.warnings.count) enrichment(s) left out")
                    + (output.rejected.isEmpty ? "" : ", \(output.rejected.count) record(s) rejected"))
            return (appended, results.count - appended)
        }
        summary.accepted = true
        summary.appended = counts.appended
        summary.duplicate = counts.duplicate
        try summarize(summary)
        if !output.rejected.isEmpty { throw ExitCode(2) }
    }

    /// Prints `summary` as one JSON line when `--json` is given.
    private func summarize(_ summary: IngestSummary) throws {
        if json { try Output.json(summary) }
    }

    /// A hint naming the adapter `data` looks written for, when it is not `kind`.
    private func suggestion(for data: Data) -> String {
        guard let likely = InputAdapters.likelyKind(of: data), likely != kind else { return "" }
        return "; the file looks like \(likely) input: try --from \(likely)"
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
