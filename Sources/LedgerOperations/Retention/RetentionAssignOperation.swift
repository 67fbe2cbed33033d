// Assigning a retention policy to calls or to a whole tenant (retention.policy.assigned), recording first a
// projection.definition.changed when the policy's file differs from the one the log last recorded for its name.
import LedgerCore
public import LedgerProjections
public import LedgerStore

/// Assigns a retention policy to calls or to a tenant.
public struct RetentionAssignOperation: Sendable {
    /// What the policy is assigned to.
    public enum Target: Sendable, Equatable {
        /// These calls (each must be in the ledger).
        case calls([String])
        /// Every call of this tenant, present and future.
        case tenant(String)
    }

    /// The ledger.
    public var ledger: LedgerLocation
    /// The policy, parsed.
    public var policy: RetentionPolicy
    /// The file it was read from (recorded in `projection.definition.changed`).
    public var path: String
    /// What it is assigned to.
    public var target: Target

    /// The assignment of `policy` (read from `path`) to `target`.
    public init(ledger: LedgerLocation, policy: RetentionPolicy, path: String, target: Target) {
        self.ledger = ledger
        self.policy = policy
        self.path = path
        self.target = target
    }

    /// Appends the events atomically; one acknowledgement per event (the definition change first, if any).
    public func run() throws -> [AppendResult] {
        let engine = ProjectionEngine(reader: try ledger.reader())
        let reference = DefinitionReference(name: policy.name, version: policy.version, digest: policy.digest.hex)
        let targets: [(call: String?, tenant: String)]
        switch target {
        case .tenant(let tenant): targets = [(nil, tenant)]
        case .calls(let calls): targets = try CallSelection.calls(calls).resolve(engine).map { ($0.call, $0.tenant) }
        }
        var events: [any OwnEventConvertible] = []
        if let recorded = try engine.recordedPolicyDigest(policy.name), recorded != reference.digest,
            let first = targets.first
        {
            events.append(
                DefinitionChangedEvent(
                    projection: "retention", definition: reference, path: path, tenant: first.tenant,
                    logSize: engine.reader.size))
        }
        for target in targets {
            events.append(RetentionAssignedEvent(call: target.call, tenant: target.tenant, policy: reference))
        }
        let writer = try ledger.writer()
        defer { try? writer.close() }
        return try OwnEventLog.append(events, with: writer)
    }
}
