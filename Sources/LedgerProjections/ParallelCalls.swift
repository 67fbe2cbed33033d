// Spreads per-call work (scoring, planning) over the machine's cores. Each worker thread gets a context of its
// own (a reader and state connections: neither is shared between threads), and the items are cut into waves;
// the workers claim small runs of a wave's items as they go (a worker slowed down by another thread claims
// fewer), and while they compute one wave the calling thread hands the previous wave's results, in item order,
// to whatever folds them. That fold sees exactly what a sequential run would see, so the output is the same byte
// for byte, and its own work (storing results) runs beside the workers' instead of after them. Slices of an
// array (to sort or encode) are spread the same way. Every worker is a thread of its own (`performOnThreads`,
// `JoinableThread`), never Dispatch's pool, which lends a caller on a Swift concurrency thread no second one.
import Foundation
package import LedgerStore

/// The items of one wave still to be computed, handed out in runs in item order; after a failure none are.
private final class WaveClaims: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private var stopped = false
    let count: Int

    init(count: Int) {
        self.count = count
    }

    /// The next run of at most `run` items, or nil when none is left or a worker failed.
    func claim(_ run: Int) -> Range<Int>? {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped, next < count else { return nil }
        let claimed = next..<min(count, next + run)
        next = claimed.upperBound
        return claimed
    }

    /// Hands out no more items.
    func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
    }
}

/// One wave's results, in item order: slots on the heap that the workers fill while the caller consumes the
/// previous wave.
private struct Wave<Output> {
    let range: Range<Int>
    let slots: UnsafeMutableBufferPointer<Result<Output, LedgerError>?>
    let claims: WaveClaims

    init(range: Range<Int>) {
        self.range = range
        slots = .allocate(capacity: range.count)
        slots.initialize(repeating: nil)
        claims = WaveClaims(count: range.count)
    }

    func deallocate() {
        slots.deinitialize()
        slots.deallocate()
    }
}

/// Calls `work` for every item on up to `contexts.count` threads, context `w` used by one thread at a time, and
/// then `consume` with each item and its result in the items' order on the calling thread, one wave of `wave`
/// items per worker at a time, consuming a wave while the next one is computed (so `consume` must not touch the
/// contexts). The first error in item order is thrown, after the items before it were consumed.
package func forEachInOrder<Item, Context, Output>(
    _ items: [Item], contexts: [Context], wave: Int = 128,
    work: (Context, Item) throws(LedgerError) -> Output,
    consume: (Item, Output) throws(LedgerError) -> Void
) throws(LedgerError) {
    guard contexts.count > 1, items.count > 1 else {
        guard let context = contexts.first else { return }
        for item in items { try consume(item, try work(context, item)) }
        return
    }
    let workers = contexts.count
    let waveSize = max(1, wave) * workers
    /// Items a worker claims at a time: small enough to even out, large enough that the lock is rare.
    let run = max(1, min(8, wave / 8))
    try withoutActuallyEscaping(work) { (work) throws(LedgerError) in
        /// The threads computing the wave in the background, joined before the caller reads it.
        var running: [JoinableThread] = []
        /// Computes `wave` on worker threads of their own (see `performOnThreads`), in the background.
        func launch(_ wave: Wave<Output>) {
            let shared = ThreadShared(value: (items: items, contexts: contexts, work: work, wave: wave))
            /// Worker `worker`'s part: runs of the wave's items until none is left.
            @Sendable func compute(_ worker: Int) {
                let (items, contexts, work, wave) = shared.value
                while let claimed = wave.claims.claim(run) {
                    for slot in claimed {
                        let result = Result { () throws(LedgerError) in
                            try work(contexts[worker], items[wave.range.lowerBound + slot])
                        }
                        wave.slots[slot] = result
                        if case .failure = result {
                            wave.claims.stop()
                            break
                        }
                    }
                }
            }
            for worker in 0..<workers {
                if let thread = try? JoinableThread({ compute(worker) }) {
                    running.append(thread)
                } else {
                    // No thread to be had: this worker's part runs now, on the calling thread.
                    compute(worker)
                }
            }
        }
        /// Waits until the launched wave is computed.
        func join() {
            for thread in running { thread.join() }
            running.removeAll()
        }
        var computing: Wave<Output>? = Wave(range: 0..<min(items.count, waveSize))
        if let computing { launch(computing) }
        while let done = computing {
            join()
            computing = nil
            let failed = done.slots.contains { if case .failure = $0 { true } else { false } }
            if !failed && done.range.upperBound < items.count {
                let next = Wave<Output>(
                    range: done.range.upperBound..<min(items.count, done.range.upperBound + waveSize))
                launch(next)
                computing = next
            }
            defer { done.deallocate() }
            do throws(LedgerError) {
                for slot in 0..<done.range.count {
                    // A slot is empty only after a failure earlier in item order, which was thrown first.
                    guard let output = done.slots[slot] else { break }
                    try consume(items[done.range.lowerBound + slot], try output.get())
                }
            } catch {
                if let computing {
                    computing.claims.stop()
                    join()
                    computing.deallocate()
                }
                throw error
            }
        }
    }
}

