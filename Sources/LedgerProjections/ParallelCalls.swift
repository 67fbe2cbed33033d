// Spreads per-call work (scoring, planning) over the machine's cores. Each worker thread gets a context of its
// own (a reader and state connections: neither is shared between threads), and the items are cut into waves;
// the workers claim small runs of a wave's items as they go (a worker slowed down by another thread claims
// fewer), and while they compute one wave the calling thread hands the previous wave's results, in item order,
// to whatever folds them. That fold sees exactly what a sequential run would see, so the output is the same byte
// for byte, and its own work (storing results) runs beside the workers' instead of after them.
import Dispatch
import Foundation
import LedgerStore

/// How many threads per-call projection work uses.
public enum ProjectionWorkers {
    /// The most workers a run uses.
    public static let maximum = 64

    /// `CALL_LEDGER_WORKERS` when it is a whole number from 1 to `maximum`, else the number of active cores.
    public static var defaultCount: Int {
        if let text = ProcessInfo.processInfo.environment["CALL_LEDGER_WORKERS"], let count = Int(text),
            (1...maximum).contains(count)
        {
            return count
        }
        return min(maximum, max(1, ProcessInfo.processInfo.activeProcessorCount))
    }
}

/// Values handed to worker threads under a rule the compiler cannot check: each worker touches only its own
/// context and the output slots it claimed, and the caller reads them only after every worker finished.
private struct WorkerShared<Value>: @unchecked Sendable {
    let value: Value
}

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
func forEachInOrder<Item, Context, Output>(
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
        let group = DispatchGroup()
        /// Computes `wave` on the workers, in the background.
        func launch(_ wave: Wave<Output>) {
            let shared = WorkerShared(value: (items: items, contexts: contexts, work: work, wave: wave))
            DispatchQueue.global().async(group: group) {
                DispatchQueue.concurrentPerform(iterations: workers) { worker in
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
            }
        }
        var computing: Wave<Output>? = Wave(range: 0..<min(items.count, waveSize))
        if let computing { launch(computing) }
        while let done = computing {
            group.wait()
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
                    group.wait()
                    computing.deallocate()
                }
                throw error
            }
        }
    }
}
