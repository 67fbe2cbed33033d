// The retention projection's fold: per call, the facts retention periods count from (end, last CRM write,
// payment authorization) and the attributes policies select on; the policies assigned to calls and tenants;
// legal holds; what was purged, when and by which event; and the definition digests the log recorded.
import Dispatch
import Foundation
import LedgerCore
import LedgerStore

/// What the retention projection knows of one call.
public struct RetentionCallFacts: Sendable, Equatable {
    /// The call id.
    public var call: String
    /// Its tenant.
    public var tenant: String
    /// The queue of the newest `call.started`.
    public var queue: String?
    /// The channel of the newest `call.started`.
    public var channel: String?
    /// The other string members of the newest `call.started` (initiation method, language, agent...).
    public var attributes: [String: String] = [:]
    /// When the call ended (UTC µs).
    public var endedAt: Int64?
    /// When its last CRM write was confirmed (UTC µs).
    public var crmConfirmedAt: Int64?
    /// When its last payment authorization was answered (UTC µs).
    public var authorizedAt: Int64?
    /// The seq of its first fact.
    public var firstSeq: UInt64
    /// The `updated_at` of the newest `call.started` (`Int64.min` when it had none), nil before any.
    var startedVersion: Int64?
    var endedVersion: Int64?

    /// When `trigger` happened for this call, if it has.
    public func time(of trigger: RetentionPolicy.Trigger) -> Int64? {
        switch trigger {
        case .callEnd: endedAt
        case .crmWriteConfirmed: crmConfirmedAt
        case .authorization: authorizedAt
        }
    }
}

/// Folds retention facts into the retention projection's state.
struct RetentionFold: ProjectionFold {
    static let projection = "retention"
    static let version: Int64 = 2
    static let schema = """
        CREATE TABLE calls(
            call TEXT PRIMARY KEY, tenant TEXT NOT NULL, queue TEXT, channel TEXT, attributes TEXT NOT NULL,
            ended_at INTEGER, crm_confirmed_at INTEGER, authorized_at INTEGER, first_seq INTEGER NOT NULL,
            started_version INTEGER, ended_version INTEGER
        ) WITHOUT ROWID;
        CREATE TABLE assignments(
            scope TEXT NOT NULL, target TEXT NOT NULL, tenant TEXT NOT NULL, policy TEXT NOT NULL,
            version TEXT NOT NULL, digest TEXT, rule TEXT, seq INTEGER NOT NULL,
            PRIMARY KEY(scope, target, policy)
        ) WITHOUT ROWID;
        CREATE TABLE holds(
            call TEXT NOT NULL, hold TEXT NOT NULL, placed_seq INTEGER NOT NULL, released_seq INTEGER,
            PRIMARY KEY(call, hold)
        ) WITHOUT ROWID;
        CREATE TABLE purges(
            call TEXT NOT NULL, class TEXT NOT NULL, tenant TEXT NOT NULL, seq INTEGER NOT NULL,
            purged_at INTEGER NOT NULL,
            method TEXT NOT NULL, policy TEXT NOT NULL, compacted_seq INTEGER, compacted_at INTEGER,
            PRIMARY KEY(call, class)
        ) WITHOUT ROWID;
        CREATE TABLE definitions(
            projection TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL, digest TEXT,
            seq INTEGER NOT NULL, PRIMARY KEY(projection, name)
        ) WITHOUT ROWID;
        """

    private static let kinds: Set<EventType> = [
        .callStarted, .callEnded, .crmWrite, .paymentAuthorized, .retentionPolicyAssigned, .legalHoldPlaced,
        .legalHoldReleased, .retentionPurged, .retentionCompacted, .projectionDefinitionChanged,
    ]

    static func wants(_ record: RecordView) -> Bool {
        record.eventType.map(kinds.contains) ?? false
    }

    private let state: RetentionState
    private let restoring: Bool
    private var facts: [String: RetentionCallFacts] = [:]
    private(set) var applyNanos: UInt64 = 0

    init(into file: ProjectionStateFile, restoring: Bool) {
        state = RetentionState(file: file)
        self.restoring = restoring
    }

    var callCount: Int { facts.count }

