// The errors LedgerStore reports: each names what failed, where, and what to do about it.
public import LedgerCore

/// A failure opening, appending to, reading or verifying a ledger.
public enum LedgerError: Error, CustomStringConvertible {
    /// A system call failed on `path`.
    case io(operation: String, path: String, errno: Int32)
    /// The directory is not a ledger (no `ledger.json`), or is one of an unsupported format.
    case notALedger(path: String, reason: String)
    /// `init` was pointed at a directory that is not empty.
    case directoryNotEmpty(path: String)
    /// Another process holds the writer lock.
    case locked(path: String, holder: String)
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

    /// A message a person can act on.
    public var description: String {
        switch self {
        case .io(let operation, let path, let errno):
            "\(operation) \(path): \(String(cString: strerror(errno)))"
        case .notALedger(let path, let reason):
            "\(path) is not a CallLedger ledger: \(reason)"
        case .directoryNotEmpty(let path):
            "\(path) is not empty; init needs a new or empty directory"
        case .locked(let path, let holder):
            "\(path) is locked by another writer (\(holder)); wait for it to finish, only one writer may append at a time"
        case .keyFile(let path, let reason):
            "key file \(path): \(reason)"
        case .corrupt(let segment, let offset, let seq, let reason):
            "corruption in segment \(segment) at byte offset \(offset) (first affected seq \(seq)): \(reason)"
        case .sqlite(let path, let code, let message, let sql):
            "SQLite error \(code) on \(path): \(message)\(sql.isEmpty ? "" : " (in: \(sql))")"
        case .zstd(let operation, let reason):
            "zstd \(operation) failed: \(reason)"
        case .invalidRequest(let reason):
            reason
        case .crypto(let error):
            error.description
        case .keyUnwrapFailed(let call, let dataClass):
            "the data key for class \(dataClass) of call \(call) does not unwrap with this master key (wrong key file?)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
