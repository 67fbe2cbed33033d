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
    /// The shard's replica and its ledger disagree, or the replica is damaged (restore stops there).
    case replicaMismatch(shard: Int, reason: String)
    /// The writer lost its shard's lease during a long step (a restore).
    case leaseLost(reason: String)
    /// The shard has no replica to restore from.
    case noReplica(shard: Int, stream: String)
    /// The root log cannot be read, extended or signed.
    case rootLog(reason: String)
    /// A combined proof does not verify: which member is at fault, and why.
    case proof(member: String, reason: String)

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
        case .replicaMismatch(let shard, let reason): "replica of shard \(shard): \(reason)"
        case .leaseLost(let reason): "the shard's lease was lost: \(reason)"
        case .noReplica(let shard, let stream):
            "shard \(shard) has no replica in stream \(stream) (its writer copies the ledger there as segments seal)"
        case .rootLog(let reason): "root log: \(reason)"
        case .proof(let member, let reason): "proof: \(member) \(reason)"
        }
    }
}
