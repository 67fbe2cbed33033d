// A pthread mutex with condition variables, for the writer's staging and commit paths and the append pipeline.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A mutual-exclusion lock with one or more conditions. Use `withLock`; `wait`, `signal` and `broadcast` only
/// while holding it. Separate conditions let a pipeline wake only the threads a change concerns.
final class ConditionLock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private let conditions: UnsafeMutablePointer<pthread_cond_t>
    private let conditionCount: Int

    /// A lock with `conditions` condition variables, numbered from 0.
    init(conditions: Int = 1) {
        conditionCount = conditions
        self.conditions = .allocate(capacity: conditions)
        pthread_mutex_init(&mutex, nil)
        for index in 0..<conditions { pthread_cond_init(self.conditions + index, nil) }
    }

    deinit {
        for index in 0..<conditionCount { pthread_cond_destroy(conditions + index) }
        conditions.deallocate()
        pthread_mutex_destroy(&mutex)
    }

    /// Runs `body` holding the lock.
    func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }

    /// Releases the lock until condition `condition` is signalled, then takes it again.
    func wait(_ condition: Int = 0) {
        pthread_cond_wait(conditions + condition, &mutex)
    }

    /// Wakes every waiter on `condition`.
    func broadcast(_ condition: Int = 0) {
        pthread_cond_broadcast(conditions + condition)
    }
}
