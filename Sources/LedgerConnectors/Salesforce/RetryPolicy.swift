// When and how long SalesforceClient waits before sending a request again: exponential backoff with full jitter,
// or the server's Retry-After when it gives one.

/// How many times a request is tried and how long to wait between tries.
///
/// After failed attempt `n` (1-based) the wait is a uniformly random duration between zero and
/// `min(maxDelay, baseDelay * 2^(n-1))` ("full jitter"); when the response carries `Retry-After: S` the wait is
/// `S` seconds instead, capped at `retryAfterCap`. Retried: HTTP 429, 500, 502, 503, 504, timeouts, refused and
/// dropped connections. Never retried: anything else, 300 and 401 included.
public struct RetryPolicy: Sendable, Equatable {
    /// Tries in all, the first included; at least 1.
    public var maxAttempts: Int
    /// The backoff ceiling after the first failure.
    public var baseDelay: Duration
    /// The largest backoff ceiling.
    public var maxDelay: Duration
    /// The longest `Retry-After` that is honoured; longer values wait this long.
    public var retryAfterCap: Duration

    /// A policy; the defaults try 5 times with ceilings 0.5 s, 1 s, 2 s, 4 s and honour up to 60 s of Retry-After.
    public init(
        maxAttempts: Int = 5, baseDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(30),
        retryAfterCap: Duration = .seconds(60)
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.retryAfterCap = retryAfterCap
    }

    /// The wait after failed attempt `attempt` (1-based), given `random` in `0..<1` and the server's Retry-After.
    public func delay(afterAttempt attempt: Int, random: Double, retryAfterSeconds: Int?) -> Duration {
        if let seconds = retryAfterSeconds {
            return min(.seconds(seconds), retryAfterCap)
        }
        var ceiling = baseDelay
        for _ in 1..<max(1, attempt) where ceiling < maxDelay {
            ceiling *= 2
        }
        return min(ceiling, maxDelay) * min(max(random, 0), 1)
    }

    /// Whether a response with `status` is worth sending again.
    public static func isRetryable(status: Int) -> Bool {
        [429, 500, 502, 503, 504].contains(status)
    }

    /// Whether a request that failed with `error` is worth sending again.
    public static func isRetryable(_ error: HTTPError) -> Bool {
        switch error {
        case .timeout, .connectionFailed, .connectionDropped: true
        case .invalidURL, .transport: false
        }
    }
}
