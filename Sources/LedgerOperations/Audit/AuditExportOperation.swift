// audit export: one verifiable file with a call's events, their proofs and its redaction proof, written
// atomically and owner-only (it holds data keys and plaintext).
import Foundation
public import LedgerStore

/// Exports what the ledger holds of a call as an audit bundle file.
public struct AuditExportOperation: Sendable {
    /// The ledger (its key file is needed).
    public var ledger: LedgerLocation
    /// The call.
    public var call: String
    /// Only the events known then (all when nil).
    public var asOf: PointInTime?
    /// Open only these data classes (default: every class whose data key still exists).
    public var open: Set<String>?
    /// The bundle file to write.
    public var output: String

    /// The export of `call` as of `asOf`, opening `open`, to `output`.
    public init(ledger: LedgerLocation, call: String, asOf: PointInTime?, open: Set<String>?, output: String) {
        self.ledger = ledger
        self.call = call
        self.asOf = asOf
        self.open = open
        self.output = output
    }

    /// Checks that `output` can be written before any work, builds the bundle, writes it (mode 0600) and returns
    /// it.
    public func run() throws(LedgerError) -> AuditBundle {
        try Self.checkWritable(output)
        let bundle = try build()
        let bytes = try bundle.json()
        try FileSystem.writeAtomically(bytes, to: output, mode: 0o600)
        return bundle
    }

    /// The bundle, built but not written (the service answers with it; `output` is not used).
    public func build() throws(LedgerError) -> AuditBundle {
        let reader = try ledger.reader()
        return try reader.auditBundle(call: call, bound: try asOf?.seqBound(reader), open: open)
    }

    /// Fails when `path` cannot be written: a directory, or in a missing or read-only one.
    public static func checkWritable(_ path: String) throws(LedgerError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw .invalidRequest("-o \(path) is a directory; name the bundle file to write")
        }
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw .invalidRequest("-o \(path): the directory \(parent) does not exist")
        }
        guard access(parent, W_OK) == 0 else {
            throw .invalidRequest("-o \(path): the directory \(parent) is not writable")
        }
    }
}
