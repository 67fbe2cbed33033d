// What retention asks for at a given time: for every (call, data class) that still has a data key and that an
// assigned policy governs, when its period started and ends, whether a legal hold suspends it, and so whether
// it is due now.
import LedgerCore
public import LedgerStore

/// One (call, data class) that a policy governs, and what is to be done about it at the plan's time.
public struct RetentionItem: Sendable, Equatable, Encodable {
    /// What is to be done.
    public enum Status: String, Sendable, Encodable, CaseIterable {
        /// The period is over and no hold applies: erase now.
        case due
        /// The period is over but a legal hold suspends erasure.
        case held
        /// The trigger has not happened yet.
        case waiting
        /// The period is running.
        case scheduled
    }

    /// The call.
    public var call: String
    /// Its tenant.
    public var tenant: String
    /// The data class.
    public var dataClass: String
    /// The governing policy's name, version and file digest (hex).
    public var policy: String
    /// Its version.
    public var policyVersion: String
    /// Its file's SHA-256, hex.
    public var policyDigest: String
    /// The rule that selected the call.
    public var rule: String
    /// The period (`zero`, `P7Y`...).
    public var retain: String
    /// What the period counts from.
    public var trigger: String
    /// When the trigger happened (RFC 3339), if it has.
    public var triggerAt: String?
    /// When the period ends (RFC 3339), if the trigger happened.
    public var dueAt: String?
    /// The plan's verdict.
    public var status: Status
    /// The active legal holds.
    public var holds: [String]
    /// The period's end in UTC µs, for ordering.
    var dueMicros: Int64?

    /// An item with every field given (`dueMicros`: the period's end in UTC µs, if the trigger happened).
    public init(
        call: String, tenant: String, dataClass: String, policy: String, policyVersion: String, policyDigest: String,
        rule: String, retain: String, trigger: String, triggerAt: String?, dueAt: String?, status: Status,
        holds: [String], dueMicros: Int64?
    ) {
        self.call = call
        self.tenant = tenant
        self.dataClass = dataClass
        self.policy = policy
        self.policyVersion = policyVersion
        self.policyDigest = policyDigest
        self.rule = rule
        self.retain = retain
        self.trigger = trigger
        self.triggerAt = triggerAt
        self.dueAt = dueAt
        self.status = status
        self.holds = holds
        self.dueMicros = dueMicros
    }
}

