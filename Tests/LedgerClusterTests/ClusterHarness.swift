// A real local NATS cluster (tools/cluster) and child `call-ledger` processes for the cluster tests.
import Foundation
import LedgerTestSupport

/// True when nats-server is installed here (CI installs it through tools/setup).
let natsServerAvailable =
    FileManager.default.isExecutableFile(atPath: "/usr/sbin/nats-server")
    || FileManager.default.isExecutableFile(atPath: "/usr/bin/nats-server")

struct HarnessError: Error, CustomStringConvertible {
    var description: String
}

/// A 3-node JetStream cluster on loopback in a scratch directory, stopped when released.
final class LocalCluster {
    let scratch = ScratchDirectory()
    let urls: [String]
    private var directory: String { scratch.file("nats") }
    private static let tool = Repository.root.appendingPathComponent("tools/cluster").path

    init() throws {
        let started = try run(Self.tool, ["start", scratch.file("nats")])
        guard started.status == 0 else { throw HarnessError(description: "tools/cluster start: \(started.stderr)") }
        urls = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").map(String.init)
    }

    deinit { _ = try? run(Self.tool, ["stop", scratch.file("nats")]) }

    func kill(node: Int) throws { try run(Self.tool, ["kill", directory, "\(node)"]) }
    func restart(node: Int) throws { try run(Self.tool, ["restart", directory, "\(node)"]) }

    /// Writes a deployment file and returns its path.
    func configuration(
        name: String, shards: Int, leaseTTL: Double = 2, ackWait: Double = 2, extra: String = ""
    ) throws -> String {
        let path = scratch.file("\(name).yaml")
        let text = """
            name: \(name)
            servers: [\(urls.joined(separator: ", "))]
            shards: \(shards)
            replicas: 3
            lease_ttl_seconds: \(leaseTTL)
            ack_wait_seconds: \(ackWait)
            \(extra)
            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A new ledger in the scratch directory.
    func ledger(_ name: String) throws -> String {
        let path = scratch.file(name)
        let made = try callLedger("init", path)
        guard made.status == 0 else { throw HarnessError(description: "init: \(made.stderr)") }
        return path
    }
}

/// What a child printed, filled by reader threads that hold only this (not the `Child`), so a `Child` a failed
/// test drops is released, and its process killed, at once.
private final class ChildOutput: @unchecked Sendable {
    let lock = NSLock()
    var collected = Data()
    var errorText = Data()
    let done = DispatchSemaphore(value: 0)
    let errors = DispatchSemaphore(value: 0)
}

/// A child `call-ledger` process whose standard output lines are collected.
final class Child: @unchecked Sendable {
    let process = Process()
    private let output = ChildOutput()

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: Repository.executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let output = output
        Thread {
            while true {
                let chunk = stdout.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                output.lock.withLock { output.collected.append(chunk) }
            }
            output.done.signal()
        }.start()
        Thread {
            let text = stderr.fileHandleForReading.readDataToEndOfFile()
            output.lock.withLock { output.errorText = text }
            output.errors.signal()
        }.start()
    }

    /// A child left running by a failed test is killed with it.
    deinit { if process.isRunning { kill9() } }

    var pid: Int32 { process.processIdentifier }

    /// The complete standard output lines printed so far.
    func linesSoFar() -> [String] {
        output.lock.withLock {
            var text = String(decoding: output.collected, as: UTF8.self)
            if let last = text.lastIndex(of: "\n") { text = String(text[..<last]) } else { text = "" }
            return text.split(separator: "\n").map(String.init)
        }
    }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
    }

    /// Waits for the process to end (killing it after `timeout` seconds); returns its output lines.
    @discardableResult
    func finish(timeout: Double = 120) -> (status: Int32, lines: [String], stderr: String) {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning { kill9() }
        process.waitUntilExit()
        output.done.wait()
        output.errors.wait()
        return output.lock.withLock {
            (
                process.terminationStatus,
                String(decoding: output.collected, as: UTF8.self).split(separator: "\n").map(String.init),
                String(decoding: output.errorText, as: UTF8.self)
            )
        }
    }
}

/// The shard status objects `call-ledger cluster status --json` prints.
func clusterStatus(_ config: String) throws -> [[String: Any]] {
    let result = try callLedger("cluster", "status", "--config", config, "--json")
    guard result.status == 0 else { throw HarnessError(description: "status: \(result.stderr)") }
    return try result.stdout.split(separator: "\n").map { try jsonObject($0) }
}

/// Waits until every shard's lag is 0 and its streams took at least `messages` events in total (last stream seqs:
/// the writers erase what the replica holds).
func waitUntilDrained(_ config: String, messages: Int, timeout: Double = 120) throws {
    let deadline = Date().addingTimeInterval(timeout)
    var last: [[String: Any]] = []
    while Date() < deadline {
        last = (try? clusterStatus(config)) ?? []
        let total = last.reduce(0) { $0 + ($1["last_seq"] as? Int ?? 0) }
        if !last.isEmpty && total >= messages && last.allSatisfy({ ($0["lag"] as? Int) == 0 }) { return }
        usleep(250_000)
    }
    throw HarnessError(description: "not drained after \(timeout) s: \(last)")
}

/// The idempotency keys of a ledger's events, in ledger order, and whether `verify` passed.
func ledgerKeys(_ ledger: String) throws -> (keys: [String], verified: Bool, verifyOutput: String) {
    let cat = try callLedger("cat", "--ledger", ledger)
    guard cat.status == 0 else { throw HarnessError(description: "cat: \(cat.stderr)") }
    let keys = try cat.stdout.split(separator: "\n").compactMap { try jsonObject($0)["idempotency"] as? String }
    let verify = try callLedger("verify", "--ledger", ledger)
    return (keys, verify.status == 0, verify.stdout + verify.stderr)
}

/// Writes interchange lines to a file and returns its path.
func writeLines(_ lines: [String], to path: String) throws -> String {
    try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// A deployment `name` of `shards` shards on `cluster`, each with a new ledger and one running writer (id `w<shard>`).
func startShardWriters(
    _ cluster: LocalCluster, name: String, shards: Int
) throws -> (config: String, ledgers: [String], writers: [Child]) {
    let config = try cluster.configuration(name: name, shards: shards)
    let ledgers = try (0..<shards).map { try cluster.ledger("shard-\($0)") }
    let writers = try (0..<shards).map { shard in
        try Child([
            "cluster", "writer", "--config", config, "--shard", "\(shard)", "--ledger", ledgers[shard], "--id",
            "w\(shard)",
        ])
    }
    return (config, ledgers, writers)
}

/// Kills and reaps `writers`.
func stopWriters(_ writers: [Child]) {
    for writer in writers {
        writer.kill9()
        writer.finish()
    }
}
