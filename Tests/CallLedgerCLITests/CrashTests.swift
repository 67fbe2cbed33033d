// Durability: a child `call-ledger append` is killed with SIGKILL at random moments; afterwards the ledger
// opens, verifies, and holds every event the child acknowledged, at the acknowledged seq.
import Foundation
import LedgerStore
import LedgerTestSupport
import Testing

@Suite(.serialized) struct CrashTests {
    @Test func killedAppendLosesNoAcknowledgedEvent() throws {
        let ledger = try CLILedger(["--batch", "200", "--segment-size", "262144"])
        var generator = SystemRandomNumberGenerator()
        var acknowledged: [Int: String] = [:]
        for run in 0..<20 {
            let input = ledger.scratch.file("input-\(run).jsonl")
            try (simulatedLines(calls: 3, seed: UInt64(100 + run % 7)).joined(separator: "\n") + "\n")
                .write(toFile: input, atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Repository.executable)
            process.arguments = ["append", "--ledger", ledger.directory, input]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let collected = ReadAllLines(output.fileHandleForReading)
            usleep(UInt32.random(in: 20_000...700_000, using: &generator))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            for line in collected.wait() {
                let ack = try jsonObject(line)
                if ack["status"] as? String == "appended" {
                    acknowledged[ack["seq"] as! Int] = ack["idempotency"] as? String
                }
            }
            let reader = try LedgerReader(directory: ledger.directory)
            let report = try reader.verify()
            #expect(report.fault == nil, "run \(run): \(report.fault!)")
            var present: [Int: String] = [:]
            try reader.events(EventSelection()) { line in
                let event = try! jsonObject(String(decoding: line, as: UTF8.self))
                present[event["seq"] as! Int] = event["idempotency"] as? String
            }
            for (seq, key) in acknowledged where present[seq] != key {
                Issue.record("run \(run): acknowledged seq \(seq) (\(key)) is missing after SIGKILL")
            }
        }
        #expect(acknowledged.count > 0)
    }
}

/// Collects complete lines from a pipe on a background thread.
final class ReadAllLines: @unchecked Sendable {
    private var lines: [String] = []
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread {
            let data = handle.readDataToEndOfFile()
            let text = String(decoding: data, as: UTF8.self)
            var parts = text.components(separatedBy: "\n")
            parts.removeLast()
            self.lines = parts
            self.done.signal()
        }.start()
    }

    func wait() -> [String] {
        done.wait()
        return lines
    }
}