extension ProjectionEngine {
    /// The retention plan at `now` (UTC µs): every (call, class) with a data key in the reader's key store that a
    /// policy in `policies` governs through an assignment in the log. Of several policies governing a class, the
    /// one whose period ends first decides. Only items whose status is in `statuses` are listed, ordered by due
    /// time. Only the calls an assignment names, or whose tenant it names, are read, so the plan costs what is
    /// assigned, not the whole ledger.
    public func retentionPlan(
        policies: [RetentionPolicy], now: Int64,
        statuses: Set<RetentionItem.Status> = Set(RetentionItem.Status.allCases)
    ) throws(LedgerError) -> [RetentionItem] {
        let state = RetentionState(file: try current(RetentionFold.self))
        let byName = Dictionary(policies.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let governed = try state.governedFacts()
        // One connection to the (now caught-up) retention state and one to the key store per worker thread; the
        // calling thread lists the governed calls, and the workers read their attributes and keyed classes.
        var contexts = [(state: state, keys: try reader.keyedClassLookup())]
        while contexts.count < min(workers, max(1, governed.count)) {
            guard
                let file = try ProjectionStateFile.openCurrentForReading(name: RetentionFold.projection, in: directory)
            else { break }
            contexts.append((RetentionState(file: file), try reader.keyedClassLookup()))
        }
        // Each worker reads one snapshot of the state (and of the key store: see `keyedClassLookup`).
        for context in contexts { try context.state.database.beginReading() }
        var items: [RetentionItem] = []
        try forEachInOrder(governed, contexts: contexts) { (context, call) throws(LedgerError) -> [RetentionItem] in
            let classes = try context.keys.classes(of: call.facts.call)
            guard !classes.isEmpty else { return [] }
            var facts = call.facts
            facts.attributes = RetentionState.parseAttributes(call.attributes)
            return try Self.retentionItems(
                of: facts, classes: classes, state: context.state, policies: byName, now: now
            ).filter { statuses.contains($0.status) }
        } consume: { (_, callItems) throws(LedgerError) in
            items.append(contentsOf: callItems)
        }
        for context in contexts { try context.state.database.endReading() }
        // The items are large values: their indices are sorted, and each item is copied once into place.
        let order = sortedInParallel(Array(items.indices), workers: contexts.count) {
            (items[$0].dueMicros ?? .max, items[$0].call, items[$0].dataClass)
                < (items[$1].dueMicros ?? .max, items[$1].call, items[$1].dataClass)
        }
        return order.map { items[$0] }
    }

    /// The plan's items of one call with data keys of `classes`, read through `state`.
    private static func retentionItems(
        of facts: RetentionCallFacts, classes: [String], state: RetentionState,
        policies byName: [String: RetentionPolicy],
        now: Int64
    ) throws(LedgerError) -> [RetentionItem] {
        let assigned = try state.assignments(call: facts.call, tenant: facts.tenant)
        guard !assigned.isEmpty else { return [] }
        var governing: [(policy: RetentionPolicy, rule: RetentionPolicy.Rule)] = []
        for name in assigned.keys.sorted() {
            guard let policy = byName[name] else {
                throw .invalidRequest(
                    "policy '\(name)' is assigned to call \(facts.call) but no policy file defines it; pass the directory that holds it with --policies"
                )
            }
            if let rule = policy.rule(
                tenant: facts.tenant, queue: facts.queue, channel: facts.channel, attributes: facts.attributes)
            {
                governing.append((policy, rule))
            }
        }
        let holds = try state.activeHolds(call: facts.call)
        var items: [RetentionItem] = []
        for dataClass in classes.sorted() {
            var best: RetentionItem?
            for (policy, rule) in governing {
                guard let retention = rule.retention(of: dataClass), retention.period != .forever else { continue }
                let start = facts.time(of: retention.trigger)
                let due = start.flatMap { retention.period.end(after: $0) }
                let status: RetentionItem.Status
                if let due, due <= now {
                    status = holds.isEmpty ? .due : .held
                } else {
                    status = due == nil ? .waiting : .scheduled
                }
                let item = RetentionItem(
                    call: facts.call, tenant: facts.tenant, dataClass: dataClass, policy: policy.name,
                    policyVersion: policy.version, policyDigest: policy.digest.hex, rule: rule.name,
                    retain: retention.period.description, trigger: retention.trigger.rawValue,
                    triggerAt: start.map(Timestamp.format(micros:)), dueAt: due.map(Timestamp.format(micros:)),
                    status: status, holds: holds, dueMicros: due)
                if let current = best, (current.dueMicros ?? .max) <= (due ?? .max) { continue }
                best = item
            }
            if let best { items.append(best) }
        }
        return items
    }

    /// The digest the log last recorded for retention policy `name` (through `projection.definition.changed`
    /// or, failing that, its newest assignment), hex, or nil when the log never named it.
    public func recordedPolicyDigest(_ name: String) throws(LedgerError) -> String? {
        let state = RetentionState(file: try current(RetentionFold.self))
        if let digest = try state.recordedDigest(projection: RetentionFold.projection, name: name) { return digest }
        let statement = try state.database.statement(
            "SELECT digest FROM assignments WHERE policy = ?1 AND digest IS NOT NULL ORDER BY seq DESC LIMIT 1"
        ).bind(.text(name))
        return try statement.step() ? statement.text(0) : nil
    }

    /// The names of the policies the log assigns to calls or tenants.
    public func retentionAssignedPolicies() throws(LedgerError) -> Set<String> {
        let statement = try RetentionState(file: try current(RetentionFold.self)).database.statement(
            "SELECT DISTINCT policy FROM assignments")
        var names: Set<String> = []
        while try statement.step() { names.insert(statement.text(0)) }
        return names
    }

    /// The erasures the log records for `call` (every call when nil), with their compaction state.
    public func retentionPurges(call: String? = nil) throws(LedgerError) -> [RetentionPurge] {
        try RetentionState(file: try current(RetentionFold.self)).purges(call: call)
    }

    /// The erasures the log records whose ciphertext no `retention.compacted` event records as removed yet.
    public func retentionPurgesToCompact() throws(LedgerError) -> [RetentionPurge] {
        try RetentionState(file: try current(RetentionFold.self)).purges(call: nil, uncompactedOnly: true)
    }

    /// The facts the retention projection holds about `call`, or nil.
    public func retentionFacts(call: String) throws(LedgerError) -> RetentionCallFacts? {
        try RetentionState(file: try current(RetentionFold.self)).facts(call: call)
    }
}