    mutating func apply(_ record: RecordView) throws(LedgerError) {
        guard let kind = record.eventType, Self.kinds.contains(kind) else { return }
        let body = try Self.body(of: record, kind: kind)
        let start = DispatchTime.now().uptimeNanoseconds
        defer { applyNanos += DispatchTime.now().uptimeNanoseconds - start }
        let call = record.call
        let tenant = record.string(record.tenantRange)
        let seq = Int64(record.seq)
        switch kind {
        case .callStarted, .callEnded, .crmWrite, .paymentAuthorized:
            var current = facts[call]
            if current == nil, restoring { current = try state.facts(call: call) }
            var updated = current ?? RetentionCallFacts(call: call, tenant: tenant, firstSeq: record.seq)
            updated.update(with: body, kind: kind, record: record)
            facts[call] = updated
        case .retentionPolicyAssigned:
            let policy = body["policy"]
            try state.database.statement(
                """
                INSERT OR REPLACE INTO assignments(scope, target, tenant, policy, version, digest, rule, seq)
                VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                """
            ).bind(
                .text(call.isEmpty ? "tenant" : "call"), .text(call.isEmpty ? tenant : call), .text(tenant),
                .text(policy?["name"]?.string ?? ""), .text(policy?["version"]?.string ?? ""),
                Self.optional(policy?["digest"]?.digestHex), Self.optional(body["rule"]?.string), .integer(seq)
            ).run()
        case .legalHoldPlaced:
            try state.database.statement(
                "INSERT OR REPLACE INTO holds(call, hold, placed_seq, released_seq) VALUES(?1, ?2, ?3, NULL)"
            ).bind(.text(call), .text(body["hold"]?.string ?? ""), .integer(seq)).run()
        case .legalHoldReleased:
            try state.database.statement(
                "UPDATE holds SET released_seq = ?3 WHERE call = ?1 AND hold = ?2"
            ).bind(.text(call), .text(body["hold"]?.string ?? ""), .integer(seq)).run()
        case .retentionPurged:
            for dataClass in body["classes"]?.array ?? [] {
                try state.database.statement(
                    """
                    INSERT OR REPLACE INTO purges(
                        call, class, tenant, seq, purged_at, method, policy, compacted_seq, compacted_at)
                    VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL)
                    """
                ).bind(
                    .text(call), .text(dataClass.string ?? ""), .text(tenant), .integer(seq), .integer(record.time),
                    .text(body["method"]?.string ?? ""), .text(body["policy"]?["name"]?.string ?? "")
                ).run()
            }
        case .retentionCompacted:
            for dataClass in body["classes"]?.array ?? [] {
                try state.database.statement(
                    "UPDATE purges SET compacted_seq = ?3, compacted_at = ?4 WHERE call = ?1 AND class = ?2"
                ).bind(.text(call), .text(dataClass.string ?? ""), .integer(seq), .integer(record.time)).run()
            }
        case .projectionDefinitionChanged:
            let definition = body["definition"]
            try state.database.statement(
                "INSERT OR REPLACE INTO definitions(projection, name, version, digest, seq) VALUES(?1, ?2, ?3, ?4, ?5)"
            ).bind(
                .text(body["projection"]?.string ?? ""), .text(definition?["name"]?.string ?? ""),
                .text(definition?["version"]?.string ?? ""), Self.optional(definition?["digest"]?.digestHex),
                .integer(seq)
            ).run()
        default:
            break
        }
    }

    /// The meta body of `record`, an event of a kind retention folds.
    static func body(of record: RecordView, kind: EventType) throws(LedgerError) -> EventValue {
        do {
            return try EventValue.body(of: record, parts: [], skipping: ["customer_endpoint", "tracks", "fields"])
        } catch {
            throw .invalidRequest("event \(record.seq) (\(kind.rawValue)) cannot be folded into retention: \(error)")
        }
    }

    private static func optional(_ text: String?) -> SQLiteValue {
        text.map { .text($0) } ?? .null
    }

    mutating func finish(checkpoint seq: UInt64) throws(LedgerError) {
        let start = DispatchTime.now().uptimeNanoseconds
        for value in facts.values { try state.store(value) }
        try state.file.setCheckpoint(seq)
        applyNanos += DispatchTime.now().uptimeNanoseconds - start
    }
}

extension EventValue {
    /// The digest as lowercase hex, or nil.
    var digestHex: String? {
        if case .digest(let hex) = self { return hex }
        return nil
    }
}

