// What retention erases at a given time and why, and where retention stands per call and data class.
import LedgerCore
public import LedgerProjections
import LedgerStore

/// The retention plan: for every (call, class) that still has a data key and that an assigned policy governs,
/// the policy, rule, period, trigger and due time, and the verdict.
public struct RetentionPlanOperation: Sendable {
    /// The ledger.
    public var ledger: LedgerLocation
    /// The policies at hand.
    public var policies: [RetentionPolicy]
    /// The plan's time, UTC µs.
    public var now: Int64
    /// Whether scheduled and waiting items are listed too (else only due and held ones).
    public var all: Bool

    /// The plan at `now` under `policies`.
    public init(ledger: LedgerLocation, policies: [RetentionPolicy], now: Int64, all: Bool) {
        self.ledger = ledger
        self.policies = policies
        self.now = now
        self.all = all
    }

    /// The items, ordered by due time.
    public func run() throws -> [RetentionItem] {
        let reader = try ledger.reader()
        let engine = ProjectionEngine(reader: reader)
        return try engine.retentionPlan(
            policies: policies, now: now, statuses: all ? Set(RetentionItem.Status.allCases) : [.due, .held])
    }
}

/// Where retention stands per call and data class: planned, held, shredded or compacted.
public struct RetentionStatusOperation: Sendable {
    /// One (call, class).
    public struct Row: Sendable, Equatable, Encodable {
        /// The call.
        public var call: String
        /// The data class.
        public var dataClass: String
        /// `due`, `held`, `waiting`, `scheduled`, `shredded` or `compacted`.
        public var status: String
        /// The policy (`name@version` while planned, the name once erased).
        public var policy: String
        /// When the trigger happened (RFC 3339), if it has.
        public var triggerAt: String?
        /// When the period ends (RFC 3339).
        public var dueAt: String?
        /// The active legal holds.
        public var holds: [String]
        /// When the `retention.purged` event was accepted (RFC 3339).
        public var purgedAt: String?
        /// Its seq.
        public var purgedSeq: UInt64?
        /// `crypto-shred` or `zero-retention`.
        public var method: String?
        /// When the `retention.compacted` event was accepted (RFC 3339).
        public var compactedAt: String?
        /// Its seq.
        public var compactedSeq: UInt64?
    }

    /// The ledger.
    public var ledger: LedgerLocation
    /// The policies at hand.
    public var policies: [RetentionPolicy]
    /// The time due times are evaluated at, UTC µs.
    public var now: Int64
    /// Only these calls (all when empty).
    public var calls: Set<String>

    /// The status at `now` of `calls` (all when empty).
    public init(ledger: LedgerLocation, policies: [RetentionPolicy], now: Int64, calls: Set<String>) {
        self.ledger = ledger
        self.policies = policies
        self.now = now
        self.calls = calls
    }

    /// The rows, ordered by call and class.
    public func run() throws -> [Row] {
        let reader = try ledger.reader()
        let engine = ProjectionEngine(reader: reader)
        var rows = try engine.retentionPlan(policies: policies, now: now)
            .filter { calls.isEmpty || calls.contains($0.call) }
            .map { item in
                Row(
                    call: item.call, dataClass: item.dataClass, status: item.status.rawValue,
                    policy: "\(item.policy)@\(item.policyVersion)", triggerAt: item.triggerAt, dueAt: item.dueAt,
                    holds: item.holds)
            }
        for purge in try engine.retentionPurges() where calls.isEmpty || calls.contains(purge.call) {
            rows.append(
                Row(
                    call: purge.call, dataClass: purge.dataClass,
                    status: purge.compactedSeq == nil ? "shredded" : "compacted", policy: purge.policy, holds: [],
                    purgedAt: Timestamp.format(micros: purge.purgedAt), purgedSeq: purge.seq, method: purge.method,
                    compactedAt: purge.compactedAt.map(Timestamp.format(micros:)), compactedSeq: purge.compactedSeq))
        }
        rows.sort { ($0.call, $0.dataClass) < ($1.call, $1.dataClass) }
        return rows
    }
}
