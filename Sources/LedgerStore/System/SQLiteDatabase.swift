// A thin SQLite wrapper: one connection, prepared statements with typed binds and columns, transactions, and
// opening for reading on read-only media or a full disk (where SQLite cannot create a WAL database's -shm file).
import CSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One SQLite connection. Not thread-safe: confine each connection to one thread.
package final class SQLiteDatabase {
    package let path: String
    private let handle: OpaquePointer
    private var statements: [String: SQLiteStatement] = [:]
    /// A private copy this connection reads instead of `path` (removed when the connection closes).
    private let privateCopy: String?

    /// Opens (or creates, unless `readOnly`) the database at `path`.
    package convenience init(path: String, readOnly: Bool = false) throws(LedgerError) {
        let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        try self.init(path: path, location: path, flags: flags, privateCopy: nil)
    }

    /// SQLite configured for this process before its first connection: without memory statistics (see
    /// `call_ledger_sqlite3_disable_memory_statistics`); a setting of speed, not of results, so a refusal (SQLite
    /// already initialised) is ignored.
    private static let configured: Void = {
        _ = call_ledger_sqlite3_disable_memory_statistics()
    }()

    /// Opens `location` (a path or a `file:` URI) with `flags`, reporting errors against `path`.
    private init(path: String, location: String, flags: Int32, privateCopy: String?) throws(LedgerError) {
        Self.configured
        var db: OpaquePointer?
        let status = sqlite3_open_v2(location, &db, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard status == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(db)
            throw .sqlite(path: path, code: status, message: message, sql: "")
        }
        self.path = path
        self.handle = db
        self.privateCopy = privateCopy
        sqlite3_busy_timeout(db, 10_000)
    }

    /// Opens the existing database at `path` for reading only, never writing to its directory. Where SQLite
    /// cannot open it in place (a WAL database on read-only media or a full disk has no `-shm` file and cannot
    /// create one), it is opened as immutable when no `-wal` file holds changes, or else a private copy of the
    /// database and its `-wal` in the temporary directory is read.
    package static func openForReading(path: String) throws(LedgerError) -> SQLiteDatabase {
        let inPlace: LedgerError
        do {
            let database = try SQLiteDatabase(path: path, readOnly: true)
            try database.execute("SELECT count(*) FROM sqlite_master")
            return database
        } catch {
            inPlace = error
        }
        guard FileSystem.exists(path) else { throw inPlace }
        let wal = path + "-wal"
        let walBytes = FileSystem.exists(wal) ? (try? POSIXFile(path: wal, flags: O_RDONLY).size()) ?? 0 : 0
        if walBytes == 0 {
            let database = try SQLiteDatabase(
                path: path, location: "file:" + uriPath(path) + "?immutable=1",
                flags: SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, privateCopy: nil)
            try database.execute("SELECT count(*) FROM sqlite_master")
            return database
        }
        let directory = try FileSystem.temporaryDirectory(prefix: "call-ledger-sqlite")
        let copy = FileSystem.join(directory, "copy.sqlite")
        do {
            try FileSystem.copy(path, to: copy)
            try FileSystem.copy(wal, to: copy + "-wal")
            let database = try SQLiteDatabase(
                path: path, location: copy, flags: SQLITE_OPEN_READWRITE, privateCopy: directory)
            try database.execute("SELECT count(*) FROM sqlite_master")
            return database
        } catch {
            FileSystem.removeTree(directory)
            throw inPlace
        }
    }

    /// `path` escaped for the path part of a `file:` URI.
    private static func uriPath(_ path: String) -> String {
        var escaped = ""
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: "?"), UInt8(ascii: "#"), UInt8(ascii: "%"), 0..<0x20, 0x7F...:
                let hex = String(byte, radix: 16, uppercase: true)
                escaped += "%" + (hex.count == 1 ? "0" + hex : hex)
            default:
                escaped.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return escaped
    }

    /// A copy of this database in memory (for a reader that must add rows to a database it may not write).
    package func copyInMemory() throws(LedgerError) -> SQLiteDatabase {
        let memory = try SQLiteDatabase(
            path: path, location: ":memory:", flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, privateCopy: nil)
        guard let backup = sqlite3_backup_init(memory.handle, "main", handle, "main") else {
            throw memory.error(sqlite3_errcode(memory.handle), "backup of \(path) into memory")
        }
        let status = sqlite3_backup_step(backup, -1)
        sqlite3_backup_finish(backup)
        guard status == SQLITE_DONE else { throw error(status, "backup of \(path) into memory") }
        return memory
    }

    deinit {
        statements.removeAll()
        sqlite3_close(handle)
        if let privateCopy { FileSystem.removeTree(privateCopy) }
    }

    /// Runs one or more statements without results.
    package func execute(_ sql: String) throws(LedgerError) {
        var message: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &message)
        guard status == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? "error"
            sqlite3_free(message)
            throw .sqlite(path: path, code: status, message: text, sql: sql)
        }
    }

    /// Starts a read transaction that lasts until `endReading()`: the statements in between read one snapshot, and
    /// the connection takes its locks once instead of once per statement (per-statement locking checks the
    /// files and takes SQLite's process-wide lock table each time, which serialises connections that several
    /// threads of one process use side by side). The snapshot's pages are read through a memory map of the file
    /// (`mmap_size`) rather than copied in by `pread` into each connection's own page cache: a plan's workers each
    /// read the same pages (the workers' part of a 10,000-call retention plan: 156 instead of 183 ms on one worker,
    /// 107 instead of 132 ms on two). No file is mapped that SQLite could truncate under the map: the ledger's
    /// databases are never vacuumed (erasure overwrites freed pages in place, `secure_delete`), and the write-ahead
    /// log is read as before.
    package func beginReading() throws(LedgerError) {
        try execute("PRAGMA mmap_size = 1073741824; BEGIN DEFERRED; SELECT count(*) FROM sqlite_master;")
    }

    /// Ends the read transaction `beginReading()` started.
    package func endReading() throws(LedgerError) {
        try execute("COMMIT")
    }

    /// A cached prepared statement for `sql`, reset and with bindings cleared.
    package func statement(_ sql: String) throws(LedgerError) -> SQLiteStatement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        var raw: OpaquePointer?
        let status = sqlite3_prepare_v2(handle, sql, -1, &raw, nil)
        guard status == SQLITE_OK, let raw else { throw error(status, sql) }
        let statement = SQLiteStatement(raw, database: self, sql: sql)
        statements[sql] = statement
        return statement
    }

    /// Runs `body` inside `BEGIN IMMEDIATE` ... `COMMIT`, rolling back if it throws.
    package func transaction<R>(_ body: () throws(LedgerError) -> R) throws(LedgerError) -> R {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    func error(_ status: Int32, _ sql: String) -> LedgerError {
        .sqlite(path: path, code: status, message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }
}

/// A prepared statement owned by its database's cache.
package final class SQLiteStatement {
    private let handle: OpaquePointer
    private unowned let database: SQLiteDatabase
    private let sql: String

    fileprivate init(_ handle: OpaquePointer, database: SQLiteDatabase, sql: String) {
        self.handle = handle
        self.database = database
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    fileprivate func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    /// Resets the statement so it can run again with new bindings.
    package func rewind() {
        reset()
    }

    /// Binds values to `?1`, `?2`... in order.
    @discardableResult
    package func bind(_ values: SQLiteValue...) throws(LedgerError) -> SQLiteStatement {
        try bind(values)
    }

    /// Binds the values of an array to `?1`, `?2`... in order.
    @discardableResult
    package func bind(_ values: [SQLiteValue]) throws(LedgerError) -> SQLiteStatement {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch value {
            case .integer(let v): status = sqlite3_bind_int64(handle, index, v)
            case .text(let v):
                var copy = v
                status = copy.withUTF8 { buffer in
                    buffer.withMemoryRebound(to: CChar.self) {
                        call_ledger_sqlite3_bind_text_copy(handle, index, $0.baseAddress, Int32($0.count))
                    }
                }
            case .blob(let v):
                status = v.withUnsafeBytes {
                    call_ledger_sqlite3_bind_blob_copy(
                        handle, index, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32($0.count))
                }
            case .real(let v): status = sqlite3_bind_double(handle, index, v)
            case .null: status = sqlite3_bind_null(handle, index)
            }
            guard status == SQLITE_OK else { throw database.error(status, sql) }
        }
        return self
    }

    /// Steps once; true when a row is available.
    package func step() throws(LedgerError) -> Bool {
        let status = sqlite3_step(handle)
        switch status {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw database.error(status, sql)
        }
    }

    /// Steps to completion, for statements without results.
    package func run() throws(LedgerError) {
        while try step() {}
    }

    /// The integer in column `index` of the current row.
    package func integer(_ index: Int32) -> Int64 { sqlite3_column_int64(handle, index) }

    /// The integer in column `index` of the current row as a seq, size or count: a negative value (a damaged or
    /// edited file) is an error naming the file, the column and the statement, never a trap.
    package func unsignedInteger(_ index: Int32) throws(LedgerError) -> UInt64 {
        let value = sqlite3_column_int64(handle, index)
        guard value >= 0 else {
            throw .sqlite(
                path: database.path, code: SQLITE_MISMATCH,
                message: "column \(index) holds \(value) where a seq, size or count (0 or more) belongs: the file "
                    + "was damaged or edited",
                sql: sql)
        }
        return UInt64(value)
    }

    /// The floating-point number in column `index` of the current row.
    package func real(_ index: Int32) -> Double { sqlite3_column_double(handle, index) }

    /// Whether column `index` of the current row is NULL.
    package func isNull(_ index: Int32) -> Bool { sqlite3_column_type(handle, index) == SQLITE_NULL }

    /// The text in column `index` of the current row.
    package func text(_ index: Int32) -> String {
        guard let pointer = sqlite3_column_text(handle, index) else { return "" }
        return String(cString: pointer)
    }

    /// Appends the text in column `index` of the current row to `out`, the same bytes as `text(index).utf8`
    /// (up to the first NUL, invalid UTF-8 repaired) without making a string; false, appending nothing, when the
    /// column is NULL. A table of thousands of rows is written this way without a string per field.
    package func appendText(_ index: Int32, to out: inout [UInt8]) -> Bool {
        guard let pointer = sqlite3_column_text(handle, index) else { return false }
        let stored = UnsafeBufferPointer(start: pointer, count: Int(sqlite3_column_bytes(handle, index)))
        let text = UnsafeBufferPointer(rebasing: stored[..<(stored.firstIndex(of: 0) ?? stored.endIndex)])
        if text.allSatisfy({ $0 < 0x80 }) {
            out.append(contentsOf: text)
        } else {
            out.append(contentsOf: String(decoding: text, as: UTF8.self).utf8)
        }
        return true
    }

    /// The number of columns of a row.
    package var columnCount: Int32 { sqlite3_column_count(handle) }

    /// The storage class of column `index` of the current row (a floating-point value counts as text).
    package func columnKind(_ index: Int32) -> SQLiteColumnKind {
        switch sqlite3_column_type(handle, index) {
        case SQLITE_NULL: .null
        case SQLITE_INTEGER: .integer
        case SQLITE_BLOB: .blob
        default: .text
        }
    }

    /// The blob in column `index` of the current row.
    package func blob(_ index: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(handle, index))
        guard count > 0, let pointer = sqlite3_column_blob(handle, index) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }
}

/// What a column of a row holds.
package enum SQLiteColumnKind {
    case null, integer, text, blob
}

/// A value bound to a statement parameter.
package enum SQLiteValue {
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    case null
}
