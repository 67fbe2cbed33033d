// A thread that can be joined. Foundation's `Thread` cannot: its object, and the closure it runs, live on until
// the thread has exited, after the caller may have been told the work is done. Code that hands a thread a closure
// built inside `withoutActuallyEscaping` must know that the closure was released before it returns (else the
// runtime traps with SIGILL), so it runs the work here and joins.
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
final class JoinableThread {
    private let handle: pthread_t

    /// Starts a thread running `body`; throws when the system cannot create one.
    init(_ body: @escaping @Sendable () -> Void) throws(LedgerError) {
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
    func join() {
        pthread_join(handle, nil)
    }
}