/// `work` of every index in `0..<count` on up to `contexts.count` threads, context `w` used by one thread only,
/// the outputs in index order. The threads claim indices one at a time as they go, so a thread slowed down by
/// another claims fewer; after a failure no index is claimed, and the first failure in index order is thrown.
/// With one context (or fewer than two indices) it runs on the calling thread.
package func mapClaimed<Context, Output>(
    count: Int, contexts: [Context], _ work: (Context, Int) throws(LedgerError) -> Output
) throws(LedgerError) -> [Output] {
    guard let first = contexts.first else { return [] }
    guard contexts.count > 1, count > 1 else {
        var outputs: [Output] = []
        for index in 0..<count { outputs.append(try work(first, index)) }
        return outputs
    }
    var slots = [Result<Output, LedgerError>?](repeating: nil, count: count)
    slots.withUnsafeMutableBufferPointer { slots in
        let shared = ThreadShared(value: (contexts: contexts, claims: WaveClaims(count: count), slots: slots))
        performOnThreads(min(contexts.count, count)) { worker in
            let (contexts, claims, slots) = shared.value
            while let claimed = claims.claim(1) {
                for index in claimed {
                    let result = Result { () throws(LedgerError) in try work(contexts[worker], index) }
                    slots[index] = result
                    if case .failure = result { claims.stop() }
                }
            }
        }
    }
    // Indices are claimed in order and every claimed one is computed, so an empty slot follows a failure.
    var outputs: [Output] = []
    outputs.reserveCapacity(count)
    for slot in slots {
        guard let slot else { break }
        outputs.append(try slot.get())
    }
    return outputs
}

/// `transform` of `slices` consecutive slices of `items` of near-equal size, each on a thread of its own, the
/// outputs in slice order. With one slice (or fewer than two items) it runs on the calling thread.
package func mapSlices<Item, Output>(
    _ items: [Item], slices: Int, _ transform: (ArraySlice<Item>) -> Output
) -> [Output] {
    let count = max(1, min(slices, items.count))
    guard count > 1 else { return [transform(items[...])] }
    let bounds = (0...count).map { items.count * $0 / count }
    var outputs = [Output?](repeating: nil, count: count)
    outputs.withUnsafeMutableBufferPointer { slots in
        let shared = ThreadShared(value: (items: items, bounds: bounds, slots: slots))
        performOnThreads(count) { slice in
            let (items, bounds, slots) = shared.value
            slots[slice] = transform(items[bounds[slice]..<bounds[slice + 1]])
        }
    }
    // `performOnThreads` returns once every slice is done, so every slot holds its output.
    return outputs.compactMap { $0 }
}

/// `items` sorted by `areInIncreasingOrder` on up to `workers` threads: slices sorted side by side, then merged,
/// the left run first on ties. For a strict total order (no two items tie) the result is `items.sorted(by:)`'s.
package func sortedInParallel<Item>(
    _ items: [Item], workers: Int, by areInIncreasingOrder: (Item, Item) -> Bool
) -> [Item] {
    var runs = mapSlices(items, slices: workers) { $0.sorted(by: areInIncreasingOrder) }
    while runs.count > 1 {
        var merged: [[Item]] = []
        merged.reserveCapacity((runs.count + 1) / 2)
        for pair in stride(from: 0, to: runs.count, by: 2) {
            merged.append(
                pair + 1 < runs.count
                    ? merge(runs[pair], runs[pair + 1], by: areInIncreasingOrder) : runs[pair])
        }
        runs = merged
    }
    return runs.first ?? []
}

/// The sorted runs `left` and `right` merged into one sorted run, `left`'s item first on ties.
private func merge<Item>(_ left: [Item], _ right: [Item], by areInIncreasingOrder: (Item, Item) -> Bool) -> [Item] {
    var merged: [Item] = []
    merged.reserveCapacity(left.count + right.count)
    var leftIndex = 0
    var rightIndex = 0
    while leftIndex < left.count && rightIndex < right.count {
        if areInIncreasingOrder(right[rightIndex], left[leftIndex]) {
            merged.append(right[rightIndex])
            rightIndex += 1
        } else {
            merged.append(left[leftIndex])
            leftIndex += 1
        }
    }
    merged.append(contentsOf: left[leftIndex...])
    merged.append(contentsOf: right[rightIndex...])
    return merged
}
