// The errors LedgerStore reports: each names what failed, where, and what to do about it.
import CSQLite
public import LedgerCore

/// A failure opening, appending to, reading or verifying a ledger.
public enum LedgerError: Error, CustomStringConvertible {
    /// A system call failed on `path`.
    case io(operation: String, path: String, errno: Int32)
    /// The directory is not a ledger (no `ledger.json`), or is one of an unsupported format.
    case notALedger(path: String, reason: String)
    /// `init` was pointed at a directory that is not empty.
    case directoryNotEmpty(path: String)
    /// Another process held the writer lock for all of the `waited` seconds.
    case locked(path: String, holder: String, waited: Double)
    /// The key file is missing, unreadable, too open, or malformed.
    case keyFile(path: String, reason: String)
    /// A stored byte sequence is corrupt: `segment` and `offset` locate it, `seq` is the first affected event.
    case corrupt(segment: String, offset: Int, seq: UInt64, reason: String)
    /// SQLite failed.
    case sqlite(path: String, code: Int32, message: String, sql: String)
    /// zstd failed.
    case zstd(operation: String, reason: String)
    /// A request that cannot be satisfied (unknown seq, missing checkpoint...).
    case invalidRequest(String)
    /// A cryptographic operation failed.
    case crypto(CryptoError)
    /// A data key could not be unwrapped with the master key.
    case keyUnwrapFailed(call: String, dataClass: String)
    /// An atomic batch of `events` events whose one frame could need `bytes` bytes of content, over `limit`.
    case batchTooLarge(events: Int, bytes: Int, limit: Int)

    /// A message a person can act on.
    public var description: String {
        switch self {
        case .io(let operation, let path, let errno):
            "\(operation) \(path): \(String(cString: strerror(errno)))"
        case .notALedger(let path, let reason):
            "\(path) is not a CallLedger ledger: \(reason)"
        case .directoryNotEmpty(let path):
            "\(path) is not empty; init needs a new or empty directory"
        case .locked(let path, let holder, let waited):
            "\(path) is locked by another writer (\(holder))"
                + (waited > 0 ? ", still after waiting \(Int(exactly: waited).map(String.init) ?? "\(waited)") s" : "")
                + "; "
                + "only one writer may change the ledger at a time: retry when it is done, or wait longer with "
                + "--wait SECONDS"
        case .keyFile(let path, let reason):
            "key file \(path): \(reason)"
        case .corrupt(let segment, let offset, let seq, let reason):
            "corruption in segment \(segment) at byte offset \(offset) (first affected seq \(seq)): \(reason)"
        case .sqlite(let path, let code, let message, let sql):
            "SQLite error \(code) (\(String(cString: sqlite3_errstr(code)))) on \(path): \(message)"
                + "\(sql.isEmpty ? "" : " (in: \(sql))"); \(Self.sqliteAdvice(path: path, code: code))"
        case .zstd(let operation, let reason):
            "zstd \(operation) failed: \(reason)"
        case .invalidRequest(let reason):
            reason
        case .crypto(let error):
            error.description
        case .keyUnwrapFailed(let call, let dataClass):
            "the data key for class \(dataClass) of call \(call) does not unwrap with this master key (wrong key file?)"
        case .batchTooLarge(let events, let bytes, let limit):
            "the atomic batch of \(events) events needs up to \(bytes) bytes of frame content, over the \(limit) bytes "
                + "readers accept in one frame; nothing was appended: split the batch into smaller atomic batches "
                + "(or append without --atomic)"
        }
    }
}

extension LedgerError {
    /// What to do about SQLite error `code` on the database at `path`: depends on the kind of failure and on
    /// whether the file is derived (the index, a projection: rebuilt from the log) or holds the data keys.
    static func sqliteAdvice(path: String, code: Int32) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let derived: String
        if name.hasPrefix("index.sqlite") {
            derived = "index.sqlite is derived from the log: delete it and run `call-ledger reindex`"
        } else if path.contains("/projections/") {
            derived = "projection state is derived from the log: delete it and run `call-ledger rebuild`"
        } else if name.hasPrefix("keys.sqlite") {
            derived = "keys.sqlite holds the data keys and cannot be rebuilt: restore it from a backup"
        } else {
            derived = "restore the file from a backup"
        }
        switch code & 0xFF {
        case SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_PERM, SQLITE_AUTH:
            return "the file or its directory cannot be opened or written (a read-only mount or copy, missing "
                + "permissions, or a missing file): read commands work on a read-only ledger; commands that write "
                + "need the ledger on writable storage"
        case SQLITE_FULL:
            return "the disk is full: free space on the ledger's file system, then retry"
        case SQLITE_IOERR:
            return "the file system reported an I/O error (disk full, failing or unmounted): check it, then retry"
        case SQLITE_BUSY, SQLITE_LOCKED:
            return "another process holds the database: retry once it is done"
        case SQLITE_CORRUPT, SQLITE_NOTADB:
            return "the file is damaged: \(derived)"
        default:
            return "if it persists, \(derived)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