extension RetentionCallFacts {
    /// Folds one fact event of the call.
    mutating func update(with body: EventValue, kind: EventType, record: RecordView) {
        let happened = record.occurred?.micros ?? record.time
        switch kind {
        case .callStarted:
            let version = body["updated_at"]?.timestamp?.micros ?? .min
            if let startedVersion, startedVersion > version { return }
            startedVersion = version
            queue = body["queue"]?["name"]?.string ?? body["queue"]?["id"]?.string
            channel = body["channel"]?.string
            var attributes: [String: String] = [:]
            if case .object(let members) = body {
                for (name, value) in members {
                    if let text = value.string {
                        attributes[name] = text
                    } else if let text = value["name"]?.string ?? value["id"]?.string {
                        attributes[name] = text
                    }
                }
            }
            self.attributes = attributes
        case .callEnded:
            let version = body["updated_at"]?.timestamp?.micros ?? .min
            if let endedVersion, endedVersion > version { return }
            endedVersion = version
            endedAt = body["disconnected_at"]?.timestamp?.micros ?? happened
        case .crmWrite:
            crmConfirmedAt = max(crmConfirmedAt ?? .min, happened)
        case .paymentAuthorized:
            authorizedAt = max(authorizedAt ?? .min, body["authorized_at"]?.timestamp?.micros ?? happened)
        default:
            break
        }
    }
}

/// The retention projection's tables.
struct RetentionState {
    let file: ProjectionStateFile
    var database: SQLiteDatabase { file.database }

    private static let columns = """
        call, tenant, queue, channel, attributes, ended_at, crm_confirmed_at, authorized_at, first_seq, \
        started_version, ended_version
        """

    /// Stores the facts of a call.
    func store(_ facts: RetentionCallFacts) throws(LedgerError) {
        func optional(_ value: Int64?) -> SQLiteValue { value.map { .integer($0) } ?? .null }
        func optional(_ value: String?) -> SQLiteValue { value.map { .text($0) } ?? .null }
        let attributes = String(
            decoding: (try? JSONSerialization.data(withJSONObject: facts.attributes, options: [.sortedKeys])) ?? Data(),
            as: UTF8.self)
        try database.statement(
            "INSERT OR REPLACE INTO calls(\(Self.columns)) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"
        ).bind(
            .text(facts.call), .text(facts.tenant), optional(facts.queue), optional(facts.channel), .text(attributes),
            optional(facts.endedAt), optional(facts.crmConfirmedAt), optional(facts.authorizedAt),
            .integer(Int64(facts.firstSeq)), optional(facts.startedVersion), optional(facts.endedVersion)
        ).run()
    }

    /// The stored facts of `call`, or nil.
    func facts(call: String) throws(LedgerError) -> RetentionCallFacts? {
        let statement = try database.statement("SELECT \(Self.columns) FROM calls WHERE call = ?1").bind(.text(call))
        return try statement.step() ? Self.facts(from: statement) : nil
    }

    /// Call ids that cut the calls an assignment can govern into about `chunks` runs of about equal size, in key
    /// order (empty for one run): quantiles of the calls assigned a policy themselves, or of every call when only
    /// tenants are assigned one (none when nothing is assigned). Each quantile steps along an index to an offset;
    /// no call's row is read.
    func governedChunkBounds(chunks: Int) throws(LedgerError) -> [String] {
        guard chunks > 1 else { return [] }
        let assigned = try database.statement("SELECT count(*) FROM assignments WHERE scope = 'call'")
        let callTargets = try assigned.step() ? assigned.integer(0) : 0
        assigned.rewind()
        var count = callTargets
        var quantile = "SELECT target FROM assignments WHERE scope = 'call' ORDER BY target LIMIT 1 OFFSET ?1"
        if callTargets == 0 {
            // No call is assigned a policy itself: the ranges cut every call, when a tenant is assigned one.
            let tenants = try database.statement("SELECT 1 FROM assignments WHERE scope = 'tenant' LIMIT 1")
            let anyTenant = try tenants.step()
            tenants.rewind()
            guard anyTenant else { return [] }
            let all = try database.statement("SELECT count(*) FROM calls")
            count = try all.step() ? all.integer(0) : 0
            all.rewind()
            quantile = "SELECT call FROM calls ORDER BY call LIMIT 1 OFFSET ?1"
        }
        var bounds: [String] = []
        for chunk in 1..<Int64(chunks) {
            let statement = try database.statement(quantile).bind(.integer(count * chunk / Int64(chunks)))
            if try statement.step() {
                let bound = statement.text(0)
                if bound != bounds.last { bounds.append(bound) }
            }
            statement.rewind()
        }
        return bounds
    }

