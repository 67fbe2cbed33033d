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
    /// When the trigger happened (RFC 3339, six fraction digits), if it has.
    public var triggerAt: String? { triggerMicros.map(Timestamp.format(micros:)) }
    /// When the period ends (RFC 3339, six fraction digits), if the trigger happened.
    public var dueAt: String? { dueMicros.map(Timestamp.format(micros:)) }
    /// The plan's verdict.
    public var status: Status
    /// The active legal holds.
    public var holds: [String]
    /// When the trigger happened, UTC µs. The instants are kept as numbers and written as text only on output: a
    /// large plan holds tens of thousands of items, and two strings of their own each made every copy and release
    /// of an item cost two more reference counts and every item two more allocations.
    public var triggerMicros: Int64?
    /// When the period ends, UTC µs; the plan is ordered by it.
    public var dueMicros: Int64?

    /// An item with every field given (`triggerMicros` and `dueMicros` in UTC µs, when the trigger happened).
    public init(
        call: String, tenant: String, dataClass: String, policy: String, policyVersion: String, policyDigest: String,
        rule: String, retain: String, trigger: String, triggerMicros: Int64?, dueMicros: Int64?, status: Status,
        holds: [String]
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
        self.triggerMicros = triggerMicros
        self.dueMicros = dueMicros
        self.status = status
        self.holds = holds
    }

    private enum CodingKeys: String, CodingKey {
        case call, tenant, dataClass, policy, policyVersion, policyDigest, rule, retain, trigger, triggerAt, dueAt
        case status, holds, dueMicros
    }

    /// Encodes the item's fields with the instants as RFC 3339 text (`trigger_at`, `due_at`) and the period's end
    /// also in µs (`due_micros`); absent optionals are left out.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(call, forKey: .call)
        try container.encode(tenant, forKey: .tenant)
        try container.encode(dataClass, forKey: .dataClass)
        try container.encode(policy, forKey: .policy)
        try container.encode(policyVersion, forKey: .policyVersion)
        try container.encode(policyDigest, forKey: .policyDigest)
        try container.encode(rule, forKey: .rule)
        try container.encode(retain, forKey: .retain)
        try container.encode(trigger, forKey: .trigger)
        try container.encodeIfPresent(triggerAt, forKey: .triggerAt)
        try container.encodeIfPresent(dueAt, forKey: .dueAt)
        try container.encode(status, forKey: .status)
        try container.encode(holds, forKey: .holds)
        try container.encodeIfPresent(dueMicros, forKey: .dueMicros)
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
        // Each policy with its digest in hex, made once: the items of a policy share that string.
        let byName = Dictionary(
            policies.map { ($0.name, (policy: $0, digest: $0.digest.hex)) }, uniquingKeysWith: { first, _ in first })
        // The governed calls in key ranges, about four per worker, claimed by the workers as they go (a worker
        // slowed down by another thread takes fewer): each worker reads its ranges' calls, their attributes and
        // keyed classes on connections of its own. Listing every governed call on the calling thread first was a
        // tenth of a 10,000-call plan, run while the other workers waited.
        let bounds = try state.governedChunkBounds(chunks: workers > 1 ? workers * 4 : 1)
        var contexts = [(state: state, keys: try reader.keyedClassLookup())]
        while contexts.count < min(workers, bounds.count + 1) {
            guard
                let file = try ProjectionStateFile.openCurrentForReading(name: RetentionFold.projection, in: directory)
            else { break }
            contexts.append((RetentionState(file: file), try reader.keyedClassLookup()))
        }
        // Each worker reads one snapshot of the state (and of the key store: see `keyedClassLookup`).
        for context in contexts { try context.state.database.beginReading() }
        let chunks = try mapClaimed(count: bounds.count + 1, contexts: contexts) {
            (context, chunk) throws(LedgerError) -> [RetentionItem] in
            let governed = try context.state.governedFacts(
                from: chunk == 0 ? nil : bounds[chunk - 1], to: chunk == bounds.count ? nil : bounds[chunk])
            var items: [RetentionItem] = []
            for call in governed {
                let classes = try context.keys.classes(of: call.facts.call)
                guard !classes.isEmpty else { continue }
                var facts = call.facts
                facts.attributes = RetentionAttributes.parse(call.attributes)
                items += try Self.retentionItems(
                    of: facts, classes: classes, state: context.state, policies: byName, now: now
                ).filter { statuses.contains($0.status) }
            }
            return items
        }
        for context in contexts { try context.state.database.endReading() }
        // The items are large values: their places in the workers' arrays are sorted, and each item is copied
        // once, into place (joining the arrays first was one more copy and release of every item, on one thread).
        let places = chunks.indices.flatMap { chunk in chunks[chunk].indices.map { (chunk: chunk, index: $0) } }
        let order = sortedInParallel(places, workers: contexts.count) { first, second in
            let (one, other) = (chunks[first.chunk][first.index], chunks[second.chunk][second.index])
            return (one.dueMicros ?? .max, one.call, one.dataClass) < (
                other.dueMicros ?? .max, other.call, other.dataClass
            )
        }
        return order.map { chunks[$0.chunk][$0.index] }
    }

    /// The plan's items of one call with data keys of `classes`, read through `state`.
    private static func retentionItems(
        of facts: RetentionCallFacts, classes: [String], state: RetentionState,
        policies byName: [String: (policy: RetentionPolicy, digest: String)],
        now: Int64
    ) throws(LedgerError) -> [RetentionItem] {
        let assigned = try state.assignments(call: facts.call, tenant: facts.tenant)
        guard !assigned.isEmpty else { return [] }
        var governing: [(policy: RetentionPolicy, digest: String, rule: RetentionPolicy.Rule)] = []
        for name in assigned.keys.sorted() {
            guard let (policy, digest) = byName[name] else {
                throw .invalidRequest(
                    "policy '\(name)' is assigned to call \(facts.call) but no policy file defines it; pass the directory that holds it with --policies"
                )
            }
            if let rule = policy.rule(
                tenant: facts.tenant, queue: facts.queue, channel: facts.channel, attributes: facts.attributes)
            {
                governing.append((policy, digest, rule))
            }
        }
        let holds = try state.activeHolds(call: facts.call)
        var items: [RetentionItem] = []
        for dataClass in classes.sorted() {
            var best: RetentionItem?
            for (policy, digest, rule) in governing {
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
                    policyVersion: policy.version, policyDigest: digest, rule: rule.name,
                    retain: retention.period.description, trigger: retention.trigger.rawValue,
                    triggerMicros: start, dueMicros: due, status: status, holds: holds)
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
