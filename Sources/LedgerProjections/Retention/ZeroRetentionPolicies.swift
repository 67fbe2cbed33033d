// Zero retention decided by the retention policies: the gate the writer asks which new data keys stay in its
// memory only, and when to drop them. It starts from the assignments, holds and call facts the retention
// projection holds and follows the events the writer appends meanwhile.
public import LedgerCore
public import LedgerStore

/// The zero-retention gate of a set of retention policies.
///
/// A data class is zero-retention for a call when a policy assigned to the call or its tenant has a rule
/// selecting the call that keeps the class `zero`. Before the call's `call.started` is known, a rule whose
/// selection depends on it (queue, channel, attributes) is taken to select the call: a key is kept in memory
/// when in doubt, and written to `keys.sqlite` as soon as the facts show no zero rule applies. A key is dropped,
/// with a `retention.purged`, once the class's trigger has happened (call end, CRM write confirmed, payment
/// authorization); while a legal hold is on the call, its keys are written to `keys.sqlite` instead, since a
/// held call is never erased.
///
/// Not thread-safe: the writer calls it under its staging lock.
public final class ZeroRetentionPolicies: ZeroRetentionGate {
    private let policies: [String: RetentionPolicy]
    private let state: RetentionState
    private var callPolicies: [String: Set<String>] = [:]
    private var tenantPolicies: [String: Set<String>] = [:]
    private var holds: [String: Set<String>] = [:]
    private var facts: [String: RetentionCallFacts?] = [:]

    private static let observed: Set<EventType> = [
        .callStarted, .callEnded, .crmWrite, .paymentAuthorized, .retentionPolicyAssigned, .legalHoldPlaced,
        .legalHoldReleased,
    ]

    /// The gate of `policies` over the log `engine` reads, or nil when no policy keeps any class `zero`.
    public static func gate(
        policies: [RetentionPolicy], engine: ProjectionEngine
    ) throws(LedgerError) -> ZeroRetentionPolicies? {
        let anyZero = policies.contains { policy in
            policy.rules.contains { rule in rule.classes.values.contains { $0.period == .zero } }
        }
        guard anyZero else { return nil }
        return try ZeroRetentionPolicies(
            policies: policies, state: RetentionState(file: engine.current(RetentionFold.self)))
    }

    private init(policies: [RetentionPolicy], state: RetentionState) throws(LedgerError) {
        self.policies = Dictionary(policies.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.state = state
        let assignments = try state.database.statement("SELECT scope, target, policy FROM assignments")
        while try assignments.step() {
            if assignments.text(0) == "tenant" {
                tenantPolicies[assignments.text(1), default: []].insert(assignments.text(2))
            } else {
                callPolicies[assignments.text(1), default: []].insert(assignments.text(2))
            }
        }
        let active = try state.database.statement("SELECT call, hold FROM holds WHERE released_seq IS NULL")
        while try active.step() { holds[active.text(0), default: []].insert(active.text(1)) }
    }

    /// Whether the gate learns from events of `type`: call facts, assignments and holds.
    public func observes(_ type: EventType) -> Bool { Self.observed.contains(type) }

    /// Whether a zero rule of an assigned policy may govern `dataClass` of `call`.
    public func keepsInMemory(call: String, tenant: String, dataClass: String) throws(LedgerError) -> Bool {
        tenants[call] = tenant
        return try zeroRetention(call: call, tenant: tenant, dataClass: dataClass) != nil
    }

    /// Follows call facts, assignments and holds as the writer appends them.
    public func observe(_ record: RecordView) throws(LedgerError) {
        guard let kind = record.eventType, Self.observed.contains(kind) else { return }
        let body = try RetentionFold.body(of: record, kind: kind)
        let call = record.call
        switch kind {
        case .retentionPolicyAssigned:
            let name = body["policy"]?["name"]?.string ?? ""
            if call.isEmpty {
                tenantPolicies[record.string(record.tenantRange), default: []].insert(name)
            } else {
                callPolicies[call, default: []].insert(name)
            }
        case .legalHoldPlaced:
            holds[call, default: []].insert(body["hold"]?.string ?? "")
        case .legalHoldReleased:
            holds[call]?.remove(body["hold"]?.string ?? "")
        default:
            var current =
                try knownFacts(call: call)
                ?? RetentionCallFacts(call: call, tenant: record.string(record.tenantRange), firstSeq: record.seq)
            current.update(with: body, kind: kind, record: record)
            facts[call] = current
        }
    }

    /// Held calls' keys, and keys no zero rule governs after all, are persisted; keys whose trigger has
    /// happened are dropped, grouped per policy.
    public func decide(call: String, classes: [String]) throws(LedgerError) -> ZeroRetentionDecision {
        let known = try knownFacts(call: call)
        guard holds[call]?.isEmpty ?? true else { return ZeroRetentionDecision(persist: classes) }
        var decision = ZeroRetentionDecision()
        var purges: [String: ZeroRetentionPurge] = [:]
        for dataClass in classes {
            guard let tenant = known?.tenant ?? tenants[call],
                let (policy, retention) = try zeroRetention(call: call, tenant: tenant, dataClass: dataClass)
            else {
                decision.persist.append(dataClass)
                continue
            }
            guard known?.time(of: retention.trigger) != nil else { continue }
            purges[
                policy.name,
                default: ZeroRetentionPurge(
                    tenant: tenant, classes: [], policy: policy.name, policyVersion: policy.version,
                    policyDigest: policy.digest.hex)
            ].classes.append(dataClass)
        }
        decision.purges = purges.keys.sorted().compactMap { purges[$0] }
        return decision
    }

    /// The tenant of every call a key was asked for.
    private var tenants: [String: String] = [:]

    /// The facts of `call`: those followed in this process, else the projection's, else nil.
    private func knownFacts(call: String) throws(LedgerError) -> RetentionCallFacts? {
        if let cached = facts[call] { return cached }
        let loaded = try state.facts(call: call)
        facts[call] = loaded
        return loaded
    }

    /// The policy and class retention that make `dataClass` of `call` zero-retention, or nil.
    private func zeroRetention(
        call: String, tenant: String, dataClass: String
    ) throws(LedgerError) -> (RetentionPolicy, RetentionPolicy.ClassRetention)? {
        let names = (callPolicies[call] ?? []).union(tenantPolicies[tenant] ?? [])
        guard !names.isEmpty else { return nil }
        let known = try knownFacts(call: call)
        for name in names.sorted() {
            guard let policy = policies[name] else {
                throw .invalidRequest(
                    "retention policy '\(name)' is assigned to call \(call) (tenant \(tenant)) but no policy file defines it; pass the directory that holds it with --policies, so that zero retention is enforced"
                )
            }
            if let known, known.startedVersion != nil {
                let rule = policy.rule(
                    tenant: tenant, queue: known.queue, channel: known.channel, attributes: known.attributes)
                if let retention = rule?.retention(of: dataClass), retention.period == .zero {
                    return (policy, retention)
                }
                continue
            }
            // Before call.started: every rule that may select the call, up to the first that surely does.
            for rule in policy.rules where rule.selection.tenants?.contains(tenant) ?? true {
                if let retention = rule.retention(of: dataClass), retention.period == .zero {
                    return (policy, retention)
                }
                let selection = rule.selection
                if selection.queues == nil && selection.channels == nil && selection.attributes.isEmpty { break }
            }
        }
        return nil
    }
}
