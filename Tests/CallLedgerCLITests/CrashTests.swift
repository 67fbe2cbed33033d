// Durability: a child `call-ledger append` is killed with SIGKILL at random moments; afterwards the ledger
// opens, verifies, holds every event the child acknowledged, at the acknowledged seq, and every sealed part in
// the log opens (its data key was stored before its frame).
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
            // 30 calls a run: calls keep starting through the input, so frames keep carrying new data keys.
            let input = ledger.scratch.file("input-\(run).jsonl")
            try (simulatedLines(calls: 30, seed: UInt64(100 + run % 7)).joined(separator: "\n") + "\n")
                .write(toFile: input, atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Repository.executable)
            process.arguments = ["append", "--ledger", ledger.directory, input]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let collected = ReadAllLines(output.fileHandleForReading)
            // Kill at a random moment while the child is appending: after its first acknowledgement (or a
            // timeout, for a child that is slow to start), plus a random delay.
            _ = collected.firstLine.wait(timeout: .now() + 20)
            usleep(UInt32.random(in: 0...400_000, using: &generator))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            for line in collected.wait() {
                let ack = try jsonObject(line)
                if ack["status"] as? String == "appended" {
                    acknowledged[ack["seq"] as! Int] = ack["idempotency"] as? String
                }
            }
            let reader = try LedgerReader(directory: ledger.directory, requireKeys: true)
            let report = try reader.verify()
            #expect(report.fault == nil, "run \(run): \(report.fault!)")
            var present: [Int: String] = [:]
            var unreadable: [Int] = []
            // Records read and their parts opened directly (rendering and parsing JSON for every event of a
            // ledger that grows to 100,000 events, twenty times, was most of this test's time).
            _ = try reader.scan(0..<UInt64.max) { record throws(LedgerError) in
                let seq = Int(record.seq)
                present[seq] = record.idempotency
                // Every sealed part of every event in the log opens: no frame reached the disk before its keys.
                let parts = try reader.openParts(of: record)
                if parts.contains(where: { if case .opened = $0 { false } else { true } }) { unreadable.append(seq) }
            }
            #expect(unreadable.isEmpty, "run \(run): \(unreadable.count) events whose data keys are missing")
            for (seq, key) in acknowledged where present[seq] != key {
                Issue.record("run \(run): acknowledged seq \(seq) (\(key)) is missing after SIGKILL")
            }
        }
        #expect(acknowledged.count > 0)
    }
}

/// Collects complete lines from a pipe on a background thread, signalling when the first one arrives.
final class ReadAllLines: @unchecked Sendable {
    private var lines: [String] = []
    private let done = DispatchSemaphore(value: 0)
    /// Signalled once the first complete line has been read.
    let firstLine = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread {
            var data = Data()
            var signalled = false
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                data.append(chunk)
                if !signalled && chunk.contains(0x0A) {
                    signalled = true
                    self.firstLine.signal()
                }
            }
            var parts = String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
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
