// The shared scan of several folds on threads: every fold sees what it would see alone, and by the time the scan
// returns no thread still holds anything it was given (the rebuild wraps its progress closure in
// `withoutActuallyEscaping`, which traps when a thread still holds it).
import Foundation
import LedgerCore
import LedgerStore
import LedgerTestSupport
import Testing

/// An object whose lifetime tells whether the scan's threads released the folds.
private final class Sentinel: @unchecked Sendable {
    var seqs: [UInt64] = []
}

/// A weak reference to a sentinel, to see whether anything still holds it.
private final class WeakSentinel {
    weak var value: Sentinel?
}

/// Runs a threaded shared scan of two folds with `readers` reading threads over the ledger `reader` reads; the
/// second fold's closure holds a sentinel. Returns the seqs each fold saw and a weak reference to that sentinel.
private func scanTwoFolds(
    _ reader: LedgerReader, readers: Int
) throws -> (first: [UInt64], second: [UInt64], held: WeakSentinel) {
    let sentinel = Sentinel()
    let held = WeakSentinel()
    held.value = sentinel
    var first: [UInt64] = []
    let folds = [
        SharedScanFold(wants: { $0.seq % 2 == 0 }, apply: { first.append($0.seq) }),
        SharedScanFold(wants: { _ in true }, apply: { [sentinel] in sentinel.seqs.append($0.seq) }),
    ]
    _ = try reader.scan(0..<reader.size, folds: folds, threads: true, readers: readers)
    return (first, sentinel.seqs, held)
}

/// A ledger of two simulated calls in frames of at most 16 events, and a reader of it.
private func smallFramesLedger(_ scratch: ScratchDirectory) throws -> LedgerReader {
    let directory = scratch.file("ledger")
    try createLedger(
        at: directory, origin: "test.example/ledger", batch: 16,
        appending: try decodeLines(simulatedLines(calls: 2, seed: 5)))
    return try LedgerReader(directory: directory)
}

@Suite struct SharedScanTests {
    @Test(arguments: [1, 2, 3, 8])
    func threadedSharedScanGivesEveryFoldItsRecordsInLogOrderAndReleasesThem(readers: Int) throws {
        let scratch = ScratchDirectory()
        let reader = try smallFramesLedger(scratch)
        let all = Array(0..<reader.size)
        for _ in 0..<40 {
            let (first, second, held) = try scanTwoFolds(reader, readers: readers)
            #expect(first == all.filter { $0 % 2 == 0 })
            #expect(second == all)
            #expect(held.value == nil, "a scan thread still held its fold after the scan returned")
        }
    }

    @Test(arguments: [1, 2, 3])
    func aFoldFailingStopsEveryReadingThreadAndTheScanThrowsItsError(readers: Int) throws {
        let scratch = ScratchDirectory()
        let reader = try smallFramesLedger(scratch)
        let failAt = reader.size / 2
        var applied: [UInt64] = []
        let folds = [
            SharedScanFold(wants: { _ in true }, apply: { applied.append($0.seq) }),
            SharedScanFold(
                wants: { _ in true },
                apply: { record throws(LedgerError) in
                    if record.seq == failAt { throw .invalidRequest("stop at \(failAt)") }
                }),
        ]
        do {
            _ = try reader.scan(0..<reader.size, folds: folds, threads: true, readers: readers)
            Issue.record("the scan went past a failing fold")
        } catch {
            #expect("\(error)".contains("stop at \(failAt)"), "\(error)")
        }
        // The first fold saw a prefix of the log, in order.
        #expect(applied == Array(0..<UInt64(applied.count)))
    }
}
