// A pthread mutex with a condition variable, for the writer's staging and commit paths.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A mutual-exclusion lock with a condition. Use `withLock`; `wait` and `broadcast` only while holding it.
final class ConditionLock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    /// Runs `body` holding the lock.
    func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }

    /// Releases the lock until `broadcast` is called, then takes it again.
    func wait() {
        pthread_cond_wait(&condition, &mutex)
    }

    /// Wakes every waiter.
    func broadcast() {
        pthread_cond_broadcast(&condition)
    }
}