    /// The facts of the calls an assignment can govern (those assigned a policy themselves and those of a tenant
    /// assigned one) whose id is at least `lower` and below `upper` (nil: no bound), in no particular order: what
    /// a plan needs, without reading the other calls. Disjoint ranges give disjoint calls, so the plan's workers
    /// each read a range of their own. The facts come without their attributes, which `attributes` gives as
    /// stored (JSON), for `RetentionAttributes.parse` to read on whatever thread uses them.
    func governedFacts(
        from lower: String?, to upper: String?
    ) throws(LedgerError) -> [(facts: RetentionCallFacts, attributes: String)] {
        var result: [(facts: RetentionCallFacts, attributes: String)] = []
        /// Appends the rows `statement` selects.
        func collect(_ statement: SQLiteStatement) throws(LedgerError) {
            while try statement.step() {
                result.append((try Self.facts(from: statement, parsingAttributes: false), statement.text(4)))
            }
            statement.rewind()
        }
        let bounds = [lower.map(SQLiteValue.text), upper.map(SQLiteValue.text)].compactMap { $0 }
        /// `column` in the range, as SQL with ?1 and ?2 for the bounds given.
        func inRange(_ column: String) -> String {
            switch (lower, upper) {
            case (nil, nil): ""
            case (_?, nil): " AND \(column) >= ?1"
            case (nil, _?): " AND \(column) < ?1"
            case (_?, _?): " AND \(column) >= ?1 AND \(column) < ?2"
            }
        }
        // Calls assigned a policy themselves: one key lookup each, where a single query with the tenants' test
        // would scan every call of the ledger.
        try collect(
            try database.statement(
                """
                SELECT \(Self.columns) FROM calls
                WHERE call IN (SELECT target FROM assignments WHERE scope = 'call'\(inRange("target")))
                """
            ).bind(bounds))
        let tenants = try database.statement("SELECT 1 FROM assignments WHERE scope = 'tenant' LIMIT 1")
        let anyTenant = try tenants.step()
        tenants.rewind()
        if anyTenant {
            try collect(
                try database.statement(
                    """
                    SELECT \(Self.columns) FROM calls
                    WHERE tenant IN (SELECT target FROM assignments WHERE scope = 'tenant')
                      AND call NOT IN (SELECT target FROM assignments WHERE scope = 'call')\(inRange("call"))
                    """
                ).bind(bounds))
        }
        return result
    }

    private static func facts(
        from row: SQLiteStatement, parsingAttributes: Bool = true
    ) throws(LedgerError) -> RetentionCallFacts {
        func optionalInteger(_ column: Int32) -> Int64? { row.isNull(column) ? nil : row.integer(column) }
        func optionalText(_ column: Int32) -> String? { row.isNull(column) ? nil : row.text(column) }
        var facts = try RetentionCallFacts(call: row.text(0), tenant: row.text(1), firstSeq: row.unsignedInteger(8))
        facts.queue = optionalText(2)
        facts.channel = optionalText(3)
        if parsingAttributes { facts.attributes = RetentionAttributes.parse(row.text(4)) }
        facts.endedAt = optionalInteger(5)
        facts.crmConfirmedAt = optionalInteger(6)
        facts.authorizedAt = optionalInteger(7)
        facts.startedVersion = optionalInteger(9)
        facts.endedVersion = optionalInteger(10)
        return facts
    }

    /// The policies assigned to `call` or to its tenant, by policy name: a call-level assignment wins over
    /// a tenant-level one of the same policy.
    func assignments(call: String, tenant: String) throws(LedgerError) -> [String: PolicyAssignment] {
        let statement = try database.statement(
            """
            SELECT policy, version, digest, scope, seq FROM assignments
            WHERE (scope = 'call' AND target = ?1) OR (scope = 'tenant' AND target = ?2)
            ORDER BY CASE scope WHEN 'tenant' THEN 0 ELSE 1 END, seq
            """
        ).bind(.text(call), .text(tenant))
        var result: [String: PolicyAssignment] = [:]
        while try statement.step() {
            let name = statement.text(0)
            result[name] = try PolicyAssignment(
                policy: name, version: statement.text(1), digest: statement.isNull(2) ? nil : statement.text(2),
                scope: statement.text(3), seq: statement.unsignedInteger(4))
        }
        return result
    }

