// Errors the operations themselves raise (the store's and the projections' own errors pass through as they are).

/// Why an operation refused a request; every message names what to change.
public enum OperationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A named call is not in the ledger.
    case unknownCall(String)
    /// A call query (`field=value,...`) selects no call.
    case noCallSelected(query: String)
    /// A call query is not `field=value` pairs of the fields `tenant`, `queue`, `agent`, `channel`.
    case invalidQuery(pair: String)

    /// A message a person can act on.
    public var description: String {
        switch self {
        case .unknownCall(let call): "call '\(call)' is not in the ledger"
        case .noCallSelected(let query): "--query \(query) selects no call"
        case .invalidQuery(let pair):
            "--query: '\(pair)' is not field=value with field tenant, queue, agent or channel"
        }
    }
}
