// The calls an operation on calls names: ids, or the calls whose summary fields match a query.
public import LedgerProjections

/// The calls a hold or an assignment names: ids, or the calls whose fields (`tenant`, `queue`, `agent`,
/// `channel`) match every condition of a query.
public enum CallSelection: Sendable, Equatable {
    /// These call ids; each must be in the ledger.
    case calls([String])
    /// The calls matching a query `field=value,...`; it must select at least one.
    case query(String)

    /// One `field=value` condition of a query.
    public struct Condition: Sendable, Equatable {
        /// `tenant`, `queue`, `agent` or `channel`.
        public var field: String
        /// The value the field must have.
        public var value: String
    }

    /// The fields a query may test.
    public static let queryFields = ["tenant", "queue", "agent", "channel"]

    /// The conditions of `query`: comma-separated `field=value` pairs of the fields in `queryFields`.
    public static func conditions(_ query: String) throws(OperationError) -> [Condition] {
        var conditions: [Condition] = []
        for pair in query.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, queryFields.contains(parts[0]), !parts[1].isEmpty else {
                throw .invalidQuery(pair: String(pair))
            }
            conditions.append(Condition(field: parts[0], value: parts[1]))
        }
        return conditions
    }

    /// The selected calls with their tenants, in the order named (or the ledger's order for a query).
    public func resolve(_ engine: ProjectionEngine) throws -> [(call: String, tenant: String)] {
        let known = try engine.calls()
        switch self {
        case .query(let query):
            let conditions = try Self.conditions(query)
            let matching = known.filter { summary in
                conditions.allSatisfy { condition in
                    switch condition.field {
                    case "tenant": summary.tenant == condition.value
                    case "queue": summary.queue == condition.value
                    case "agent": summary.agent == condition.value
                    default: summary.channel == condition.value
                    }
                }
            }
            guard !matching.isEmpty else { throw OperationError.noCallSelected(query: query) }
            return matching.map { ($0.call, $0.tenant) }
        case .calls(let calls):
            let tenants = Dictionary(known.map { ($0.call, $0.tenant) }, uniquingKeysWith: { first, _ in first })
            return try calls.map { call in
                guard let tenant = tenants[call] else { throw OperationError.unknownCall(call) }
                return (call, tenant)
            }
        }
    }
}