    /// The holds on `call` that are not released.
    func activeHolds(call: String) throws(LedgerError) -> [String] {
        let statement = try database.statement(
            "SELECT hold FROM holds WHERE call = ?1 AND released_seq IS NULL ORDER BY hold"
        ).bind(.text(call))
        var holds: [String] = []
        while try statement.step() { holds.append(statement.text(0)) }
        return holds
    }

    /// The seq of the `retention.purged` event that last erased (call, class), or nil.
    func purgeSeq(call: String, dataClass: String) throws(LedgerError) -> UInt64? {
        let statement = try database.statement("SELECT seq FROM purges WHERE call = ?1 AND class = ?2")
            .bind(.text(call), .text(dataClass))
        return try statement.step() ? statement.unsignedInteger(0) : nil
    }

    /// The erasures of `call` (every call when nil), by call and class; with `uncompactedOnly`, only those no
    /// `retention.compacted` records yet.
    func purges(call: String?, uncompactedOnly: Bool = false) throws(LedgerError) -> [RetentionPurge] {
        let statement = try database.statement(
            """
            SELECT call, class, tenant, seq, purged_at, method, policy, compacted_seq, compacted_at FROM purges
            WHERE (?1 IS NULL OR call = ?1) AND (?2 = 0 OR compacted_seq IS NULL) ORDER BY call, class
            """
        ).bind(call.map { .text($0) } ?? .null, .integer(uncompactedOnly ? 1 : 0))
        var result: [RetentionPurge] = []
        while try statement.step() {
            result.append(
                try RetentionPurge(
                    call: statement.text(0), dataClass: statement.text(1), tenant: statement.text(2),
                    seq: statement.unsignedInteger(3), purgedAt: statement.integer(4), method: statement.text(5),
                    policy: statement.text(6), compactedSeq: statement.isNull(7) ? nil : statement.unsignedInteger(7),
                    compactedAt: statement.isNull(8) ? nil : statement.integer(8)))
        }
        return result
    }

    /// The digest the log last recorded for definition `name` of `projection`, or nil.
    func recordedDigest(projection: String, name: String) throws(LedgerError) -> String? {
        let statement = try database.statement(
            "SELECT digest FROM definitions WHERE projection = ?1 AND name = ?2"
        ).bind(.text(projection), .text(name))
        return try statement.step() && !statement.isNull(0) ? statement.text(0) : nil
    }
}

/// One erasure of a (call, data class) as the retention projection records it.
public struct RetentionPurge: Sendable, Equatable {
    /// The call.
    public var call: String
    /// The data class.
    public var dataClass: String
    /// The call's tenant.
    public var tenant: String
    /// The `retention.purged` event.
    public var seq: UInt64
    /// When the ledger accepted it (UTC µs).
    public var purgedAt: Int64
    /// `crypto-shred` or `zero-retention`.
    public var method: String
    /// The policy that erased it.
    public var policy: String
    /// The `retention.compacted` event that recorded its ciphertext gone from the segments, if any yet.
    public var compactedSeq: UInt64?
    /// When the ledger accepted that event (UTC µs).
    public var compactedAt: Int64?
}

/// A policy assigned to a call, directly or through its tenant.
public struct PolicyAssignment: Sendable, Equatable {
    /// The policy's name.
    public var policy: String
    /// The version assigned.
    public var version: String
    /// The file digest assigned (hex), if recorded.
    public var digest: String?
    /// `call` or `tenant`.
    public var scope: String
    /// The assigning event.
    public var seq: UInt64
}

/// The attributes of a call as the retention projection stores them: a JSON object of strings.
package enum RetentionAttributes {
    /// The attributes of `json`, or none when it does not parse or a value is not a string. Read with the
    /// ledger's own JSON tape: `JSONSerialization` builds Foundation objects for every member and was a tenth of
    /// a retention plan's CPU, on the workers.
    package static func parse(_ json: String) -> [String: String] {
        var text = json
        return text.withUTF8 { bytes in
            var tape = JSONTape()
            do { try tape.parse(UnsafeRawBufferPointer(bytes)) } catch { return [:] }
            guard let root = tape.tokens.first, root.kind == .object else { return [:] }
            var attributes: [String: String] = [:]
            var index = 1
            for _ in 0..<root.count {
                let value = tape[index + 1]
                guard value.kind == .string else { return [:] }
                attributes[tape.string(at: index)] = tape.string(at: index + 1)
                index = Int(value.next)
            }
            return attributes
        }
    }
}
