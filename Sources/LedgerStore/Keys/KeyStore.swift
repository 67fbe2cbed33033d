// keys.sqlite: per-(call, class) data keys, wrapped with the master key, in a database with secure_delete on.
// WAL mode, so that the writer's key lookups never wait for its own key inserts being committed.
import LedgerCore

/// The data-key store. Not thread-safe: the writer uses one for lookups and one for inserts.
final class KeyStore {
    private let database: SQLiteDatabase
    private let masterKey: SymmetricKey
    private let cipher: AESGCM

    /// Opens (creating if needed) `keys.sqlite`.
    init(path: String, masterKey: SymmetricKey, readOnly: Bool = false) throws(LedgerError) {
        database = readOnly ? try SQLiteDatabase.openForReading(path: path) : try SQLiteDatabase(path: path)
        self.masterKey = masterKey
        do { cipher = try AESGCM() } catch { throw .crypto(error) }
        try database.execute("PRAGMA secure_delete = ON")
        if !readOnly {
            try database.execute(
                """
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = FULL;
                CREATE TABLE IF NOT EXISTS data_keys(
                    call TEXT NOT NULL, class TEXT NOT NULL, wrapped BLOB NOT NULL,
                    PRIMARY KEY(call, class)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS pending_purges(
                    call TEXT NOT NULL, tenant TEXT NOT NULL, policy TEXT NOT NULL, version TEXT NOT NULL,
                    digest TEXT NOT NULL,
                    classes TEXT NOT NULL, tree_size INTEGER NOT NULL, root TEXT NOT NULL, method TEXT NOT NULL,
                    PRIMARY KEY(call, policy, tree_size)) WITHOUT ROWID;
                """)
        }
    }

    /// The associated data that binds a wrapped key to its (call, class).
    static func wrappingContext(call: String, dataClass: String) -> [UInt8] {
        Array("call-ledger/data-key/v1".utf8) + [0] + Array(call.utf8) + [0] + Array(dataClass.utf8)
    }

    /// The wrapped form of `key` for (call, class): `nonce || AES-256-GCM(master, key) || tag`.
    func wrap(_ key: SymmetricKey, call: String, dataClass: String) throws(LedgerError) -> [UInt8] {
        do {
            return try cipher.seal(
                key.bytes, key: masterKey, associatedData: Self.wrappingContext(call: call, dataClass: dataClass))
        } catch { throw .crypto(error) }
    }

    /// The data key of (call, class), or nil if there is none (never created, or shredded).
    func key(call: String, dataClass: String) throws(LedgerError) -> SymmetricKey? {
        let statement = try database.statement("SELECT wrapped FROM data_keys WHERE call = ?1 AND class = ?2")
        try statement.bind(.text(call), .text(dataClass))
        // Reset once read: a statement left on a row pins this connection to the snapshot it read.
        defer { statement.rewind() }
        guard try statement.step() else { return nil }
        let wrapped = statement.blob(0)
        do {
            let bytes = try cipher.open(
                wrapped, key: masterKey, associatedData: Self.wrappingContext(call: call, dataClass: dataClass))
            return try SymmetricKey(bytes: bytes)
        } catch {
            throw .keyUnwrapFailed(call: call, dataClass: dataClass)
        }
    }

    /// Durably stores wrapped keys (one transaction, fsync'd) before any record sealed under them is written.
    func insert(_ keys: [(call: String, dataClass: String, wrapped: [UInt8])]) throws(LedgerError) {
        guard !keys.isEmpty else { return }
        try database.transaction { () throws(LedgerError) in
            let statement = try database.statement(
                "INSERT OR IGNORE INTO data_keys(call, class, wrapped) VALUES (?1, ?2, ?3)")
            for key in keys {
                try statement.bind(.text(key.call), .text(key.dataClass), .blob(key.wrapped))
                try statement.run()
                statement.rewind()
            }
        }
    }

    /// Destroys the data keys of every purge and journals the purges, in one transaction, then truncates the
    /// WAL so no copy of a destroyed key stays in it (secure_delete overwrites the freed pages).
    func shred(_ purges: [PendingPurge]) throws(LedgerError) {
        guard !purges.isEmpty else { return }
        try database.transaction { () throws(LedgerError) in
            let delete = try database.statement("DELETE FROM data_keys WHERE call = ?1 AND class = ?2")
            let journal = try database.statement(
                """
                INSERT OR REPLACE INTO pending_purges(
                    call, policy, version, digest, classes, tree_size, root, method, tenant)
                VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                """)
            for purge in purges {
                for dataClass in purge.classes {
                    try delete.bind(.text(purge.call), .text(dataClass)).run()
                    delete.rewind()
                }
                try journal.bind(
                    .text(purge.call), .text(purge.policy), .text(purge.policyVersion), .text(purge.policyDigest),
                    .text(purge.classes.joined(separator: "\n")), .integer(Int64(purge.treeSize)), .text(purge.root),
                    .text(purge.method), .text(purge.tenant)
                ).run()
                journal.rewind()
            }
        }
        try database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    /// Purges whose keys are destroyed but whose `retention.purged` event is not known to be appended.
    func pendingPurges() throws(LedgerError) -> [PendingPurge] {
        let statement = try database.statement(
            "SELECT call, policy, version, digest, classes, tree_size, root, method, tenant FROM pending_purges ORDER BY call, policy"
        )
        var result: [PendingPurge] = []
        while try statement.step() {
            result.append(
                try PendingPurge(
                    call: statement.text(0), tenant: statement.text(8),
                    classes: statement.text(4).split(separator: "\n").map(String.init),
                    policy: statement.text(1), policyVersion: statement.text(2), policyDigest: statement.text(3),
                    treeSize: statement.unsignedInteger(5), root: statement.text(6), method: statement.text(7)))
        }
        return result
    }

    /// Forgets journalled purges whose events are appended.
    func clearPendingPurges(_ purges: [PendingPurge]) throws(LedgerError) {
        try database.transaction { () throws(LedgerError) in
            let statement = try database.statement(
                "DELETE FROM pending_purges WHERE call = ?1 AND policy = ?2 AND tree_size = ?3")
            for purge in purges {
                try statement.bind(.text(purge.call), .text(purge.policy), .integer(Int64(purge.treeSize))).run()
                statement.rewind()
            }
        }
    }
}

/// An erasure of some data classes of a call under one policy: its keys are destroyed first, then its
/// `retention.purged` event is appended, so the log never claims an erasure that did not happen.
public struct PendingPurge: Sendable, Equatable {
    /// The call.
    public var call: String
    /// Its tenant.
    public var tenant: String
    /// The data classes erased.
    public var classes: [String]
    /// The policy's name.
    public var policy: String
    /// Its version.
    public var policyVersion: String
    /// Its file's SHA-256, hex.
    public var policyDigest: String
    /// The size of the checkpoint signed just before the erasure.
    public var treeSize: UInt64
    /// Its root hash, hex.
    public var root: String
    /// `crypto-shred` or `zero-retention`.
    public var method: String

    /// A purge of `classes` of `call` under a policy, after the checkpoint (`treeSize`, `root`).
    public init(
        call: String, tenant: String, classes: [String], policy: String, policyVersion: String, policyDigest: String,
        treeSize: UInt64,
        root: String, method: String
    ) {
        self.call = call
        self.tenant = tenant
        self.classes = classes
        self.policy = policy
        self.policyVersion = policyVersion
        self.policyDigest = policyDigest
        self.treeSize = treeSize
        self.root = root
        self.method = method
    }
}
