// Group commit for the service's appends: a request stages its events on the writer (CPU work under the writer's
// staging lock) and then waits; one committer thread writes everything staged so far (one frame and one fsync per
// batch of up to the ledger's batch limit) and wakes each request whose events are now durable. While an fsync
// runs, the requests that arrive stage into the next frame, so any number of concurrent requests share frames and
// fsyncs: no thread is held per waiting request (the dispatch pool's few threads, blocked in fsync, used to cap
// how many requests a frame could hold).
import Dispatch
import Foundation
import LedgerStore
import Synchronization

/// Makes staged events durable on its own thread and tells the requests waiting for them.
final class GroupCommitter: Sendable {
    private struct Waiter {
        let seq: UInt64
        let continuation: CheckedContinuation<Result<Void, LedgerError>, Never>
    }
    private struct State {
        var waiters: [Waiter] = []
        /// A commit was asked for without a waiter (a large request staging frame after frame).
        var nudged = false
        var failure: LedgerError?
        var stopped = false
    }
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let writer: LedgerWriter

    /// Starts the committer thread of `writer`.
    init(writer: LedgerWriter) {
        self.writer = writer
        let thread = Thread { [self] in run() }
        thread.name = "call-ledger.serve.commit"
        thread.start()
    }

    /// Returns once the event of `seq` (and every one before it) is durable, or with the writer's failure.
    func waitDurable(through seq: UInt64) async throws(LedgerError) {
        let writer = self.writer
        let result = await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Result<Void, LedgerError>? in
                if let failure = state.failure { return .failure(failure) }
                if state.stopped { return .failure(.invalidRequest("the ledger is closing")) }
                if writer.durableSize > seq { return .success(()) }
                state.waiters.append(Waiter(seq: seq, continuation: continuation))
                return nil
            }
            if let ready { continuation.resume(returning: ready) } else { wake.signal() }
        }
        try result.get()
    }

    /// Asks for a commit of what is staged, without waiting for it.
    func nudge() {
        state.withLock { $0.nudged = true }
        wake.signal()
    }

    /// Ends the committer thread once no request waits; later waits fail.
    func stop() {
        let running = state.withLock { state -> Bool in
            defer { state.stopped = true }
            return !state.stopped
        }
        guard running else { return }
        wake.signal()
        finished.wait()
    }

    private func run() {
        while true {
            wake.wait()
            while true {
                let work = state.withLock { state -> (commit: Bool, stop: Bool) in
                    let commit = !state.waiters.isEmpty || state.nudged
                    state.nudged = false
                    return (commit, state.stopped && state.waiters.isEmpty)
                }
                if work.stop {
                    finished.signal()
                    return
                }
                guard work.commit else { break }
                let outcome = Result { () throws(LedgerError) in _ = try writer.commit() }
                let durable = writer.durableSize
                let ready = state.withLock { state -> [(Waiter, Result<Void, LedgerError>)] in
                    if case .failure(let error) = outcome {
                        state.failure = error
                        defer { state.waiters = [] }
                        return state.waiters.map { ($0, .failure(error)) }
                    }
                    let done = state.waiters.filter { $0.seq < durable }
                    state.waiters.removeAll { $0.seq < durable }
                    return done.map { ($0, .success(())) }
                }
                for (waiter, result) in ready { waiter.continuation.resume(returning: result) }
            }
        }
    }
}
