// The connector tests' recorder of the waits a client asks for, and stand-in clients that use it (the stand-in
// server itself is in LedgerTestSupport).
import LedgerConnectors
import LedgerTestSupport

/// Records the waits a SalesforceClient asks for instead of sleeping.
final class SleepRecorder {
    var delays: [Duration] = []
}

extension StandIn {
    /// A client whose waits go to `recorder` and whose jitter is always `random`.
    func client(
        token: String = StandIn.token, timeout: Duration = .seconds(5),
        policy: RetryPolicy = RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(100), maxDelay: .seconds(1)),
        recorder: SleepRecorder, random: Double = 0.5
    ) throws -> SalesforceClient {
        try SalesforceClient(
            configuration: configuration(token: token, timeout: timeout), retryPolicy: policy,
            sleep: { recorder.delays.append($0) }, random: { random })
    }

}
