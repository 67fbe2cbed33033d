// Helpers shared by the test targets: scratch directories, fixtures, simulated events, running the CLI.
public import Foundation
public import LedgerCore
import LedgerSimulator
import LedgerStore

/// A fresh directory under the system temporary directory, removed when the value is released.
public final class ScratchDirectory: @unchecked Sendable {
    /// The directory's path.
    public let path: String

    /// Creates a new, empty directory.
    public init() {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent("call-ledger-test-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A path inside the directory.
    public func file(_ name: String) -> String { path + "/" + name }
}

/// The repository's directories, found from this file's path.
public enum Repository {
    /// The repository root.
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// A file under `Fixtures/`.
    public static func fixture(_ relativePath: String) -> URL {
        root.appendingPathComponent("Fixtures").appendingPathComponent(relativePath)
    }

    /// The built `call-ledger` executable (next to the test bundle).
    public static var executable: String {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("call-ledger").path
        if FileManager.default.isExecutableFile(atPath: besideTests) { return besideTests }
        return root.appendingPathComponent(".build/debug/call-ledger").path
    }
}

/// Simulated interchange lines; call durations from `callSeconds`, else the simulator's default.
public func simulatedLines(
    calls: Int, seed: UInt64, agents: Int = 4, callSeconds: ClosedRange<Int>? = nil
) -> [String] {
    var options = SimulationOptions(calls: calls, seed: seed, agents: agents)
    if let callSeconds { options.callSeconds = callSeconds }
    var simulator = CallSimulator(options: options)
    var lines: [String] = []
    simulator.run { lines.append($0) }
    return lines
}

/// Creates a ledger named `ledger` in `scratch` with `origin` (and frames of at most `batch` events), appends
/// `lines` (which must be valid) and closes its writer; returns the ledger's directory.
public func ledger(in scratch: ScratchDirectory, origin: String, batch: Int? = nil, lines: [String]) throws -> String {
    var options = LedgerCreationOptions()
    options.origin = origin
    options.maximumBatchEvents = batch
    let directory = scratch.file("ledger")
    try LedgerWriter.create(directory: directory, options: options)
    let writer = try LedgerWriter(directory: directory)
    _ = try writer.append(try decodeLines(lines))
    try writer.close()
    return directory
}

/// Creates a ledger at `directory` with `origin` and frames of at most `batch` events, and appends `events` in
/// one call of a writer it then closes.
public func createLedger(at directory: String, origin: String, batch: Int, appending events: [DecodedEvent]) throws {
    var options = LedgerCreationOptions()
    options.origin = origin
    options.maximumBatchEvents = batch
    try LedgerWriter.create(directory: directory, options: options)
    let writer = try LedgerWriter(directory: directory)
    _ = try writer.append(events)
    try writer.close()
}

/// Decodes interchange lines (which must be valid).
public func decodeLines(_ lines: [String]) throws -> [DecodedEvent] {
    var decoder = EventDecoder()
    return try lines.enumerated().map { index, line in
        var bytes = Array(line.utf8)
        return try bytes.withUnsafeMutableBytes {
            try decoder.decode(UnsafeRawBufferPointer($0), lineNumber: index + 1)
        }
    }
}

/// The result of running a process.
public struct ProcessResult: Sendable {
    /// Exit status (or 128 + signal).
    public var status: Int32
    /// Everything written to standard output.
    public var stdout: String
    /// Everything written to standard error.
    public var stderr: String
}

/// Runs `executable` with `arguments`, feeding `input` to standard input; a process still running `killAfter` after
/// it started is killed (SIGKILL: the result's status is 137), so a hang fails its test instead of stalling the run.
@discardableResult
public func run(
    _ executable: String, _ arguments: [String], input: Data? = nil, environment: [String: String] = [:],
    killAfter: Duration? = nil
) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (key, value) in environment { env[key] = value }
    process.environment = env
    let outPipe = Pipe()
    let errPipe = Pipe()
    let inPipe = Pipe()
    process.standardOutput = outPipe
    process.standardError = errPipe
    process.standardInput = inPipe
    try process.run()
    // The deadline is kept by a thread of its own: a Dispatch timer can fire late, or not until the run ends, when
    // the tests keep Dispatch's threads busy.
    let pid = process.processIdentifier
    let exited = DispatchSemaphore(value: 0)
    if let killAfter {
        let seconds = Int(killAfter.components.seconds)
        Thread {
            if exited.wait(timeout: .now() + .seconds(seconds)) == .timedOut { kill(pid, SIGKILL) }
        }.start()
    }
    defer { exited.signal() }
    let writer = Thread {
        if let input { inPipe.fileHandleForWriting.write(input) }
        try? inPipe.fileHandleForWriting.close()
    }
    writer.start()
    let errorData = ReadAll(errPipe.fileHandleForReading)
    let output = outPipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessResult(
        status: process.terminationReason == .uncaughtSignal
            ? 128 + process.terminationStatus : process.terminationStatus,
        stdout: String(decoding: output, as: UTF8.self), stderr: String(decoding: errorData.wait(), as: UTF8.self))
}

/// Reads a file handle to its end on a background thread.
final class ReadAll: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread {
            self.data = handle.readDataToEndOfFile()
            self.done.signal()
        }.start()
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}

/// Runs the `call-ledger` CLI.
@discardableResult
public func callLedger(_ arguments: String..., input: Data? = nil) throws -> ProcessResult {
    try run(Repository.executable, arguments, input: input)
}

/// Runs the `call-ledger` CLI with an argument array, killed if still running `killAfter` after it started.
@discardableResult
public func callLedger(
    arguments: [String], input: Data? = nil, environment: [String: String] = [:], killAfter: Duration? = nil
) throws -> ProcessResult {
    try run(Repository.executable, arguments, input: input, environment: environment, killAfter: killAfter)
}

/// Parses one JSON object.
public func jsonObject(_ text: some StringProtocol) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
}
