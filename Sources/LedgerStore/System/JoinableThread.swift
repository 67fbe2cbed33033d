// A thread that can be joined. Foundation's `Thread` cannot: its object, and the closure it runs, live on until
// the thread has exited, after the caller may have been told the work is done. Code that hands a thread a closure
// built inside `withoutActuallyEscaping` must know that the closure was released before it returns (else the
// runtime traps with SIGILL), so it runs the work here and joins. `performOnThreads` runs work on several such
// threads: `DispatchQueue.concurrentPerform` gives no second core to a caller on one of Swift concurrency's
// threads (the CLI's commands run on one) once the dispatch pool is as busy as the machine has cores, and then
// runs every iteration on one thread.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The body of a joinable thread, passed through `pthread_create`'s context pointer.
private final class ThreadBody {
    let run: @Sendable () -> Void

    init(_ run: @escaping @Sendable () -> Void) {
        self.run = run
    }
}

/// A POSIX thread running one closure; `join()` returns once the closure returned and was released.
package final class JoinableThread {
    private let handle: pthread_t

    /// Starts a thread running `body`; throws when the system cannot create one.
    package init(_ body: @escaping @Sendable () -> Void) throws(LedgerError) {
        let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var handle = pthread_t()
        let status = pthread_create(
            &handle, nil,
            { context in
                guard let context else { return nil }
                Unmanaged<ThreadBody>.fromOpaque(context).takeRetainedValue().run()
                return nil
            }, context)
        guard status == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(context).release()
            throw .io(operation: "pthread_create", path: "(a worker thread)", errno: status)
        }
        self.handle = handle
    }

    /// Waits until the thread finished, everything its closure captured released.
    package func join() {
        pthread_join(handle, nil)
    }
}

/// A value handed to worker threads under a rule the compiler cannot check: each worker touches only what it owns
/// (its context, the output slots it claimed), and the caller uses the value again only after every worker
/// finished and was joined.
package struct ThreadShared<Value>: @unchecked Sendable {
    /// The value handed over.
    package let value: Value

    /// Hands `value` over under that rule.
    package init(value: Value) {
        self.value = value
    }
}

/// Calls `body(worker)` for every `worker` in `0..<count` and returns when all returned: worker 0 on the calling
/// thread, each other on a thread of its own (or, should the system refuse a thread, after worker 0 on the calling
/// thread), so that `count` workers run side by side whatever else holds the dispatch pool.
package func performOnThreads(_ count: Int, _ body: (Int) -> Void) {
    guard count > 1 else {
        if count == 1 { body(0) }
        return
    }
    withoutActuallyEscaping(body) { body in
        let shared = ThreadShared(value: body)
        var threads: [JoinableThread] = []
        var refused: [Int] = []
        for worker in 1..<count {
            if let thread = try? JoinableThread({ shared.value(worker) }) {
                threads.append(thread)
            } else {
                refused.append(worker)
            }
        }
        body(0)
        for worker in refused { body(worker) }
        for thread in threads { thread.join() }
    }
}
