// ClusterError: what can go wrong in the cluster workflows (configuration, NATS, the ledger, an event).
public import LedgerCore
public import LedgerStore
public import NATSClient

/// A failure of a cluster workflow, with a message a person can act on.
public enum ClusterError: Error, CustomStringConvertible, Sendable {
    /// The deployment configuration is unreadable or invalid.
    case configuration(path: String, reason: String)
    /// A call into NATS failed.
    case nats(NATSError)
    /// The shard's ledger failed.
    case ledger(LedgerError)
    /// An input line is not a valid interchange event (nothing from it on was published).
    case invalidEvent(EventDecodingError)
    /// JetStream did not acknowledge a publish within the time allowed, through every retry.
    case publishTimedOut(idempotency: String, seconds: Double, last: NATSError)

    /// One line a person can act on.
    public var description: String {
        switch self {
        case .configuration(let path, let reason): "cluster configuration \(path): \(reason)"
        case .nats(let error): "\(error)"
        case .ledger(let error): "\(error)"
        case .invalidEvent(let error): "\(error)"
        case .publishTimedOut(let idempotency, let seconds, let last):
            "event \(idempotency) not acknowledged by JetStream within \(seconds) s (last error: \(last)); "
                + "it may or may not be stored: publish it again (the same idempotency key is dropped if stored)"
        }
    }
}
