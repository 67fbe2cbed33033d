// The helpers that spread per-call work over threads: each worker gets a thread of its own even when called from
// Swift concurrency's pool (where `DispatchQueue.concurrentPerform` ran every iteration on one thread), and what
// they compute does not depend on the number of workers.
import Foundation
import LedgerProjections
import LedgerStore
import Testing

/// Workers that each wait, up to a time limit, until `expected` of them are inside at once.
private final class Rendezvous: @unchecked Sendable {
    private let condition = NSCondition()
    private var inside = 0
    private let expected: Int

    init(expected: Int) {
        self.expected = expected
    }

    /// Arrives and waits for the others; false when they did not all arrive within `seconds`.
    func meet(within seconds: Double) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        inside += 1
        condition.broadcast()
        let deadline = Date(timeIntervalSinceNow: seconds)
        while inside < expected {
            if !condition.wait(until: deadline) { return inside >= expected }
        }
        return true
    }
}

/// A reproducible source of pseudo-random numbers (SplitMix64).
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct ParallelCallsTests {
    @Test func perCallWorkersRunSideBySideWhenCalledFromSwiftConcurrency() async throws {
        // Each of the first two items waits until the other is being computed too: on one thread, it would wait
        // out the limit alone.
        let rendezvous = Rendezvous(expected: 2)
        let met = try await Task.detached { () throws -> [Bool] in
            var met: [Bool] = []
            try forEachInOrder(Array(0..<2), contexts: [0, 1], wave: 1) { (_, _) throws(LedgerError) -> Bool in
                rendezvous.meet(within: 20)
            } consume: { (_, output) throws(LedgerError) in
                met.append(output)
            }
            return met
        }.value
        #expect(met == [true, true])
    }

    @Test func slicesRunSideBySideWhenCalledFromSwiftConcurrency() async {
        let rendezvous = Rendezvous(expected: 3)
        let met = await Task.detached {
            mapSlices(Array(0..<3), slices: 3) { _ in rendezvous.meet(within: 20) }
        }.value
        #expect(met == [true, true, true])
    }

    @Test func sortingOnSeveralWorkersGivesTheSequentialSortsOrderTiesIncluded() {
        var generator = SeededGenerator(state: 14)
        for size in [0, 1, 2, 3, 17, 256, 1_000, 4_099] {
            // Few distinct keys, so that many items tie: the original position tells tied items apart.
            let items = (0..<size).map { (key: Int.random(in: 0..<50, using: &generator), position: $0) }
            let sequential = items.sorted { $0.key < $1.key }
            for workers in 1...5 {
                let parallel = sortedInParallel(items, workers: workers) { $0.key < $1.key }
                #expect(parallel.map(\.position) == sequential.map(\.position), "\(size) items, \(workers) workers")
            }
        }
    }

    @Test func slicesCoverEveryItemOnceInOrder() {
        for size in [0, 1, 5, 1_000] {
            for slices in [1, 2, 3, 7, 2_000] {
                let parts = mapSlices(Array(0..<size), slices: slices) { Array($0) }
                #expect(parts.flatMap { $0 } == Array(0..<size), "\(size) items, \(slices) slices")
                #expect(parts.count == max(1, min(slices, size)))
            }
        }
    }
}
