// Two copies of one ledger, so that a CLI command and the operation behind it can run on the same state and their
// results be compared.
import Foundation
import LedgerTestSupport
import Testing

/// Two copies of one ledger of simulated calls: one for the CLI, one for the operations.
struct Twins {
    let scratch = ScratchDirectory()
    var cli: String { scratch.file("cli/ledger") }
    var operations: String { scratch.file("ops/ledger") }

    init(calls: Int = 6, seed: UInt64 = 3, callSeconds: ClosedRange<Int>? = nil) throws {
        let setup = scratch.file("cli")
        try FileManager.default.createDirectory(atPath: setup, withIntermediateDirectories: true)
        let initialized = try callLedger(arguments: ["init", scratch.file("cli/ledger"), "--origin", "ops.test/ledger"])
        try #require(initialized.status == 0, "\(initialized.stderr)")
        let day = simulatedLines(calls: calls, seed: seed, callSeconds: callSeconds).joined(separator: "\n") + "\n"
        try #require(try run(["append"], input: day).status == 0)
        try FileManager.default.copyItem(atPath: setup, toPath: scratch.file("ops"))
    }

    /// Runs the CLI on the CLI's copy, with `environment` added.
    @discardableResult
    func run(
        _ arguments: [String], input: String? = nil, environment: [String: String] = [:]
    ) throws -> ProcessResult {
        try callLedger(
            arguments: arguments + ["--ledger", cli], input: input.map { Data($0.utf8) }, environment: environment)
    }

    /// Every event of `directory` as `cat` prints it, without what differs between copies made at different
    /// times: acceptance times, the roots of checkpoints (whose leaves commit to those times), and the digests of
    /// sealed parts (ciphertext under data keys each copy drew itself; the plaintext is compared, opened).
    func events(_ directory: String) throws -> [String] {
        let cat = try callLedger(arguments: ["cat", "--ledger", directory])
        try #require(cat.status == 0, "\(cat.stderr)")
        return try cat.stdout.split(separator: "\n").map { line in
            var event = try jsonObject(line)
            event["time"] = nil
            if let sealed = event["sealed"] as? [[String: Any]] {
                event["sealed"] = sealed.map { part in part.filter { $0.key != "digest" } }
            }
            if var body = event["body"] as? [String: Any], var checkpoint = body["checkpoint"] as? [String: Any] {
                checkpoint["root"] = nil
                body["checkpoint"] = checkpoint
                event["body"] = body
            }
            return String(
                decoding: try JSONSerialization.data(withJSONObject: event, options: [.sortedKeys]), as: UTF8.self)
        }
    }

    /// The acknowledgements `results` stand for, as the CLI prints them (seq, idempotency, status).
    static func acknowledged(_ output: String) throws -> [String] {
        try output.split(separator: "\n").map { line in
            let ack = try jsonObject(line)
            return "\(ack["seq"] ?? "-") \(ack["idempotency"] ?? "-") \(ack["status"] ?? "-")"
        }
    }
}
