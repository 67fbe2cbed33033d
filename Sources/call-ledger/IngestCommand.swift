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

    @Argument(help: "The input file, or - for standard input.")
    var input: String

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

    /// The bytes of `path` (standard input for `-`); a file that cannot be read ends the command with status 1.
    private static func read(_ path: String) throws -> Data {
        do {
            return path == "-"
                ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            Output.error("call-ledger: error: cannot read \(path): \(error.localizedDescription)")
            throw ExitCode(1)
        }
    }

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
        let adapter = InputAdapters.all[kind]!
        let callStart = try reportingErrors { () throws(LedgerError) -> Timestamp? in
            guard adapter.readsCallStart, let call else { return nil }
            return try Self.start(of: call, directory: directory, keyFilePath: options.keyFilePath)
        }
        let lines: [[UInt8]]
        do {
            let options = IngestOptions(
                call: call, tenant: tenant, roles: try parsedRoles(), file: input, track: try parsedTrack(),
                stream: stream, audio: audio, callStart: callStart)
            lines = try adapter.events(from: data, options: options)
        } catch {
            Output.error("call-ledger: rejected \(error)")
            throw ExitCode(2)
        }
        try reportingErrors {
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
            Output.error("ingested \(input) with \(kind): \(appended) appended, \(results.count - appended) duplicate")
        }
    }
}
