// LedgerReplicaFiles: what a copy of a ledger kept elsewhere (the cluster's replicas) needs from its files: the
// wrapped data keys of keys.sqlite read out and stored back, and a ledger directory laid out again from copied
// files before its writer first opens it.
import Glibc
import LedgerCore

/// One row of `keys.sqlite`'s `data_keys`: a data key wrapped with the master key (FORMAT.md §8). Useless without
/// the key file.
public struct WrappedDataKey: Sendable, Equatable, Hashable, Codable {
    /// The call.
    public var call: String
    /// The data class.
    public var dataClass: String
    /// `nonce || AES-256-GCM(master key, data key) || tag`.
    public var wrapped: [UInt8]

    /// A wrapped key of (call, class).
    public init(call: String, dataClass: String, wrapped: [UInt8]) {
        self.call = call
        self.dataClass = dataClass
        self.wrapped = wrapped
    }
}

/// Reading and laying out the files a ledger replica holds.
public enum LedgerReplicaFiles {
    /// Every wrapped data key the ledger in `directory` holds now (read-only; a writer may be running).
    public static func wrappedKeys(directory: String) throws(LedgerError) -> [WrappedDataKey] {
        let layout = LedgerLayout(directory: directory)
        let database = try SQLiteDatabase.openForReading(path: layout.keys)
        let statement = try database.statement("SELECT call, class, wrapped FROM data_keys ORDER BY call, class")
        defer { statement.rewind() }
        var keys: [WrappedDataKey] = []
        while try statement.step() {
            keys.append(
                WrappedDataKey(call: statement.text(0), dataClass: statement.text(1), wrapped: statement.blob(2)))
        }
        return keys
    }

    /// Creates the empty directories of a ledger at `directory` (which must be absent or empty) for files copied
    /// from a replica, then writes `ledger.json` and `verifier.key` as copied.
    public static func layOut(
        directory: String, configuration: [UInt8], verifierKey: [UInt8]
    ) throws(LedgerError) -> LedgerLayout {
        let layout = LedgerLayout(directory: directory)
        if FileSystem.isDirectory(directory) {
            guard try FileSystem.contents(of: directory).isEmpty else { throw .directoryNotEmpty(path: directory) }
        }
        for path in [directory, layout.segments, layout.tree, layout.checkpoints] {
            try FileSystem.createDirectory(path)
        }
        try FileSystem.writeAtomically(configuration, to: layout.configuration)
        try FileSystem.writeAtomically(verifierKey, to: layout.verifierKey)
        _ = try LedgerConfiguration.load(layout)
        return layout
    }

    /// Writes a copied file durably at `relativePath` inside the ledger (e.g. `segments/….zst`).
    public static func write(_ bytes: [UInt8], relativePath: String, in layout: LedgerLayout) throws(LedgerError) {
        try FileSystem.writeAtomically(bytes, to: FileSystem.join(layout.directory, relativePath))
    }

    /// Stores wrapped data keys in the ledger's `keys.sqlite` (created if absent); the key file at `keyFilePath`
    /// (default `DIR.key`) must be the ledger's: every key is unwrapped once to check it.
    public static func storeWrappedKeys(
        _ keys: [WrappedDataKey], layout: LedgerLayout, keyFilePath: String?
    ) throws(LedgerError) {
        let keyFile = try KeyFile.load(from: keyFilePath ?? layout.defaultKeyFile)
        let store = try KeyStore(path: layout.keys, masterKey: keyFile.masterKey)
        try store.insert(keys.map { ($0.call, $0.dataClass, $0.wrapped) })
        for key in keys { _ = try store.key(call: key.call, dataClass: key.dataClass) }
    }

    /// The whole file at `path`.
    public static func readWhole(_ path: String) throws(LedgerError) -> [UInt8] {
        try FileSystem.read(path)
    }

    /// The bytes of `path` from `offset`, `count` of them (fewer at the end of the file).
    public static func read(_ path: String, offset: Int, count: Int) throws(LedgerError) -> [UInt8] {
        try POSIXFile(path: path, flags: O_RDONLY).read(count: count, at: offset)
    }

    /// The size in bytes of the file at `path`, nil when it cannot be read.
    public static func size(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(exactly: info.st_size)
    }

    /// The last modification time of the file at `path` (`st_mtim`), nanoseconds since 1970, nil when it cannot be
    /// read. Any write into a segment (appending, or compaction overwriting slots or frames in place) changes it.
    public static func modificationTime(_ path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let (seconds, overflow) = Int64(info.st_mtim.tv_sec).multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return nil }
        return seconds.addingReportingOverflow(Int64(info.st_mtim.tv_nsec)).overflow
            ? nil : seconds + Int64(info.st_mtim.tv_nsec)
    }
}
