// Zero retention in the writer: which data keys never reach keys.sqlite, and when the writer drops them and
// appends `retention.purged` (method zero-retention). The decisions come from a gate (the retention policies);
// the writer keeps the keys and does the dropping.
public import LedgerCore

/// Decides, while events are staged, which data keys stay in the writer's memory only and when each is
/// dropped. The writer calls it under its staging lock, one event at a time, in seq order.
public protocol ZeroRetentionGate: AnyObject {
    /// Whether the data key about to be created for `dataClass` of `call` (of `tenant`) must never be written
    /// to disk.
    func keepsInMemory(call: String, tenant: String, dataClass: String) throws(LedgerError) -> Bool

    /// Whether the gate learns from events of `type` (only those are passed to `observe`).
    func observes(_ type: EventType) -> Bool

    /// Learns from a new event, sealed as `record` (its seq assigned), before any decision about its call.
    func observe(_ record: RecordView) throws(LedgerError)

    /// What to do now with the in-memory keys of `classes` of `call`: drop some (purges), write some to
    /// `keys.sqlite` after all (a legal hold, or a call the policies turned out not to govern), keep the rest.
    func decide(call: String, classes: [String]) throws(LedgerError) -> ZeroRetentionDecision
}

/// A gate's decision about one call's in-memory keys.
public struct ZeroRetentionDecision: Sendable, Equatable {
    /// Keys to drop, with the `retention.purged` event to append for each group.
    public var purges: [ZeroRetentionPurge]
    /// Classes whose key is to be written to `keys.sqlite` after all.
    public var persist: [String]

    /// A decision.
    public init(purges: [ZeroRetentionPurge] = [], persist: [String] = []) {
        self.purges = purges
        self.persist = persist
    }
}

/// Keys of one call dropped under one policy.
public struct ZeroRetentionPurge: Sendable, Equatable {
    /// The call's tenant.
    public var tenant: String
    /// The classes whose keys are dropped.
    public var classes: [String]
    /// The policy's name.
    public var policy: String
    /// Its version.
    public var policyVersion: String
    /// Its file's SHA-256, hex.
    public var policyDigest: String

    /// A purge of `classes` under a policy.
    public init(tenant: String, classes: [String], policy: String, policyVersion: String, policyDigest: String) {
        self.tenant = tenant
        self.classes = classes
        self.policy = policy
        self.policyVersion = policyVersion
        self.policyDigest = policyDigest
    }

    /// The `retention.purged` interchange line for `call`, the event of `seq` having triggered it.
    func interchangeLine(call: String, triggeredBy seq: UInt64) -> [UInt8] {
        var line: [UInt8] = []
        line.appendASCII("{\"type\":\"retention.purged\",\"call\":")
        line.appendJSONString(call)
        line.appendASCII(",\"tenant\":")
        line.appendJSONString(tenant)
        line.appendASCII(",\"source\":\"call-ledger/0.1\",\"idempotency\":")
        line.appendJSONString("zero:\(call):\(policy):\(seq)")
        line.appendASCII(",\"body\":{\"classes\":[")
        for (index, dataClass) in classes.enumerated() {
            if index > 0 { line.appendASCII(",") }
            line.appendJSONString(dataClass)
        }
        line.appendASCII("],\"policy\":{\"name\":")
        line.appendJSONString(policy)
        line.appendASCII(",\"version\":")
        line.appendJSONString(policyVersion)
        line.appendASCII(",\"digest\":")
        line.appendJSONString(policyDigest)
        line.appendASCII("},\"method\":\"zero-retention\"}}")
        return line
    }
}
