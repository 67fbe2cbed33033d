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
        database = try SQLiteDatabase(path: path, readOnly: readOnly)
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
}
