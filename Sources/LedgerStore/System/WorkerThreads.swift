// How many worker threads a run may use: `CALL_LEDGER_WORKERS`, else the active cores. Read once per process:
// Foundation builds the whole environment dictionary and reads the system's processor files on every call, and
// every projection engine asked again (1.2% of the samples of `call-ledger calls` on a 10M-event ledger, which
// needs no worker at all). Compaction and the projections had a copy each of the same rule.
import Foundation

/// The number of worker threads for per-call work, slices and compaction.
public enum WorkerThreads {
    /// The most workers a run uses.
    public static let maximum = 64

    /// `CALL_LEDGER_WORKERS` when it is a whole number from 1 to `maximum`, else the number of active cores
    /// (at most `maximum`), as the process found them when first asked.
    public static let count: Int = {
        if let text = ProcessInfo.processInfo.environment["CALL_LEDGER_WORKERS"], let count = Int(text),
            (1...maximum).contains(count)
        {
            return count
        }
        return min(maximum, max(1, ProcessInfo.processInfo.activeProcessorCount))
    }()
}
