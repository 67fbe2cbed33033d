// Spreads per-call work (scoring, planning) over the machine's cores. Each worker thread gets a context of its
// own (a reader and state connections: neither is shared between threads), and every wave of calls is cut into
// one contiguous share per worker; the results are handed back in call order, so whatever folds them sees exactly
// what a sequential run would see, and the output is the same byte for byte.
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
/// context and its own share of the output slots, and the caller reads them only after every worker finished.
private struct WorkerShared<Value>: @unchecked Sendable {
    let value: Value
}

/// Calls `work` for every item on up to `contexts.count` threads, context `w` used by one thread at a time, and
/// then `consume` with each item and its result in the items' order, one wave of `wave` items per worker at a
/// time. The first error in item order is thrown, after the items before it were consumed.
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
    var start = 0
    while start < items.count {
        let end = min(items.count, start + wave * workers)
        let share = (end - start + workers - 1) / workers
        var outputs = [Result<Output, LedgerError>?](repeating: nil, count: end - start)
        withoutActuallyEscaping(work) { work in
            outputs.withUnsafeMutableBufferPointer { slots in
                let shared = WorkerShared(
                    value: (items: items[start..<end], contexts: contexts, work: work, slots: slots))
                DispatchQueue.concurrentPerform(iterations: workers) { worker in
                    let (items, contexts, work, slots) = shared.value
                    let lower = worker * share
                    for slot in lower..<min(lower + share, slots.count) {
                        let result = Result { () throws(LedgerError) in
                            try work(contexts[worker], items[items.startIndex + slot])
                        }
                        slots[slot] = result
                        if case .failure = result { break }
                    }
                }
            }
        }
        for (slot, output) in outputs.enumerated() {
            // A slot is empty only after a failure earlier in the same worker's share, which was thrown first.
            guard let output else { break }
            try consume(items[start + slot], try output.get())
        }
        start = end
    }
}
