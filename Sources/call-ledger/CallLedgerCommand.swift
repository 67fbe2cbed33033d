// call-ledger: the command-line interface to a CallLedger ledger.
import ArgumentParser
import Foundation
import LedgerCore
import LedgerOperations
import LedgerStore

@main
struct CallLedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call-ledger",
        abstract: "A tamper-evident, compressed, append-only ledger of contact-center call events.",
        discussion: """
            The ledger directory comes from --ledger DIR or CALL_LEDGER_DIR; its key file (master key and \
            checkpoint signer) from --key-file or CALL_LEDGER_KEY_FILE, by default DIR.key beside the directory.
            """,
        version: "0.1.0",
        subcommands: [
            InitCommand.self, AppendCommand.self, CatCommand.self, VerifyCommand.self, CheckpointCommand.self,
            ProveCommand.self, StatsCommand.self, ReindexCommand.self, SimulateCommand.self, IngestCommand.self,
            ProjectCommand.self, RebuildCommand.self, TranscriptCommand.self, CallsCommand.self, HoldCommand.self,
            RetentionCommand.self, AuditCommand.self, QACommand.self, CRMCommand.self, ServeCommand.self,
            ClusterCommand.self,
        ]
    )
}

/// Options every command that opens an existing ledger shares.
struct LedgerOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The ledger directory (default: $CALL_LEDGER_DIR).", valueName: "dir"))
    var ledger: String?

    @Option(
        name: .long,
        help: ArgumentHelp("The key file (default: $CALL_LEDGER_KEY_FILE, else DIR.key).", valueName: "path"))
    var keyFile: String?

    /// The ledger directory.
    func directory() throws -> String {
        if let ledger { return ledger }
        if let fromEnvironment = ProcessInfo.processInfo.environment["CALL_LEDGER_DIR"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        throw ValidationError("no ledger directory: pass --ledger DIR or set CALL_LEDGER_DIR")
    }

    /// The key file path, if one was named.
    var keyFilePath: String? {
        keyFile ?? ProcessInfo.processInfo.environment["CALL_LEDGER_KEY_FILE"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Says on standard error, when the key file is absent, that sealed text is locked and how it is shown
    /// (`shownAs`), so a reader without keys never takes locked text for erased text.
    func warnIfKeyFileIsMissing(directory: String, shownAs: String) {
        let path = keyFilePath ?? LedgerLayout(directory: directory).defaultKeyFile
        guard !FileManager.default.fileExists(atPath: path) else { return }
        Output.error(
            "call-ledger: warning: no key file at \(path): sealed text is locked, not erased, and shows as "
                + "\(shownAs) (pass --key-file or set CALL_LEDGER_KEY_FILE)")
    }
}

/// How long a command that writes waits for another writer to release the ledger's lock. Readers never take it.
struct WriterLockOptions: ParsableArguments {
    /// The wait when `--wait` is not given.
    static let defaultWait = 5.0

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Seconds to wait while another writer holds the ledger's lock before giving up (0: give up at once).",
            valueName: "seconds"))
    var wait: Double = Self.defaultWait

    func validate() throws {
        guard wait.isFinite, wait >= 0, wait <= 86_400 else {
            throw ValidationError("--wait must be a number of seconds from 0 to 86400")
        }
    }
}

/// Writes to standard output and standard error without Foundation's line buffering surprises.
enum Output {
    /// Writes bytes to a file descriptor completely.
    static func write(_ bytes: [UInt8], to descriptor: Int32 = 1) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += n
            }
        }
    }

    /// Writes a line of text to standard output.
    static func line(_ text: String) {
        write(Array((text + "\n").utf8))
    }

    /// Writes lines of text to standard output, in writes of about 64 KiB rather than one per line.
    static func lines(_ lines: some Sequence<String>) {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 16)
        for line in lines {
            buffer.append(contentsOf: line.utf8)
            buffer.append(0x0A)
            if buffer.count >= 1 << 16 {
                write(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        if !buffer.isEmpty { write(buffer) }
    }

    /// Writes a line to standard error.
    static func error(_ text: String) {
        write(Array((text + "\n").utf8), to: 2)
    }

    /// Encodes a value as one line of JSON (sorted keys) on standard output; `snakeCase` turns property names
    /// such as `startMs` into `start_ms`; `userInfo` reaches the value's `encode(to:)`.
    static func json(
        _ value: some Encodable, pretty: Bool = false, snakeCase: Bool = false,
        userInfo: [CodingUserInfoKey: any Sendable] = [:]
    ) throws {
        let encoder = JSONEncoder()
        encoder.userInfo = userInfo
        if snakeCase { encoder.keyEncodingStrategy = .convertToSnakeCase }
        encoder.outputFormatting =
            pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        write(Array(try encoder.encode(value)) + [0x0A])
    }
}

/// A one-line progress bar on standard error, drawn only when it is a terminal.
struct ProgressBar {
    let label: String
    let enabled = isatty(2) == 1
    private var lastDrawn: Double = -1

    init(label: String) {
        self.label = label
    }

    mutating func update(done: UInt64, total: UInt64) {
        guard enabled, total > 0 else { return }
        let fraction = min(1, Double(done) / Double(total))
        guard fraction - lastDrawn >= 0.005 || fraction == 1 else { return }
        lastDrawn = fraction
        let width = 40
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        Output.write(Array("\r\(label) [\(bar)] \(Int(fraction * 100))% \(done)/\(total)".utf8), to: 2)
    }

    func finish() {
        if enabled && lastDrawn >= 0 { Output.write(Array("\n".utf8), to: 2) }
    }
}

/// Draws an operation's progress on standard error: one progress bar per stage, labelled with its name.
final class ProgressBars: OperationProgress {
    private var bars: [String: ProgressBar] = [:]

    func update(_ stage: String, done: UInt64, total: UInt64) {
        bars[stage, default: ProgressBar(label: stage)].update(done: done, total: total)
    }

    func finish(_ stage: String) {
        bars.removeValue(forKey: stage)?.finish()
    }
}

/// Input files named on the command line.
enum InputFile {
    /// The bytes of `path` (standard input for `-`). A file that cannot be read is not rejected input: it ends the
    /// command with status 1 and a message naming the file and the system's reason.
    static func read(_ path: String) throws -> Data {
        if path == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            Output.error("call-ledger: error: cannot read \(path): \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            return try handle.readToEnd() ?? Data()
        } catch {
            Output.error("call-ledger: error: cannot read \(path): \(String(cString: strerror(EIO)))")
            throw ExitCode(1)
        }
    }

    /// Whether `argument` names a file rather than a version or name: it exists, has a directory part or ends
    /// in `.yaml`.
    static func looksLikePath(_ argument: String) -> Bool {
        FileManager.default.fileExists(atPath: argument) || argument.contains("/") || argument.hasSuffix(".yaml")
    }
}

/// Runs `body`, turning ledger and operation errors into a message on standard error and exit code 1.
func reportingErrors<R>(_ body: () throws -> R) throws -> R {
    do {
        return try body()
    } catch let error as LedgerError {
        Output.error("call-ledger: error: \(error)")
        throw ExitCode(1)
    } catch let error as OperationError {
        Output.error("call-ledger: error: \(error)")
        throw ExitCode(1)
    }
}
