// Readers opened while the writer appends: each sees a consistent prefix of the log, never an error, even when
// the writer indexes a frame between the reader's look at the index and its in-memory copy of it.
import Foundation
import LedgerCore
import LedgerStore
import LedgerTestSupport
import Synchronization
import Testing

/// What the appending thread reports.
private final class AppendOutcome: Sendable {
    let failure = Mutex<String?>(nil)
    let finished = DispatchGroup()
}

@Suite struct ConcurrentReaderTests {
    @Test func readersOpenedDuringAppendsNeverFailAndSeeAGrowingLog() throws {
        let scratch = ScratchDirectory()
        var options = LedgerCreationOptions()
        options.origin = "test.example/ledger"
        let directory = scratch.file("ledger")
        try LedgerWriter.create(directory: directory, options: options)
        let events = try decodeLines(simulatedLines(calls: 6, seed: 5))
        let writer = try LedgerWriter(directory: directory)
        let outcome = AppendOutcome()
        outcome.finished.enter()
        let appending = Thread {
            do {
                // Frames of a few events each: many index rows written while readers open.
                for first in stride(from: 0, to: events.count, by: 3) {
                    _ = try writer.append(Array(events[first..<min(first + 3, events.count)]))
                }
            } catch {
                outcome.failure.withLock { $0 = "append: \(error)" }
            }
            outcome.finished.leave()
        }
        appending.start()
        var sizes: [UInt64] = []
        var errors: [String] = []
        while outcome.finished.wait(timeout: .now()) == .timedOut {
            do {
                let reader = try LedgerReader(directory: directory)
                sizes.append(reader.size)
            } catch {
                errors.append("\(error)")
            }
        }
        try writer.close()
        #expect(outcome.failure.withLock { $0 } == nil)
        #expect(errors.count == 0, "first failed open: \(errors.first ?? "")")
        #expect(sizes.count > 20)
        #expect(sizes == sizes.sorted())
        #expect(try LedgerReader(directory: directory).size == UInt64(events.count))
    }
}
