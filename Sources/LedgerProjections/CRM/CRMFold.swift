// The CRM projection's fold and state: per CRM record (object, external-id field, external id) every
// `crm.write` the log holds, with a byte-exact copy of the event so the values written (sealed as `crm.values`)
// are opened only when a plan reads them, and read as unavailable once their key is erased. The values a mapping
// produces are never stored: they hold personal data and are computed from the transcript when planning.
import Dispatch
import LedgerCore
import LedgerStore

/// The CRM projection's tables, in one generation of its state file.
struct CRMState {
    /// The projection's name.
    static let projection = "crm"
    /// The version of the fold and of this schema; a state of another version is rebuilt.
    static let version: Int64 = 1
    /// The tables.
    static let schema = """
        CREATE TABLE writes(
            object TEXT NOT NULL, id_field TEXT NOT NULL, external_id TEXT NOT NULL, seq INTEGER NOT NULL,
            system TEXT NOT NULL, call TEXT NOT NULL, tenant TEXT NOT NULL, mapping TEXT NOT NULL,
            mapping_version TEXT NOT NULL, mapping_digest TEXT, status INTEGER NOT NULL, time INTEGER NOT NULL,
            copy BLOB NOT NULL, PRIMARY KEY(object, id_field, external_id, seq)) WITHOUT ROWID;
        CREATE INDEX writes_by_call ON writes(call, seq);
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

/// Folds `crm.write` records, in seq order, into a `CRMState`.
struct CRMFold: ProjectionFold {
    static let projection = CRMState.projection
    static let version = CRMState.version
    static let schema = CRMState.schema

    static func wants(_ record: RecordView) -> Bool {
        record.eventType == .crmWrite
    }

    private let state: CRMState
    private var calls: Set<String> = []
    private(set) var applyNanos: UInt64 = 0

    init(into file: ProjectionStateFile, restoring: Bool) {
        state = CRMState(file: file)
    }

    var callCount: Int { calls.count }

    mutating func apply(_ record: RecordView) throws(LedgerError) {
        guard record.eventType == .crmWrite else { return }
        let body: EventValue
        do {
            body = try EventValue.body(
                of: record, parts: [], skipping: ["fields", "error", "record_id", "request_key"])
        } catch {
            throw .invalidRequest("event \(record.seq) (crm.write) cannot be folded into crm: \(error)")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        defer { applyNanos += DispatchTime.now().uptimeNanoseconds - start }
        let mapping = body["mapping"]
        try state.database.statement(
            """
            INSERT OR REPLACE INTO writes(
                object, id_field, external_id, seq, system, call, tenant, mapping, mapping_version, mapping_digest,
                status, time, copy)
            VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
            """
        ).bind(
            .text(body["object"]?.string ?? ""), .text(body["external_id_field"]?.string ?? ""),
            .text(body["external_id"]?.string ?? ""), .integer(Int64(record.seq)),
            .text(body["system"]?.string ?? ""), .text(record.call), .text(record.string(record.tenantRange)),
            .text(mapping?["name"]?.string ?? ""), .text(mapping?["version"]?.string ?? ""),
            mapping?["digest"]?.digestHex.map { .text($0) } ?? .null, .integer(body["status"]?.integer ?? 0),
            .integer(record.time), .blob(Array(record.bytes))
        ).run()
        calls.insert(record.call)
    }

    mutating func finish(checkpoint seq: UInt64) throws(LedgerError) {
        try state.file.setCheckpoint(seq)
    }
}
