// The CRM projection's fold and state: per CRM record (object, external-id field, external id) every
// `crm.write` the log holds, with a byte-exact copy of the event so the values written (sealed as `crm.values`)
// are opened only when a plan reads them, and read as unavailable once their key is erased; and the records whose
// last `crm.write.started` no outcome answers yet. The values a mapping produces are never stored: they hold
// personal data and are computed from the transcript when planning.
import Dispatch
import LedgerCore
import LedgerStore

/// The CRM projection's tables, in one generation of its state file.
struct CRMState {
    /// The projection's name.
    static let projection = "crm"
    /// The version of the fold and of this schema; a state of another version is rebuilt.
    static let version: Int64 = 2
    /// The tables.
    static let schema = """
        CREATE TABLE writes(
            object TEXT NOT NULL, id_field TEXT NOT NULL, external_id TEXT NOT NULL, seq INTEGER NOT NULL,
            system TEXT NOT NULL, call TEXT NOT NULL, tenant TEXT NOT NULL, mapping TEXT NOT NULL,
            mapping_version TEXT NOT NULL, mapping_digest TEXT, status INTEGER NOT NULL, time INTEGER NOT NULL,
            copy BLOB NOT NULL, PRIMARY KEY(object, id_field, external_id, seq)) WITHOUT ROWID;
        CREATE INDEX writes_by_call ON writes(call, seq);
        CREATE TABLE unanswered(
            object TEXT NOT NULL, id_field TEXT NOT NULL, external_id TEXT NOT NULL, seq INTEGER NOT NULL,
            call TEXT NOT NULL, tenant TEXT NOT NULL, request_key TEXT NOT NULL, field_names TEXT NOT NULL,
            PRIMARY KEY(object, id_field, external_id)) WITHOUT ROWID;
        """

    let file: ProjectionStateFile
    var database: SQLiteDatabase { file.database }

    /// The copies of the writes to the record `key` names, oldest first, with their mapping digests.
    func writes(to key: CRMRecordKey) throws(LedgerError) -> [(copy: [UInt8], mappingDigest: String?)] {
        let statement = try database.statement(
            """
            SELECT copy, mapping_digest FROM writes WHERE object = ?1 AND id_field = ?2 AND external_id = ?3
            ORDER BY seq
            """
        ).bind(.text(key.object), .text(key.externalIdField), .text(key.externalId))
        var result: [([UInt8], String?)] = []
        while try statement.step() { result.append((statement.blob(0), statement.isNull(1) ? nil : statement.text(1))) }
        return result
    }

    /// The records whose last `crm.write.started` has no `crm.write` or `crm.write.failed` after it, with that
    /// event's seq, call and request key.
    func unanswered() throws(LedgerError) -> [CRMRecordKey: CRMUnansweredWrite] {
        let statement = try database.statement(
            "SELECT object, id_field, external_id, seq, call, tenant, request_key, field_names FROM unanswered")
        var result: [CRMRecordKey: CRMUnansweredWrite] = [:]
        while try statement.step() {
            let key = CRMRecordKey(
                object: statement.text(0), externalIdField: statement.text(1), externalId: statement.text(2))
            result[key] = try CRMUnansweredWrite(
                key: key, seq: statement.unsignedInteger(3), call: statement.text(4), tenant: statement.text(5),
                requestKey: statement.text(6), fieldNames: statement.text(7).split(separator: "\n").map(String.init))
        }
        return result
    }
}

/// A CRM write whose request was sent (or about to be) but whose outcome the log does not record: the apply
/// that sent it was killed in between.
public struct CRMUnansweredWrite: Sendable, Equatable, Encodable {
    /// The record.
    public var key: CRMRecordKey
    /// The seq of its `crm.write.started`.
    public var seq: UInt64
    /// The call.
    public var call: String
    /// The call's tenant.
    public var tenant: String
    /// The request key the write was sent under.
    public var requestKey: String
    /// The fields it wrote.
    public var fieldNames: [String]
}

/// A CRM record's identity: its object and the external id it is upserted by.
public struct CRMRecordKey: Sendable, Hashable, Codable {
    /// The object (`VoiceCall`).
    public var object: String
    /// The external-id field (`VendorCallKey`).
    public var externalIdField: String
    /// The external id's value.
    public var externalId: String

    /// The key of record `object` upserted by `externalIdField` = `externalId`.
    public init(object: String, externalIdField: String, externalId: String) {
        self.object = object
        self.externalIdField = externalIdField
        self.externalId = externalId
    }
}

/// Folds `crm.write`, `crm.write.failed` and `crm.write.started` records, in seq order, into a `CRMState`.
struct CRMFold: ProjectionFold {
    static let projection = CRMState.projection
    static let version = CRMState.version
    static let schema = CRMState.schema

    static func wants(_ record: RecordView) -> Bool {
        switch record.eventType {
        case .crmWrite?, .crmWriteFailed?, .crmWriteStarted?: true
        default: false
        }
    }

    private let state: CRMState
    private var calls: Set<String> = []
    private(set) var applyNanos: UInt64 = 0

    init(into file: ProjectionStateFile, restoring: Bool) {
        state = CRMState(file: file)
    }

    var callCount: Int { calls.count }

    mutating func apply(_ record: RecordView) throws(LedgerError) {
        guard let type = record.eventType, Self.wants(record) else { return }
        let body: EventValue
        do {
            body = try EventValue.body(of: record, parts: [], skipping: ["fields", "error", "record_id"])
        } catch {
            throw .invalidRequest("event \(record.seq) (\(type.rawValue)) cannot be folded into crm: \(error)")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        defer { applyNanos += DispatchTime.now().uptimeNanoseconds - start }
        let key: [SQLiteValue] = [
            .text(body["object"]?.string ?? ""), .text(body["external_id_field"]?.string ?? ""),
            .text(body["external_id"]?.string ?? ""),
        ]
        calls.insert(record.call)
        if type == .crmWriteStarted {
            try state.database.statement(
                """
                INSERT OR REPLACE INTO unanswered(
                    object, id_field, external_id, seq, call, tenant, request_key, field_names)
                VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                """
            ).bind(
                key + [
                    .integer(Int64(record.seq)), .text(record.call), .text(record.string(record.tenantRange)),
                    .text(body["request_key"]?.string ?? ""),
                    .text((body["field_names"]?.array ?? []).compactMap(\.string).joined(separator: "\n")),
                ]
            ).run()
            return
        }
        try state.database.statement(
            "DELETE FROM unanswered WHERE object = ?1 AND id_field = ?2 AND external_id = ?3"
        ).bind(key).run()
        guard type == .crmWrite else { return }
        let mapping = body["mapping"]
        try state.database.statement(
            """
            INSERT OR REPLACE INTO writes(
                object, id_field, external_id, seq, system, call, tenant, mapping, mapping_version, mapping_digest,
                status, time, copy)
            VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
            """
        ).bind(
            key + [
                .integer(Int64(record.seq)), .text(body["system"]?.string ?? ""), .text(record.call),
                .text(record.string(record.tenantRange)), .text(mapping?["name"]?.string ?? ""),
                .text(mapping?["version"]?.string ?? ""), mapping?["digest"]?.digestHex.map { .text($0) } ?? .null,
                .integer(body["status"]?.integer ?? 0), .integer(record.time), .blob(Array(record.bytes)),
            ]
        ).run()
    }

    mutating func finish(checkpoint seq: UInt64) throws(LedgerError) {
        try state.file.setCheckpoint(seq)
    }
}
