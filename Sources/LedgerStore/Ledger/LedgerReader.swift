// Read access to a ledger: events as JSON (sealed parts opened where keys allow), statistics, and the
// checkpoints. Readers never block the writer and never write to the ledger.
public import LedgerCore

/// Counts and sizes of a ledger.
public struct LedgerStatistics: Sendable, Codable, Equatable {
    /// Events in the log.
    public var events: UInt64
    /// Distinct calls.
    public var calls: Int
    /// Segment files.
    public var segments: Int
    /// Frames (commit batches).
    public var frames: Int
    /// Bytes of interchange JSON the events arrived as.
    public var inputBytes: Int
    /// Bytes of the binary records (decompressed frames).
    public var recordBytes: Int
    /// Bytes of the segment files on disk.
    public var storedBytes: Int
    /// `inputBytes / storedBytes`.
    public var compressionRatio: Double
    /// Signed checkpoints.
    public var checkpoints: Int
    /// Size of the latest checkpoint.
    public var latestCheckpointSize: UInt64?
    /// Bytes of the stored Merkle tree.
    public var treeBytes: Int

    enum CodingKeys: String, CodingKey {
        case events, calls, segments, frames, checkpoints
        case inputBytes = "input_bytes"
        case recordBytes = "record_bytes"
        case storedBytes = "stored_bytes"
        case compressionRatio = "compression_ratio"
        case latestCheckpointSize = "latest_checkpoint_size"
        case treeBytes = "tree_bytes"
    }
}

/// Which events `events(…)` returns.
public struct EventSelection: Sendable {
    /// Only this call's events.
    public var call: String?
    /// First seq (inclusive).
    public var from: UInt64 = 0
    /// Last seq (inclusive).
    public var to: UInt64 = .max
    /// Only events accepted at or before this time (UTC µs).
    public var asOfTime: Int64?

    /// All events.
    public init(call: String? = nil, from: UInt64 = 0, to: UInt64 = .max, asOfTime: Int64? = nil) {
        self.call = call
        self.from = from
        self.to = to
        self.asOfTime = asOfTime
    }
}

/// A read-only view of a ledger. Opening it never writes to the ledger and never takes the writer's lock: frames
/// the index lacks (a writer stopped before indexing them, or is writing) are read from the log into memory, and
/// reading stops before a torn last frame, which only a writer's recovery cuts (FORMAT.md §2).
public final class LedgerReader: RecordSource {
    /// The ledger's layout.
    public let layout: LedgerLayout
    /// What follows the last frame this reader could read, if anything does: a torn write (the log ends before
    /// it) or, when opened with `allowingCorruptTail`, corruption.
    public var tail: LogTail? { storage.tail }
    let storage: LedgerStorage
    /// The key file this reader was opened with, and whether it had to exist, for `reopened()`.
    private let keyFileRequest: (path: String?, required: Bool)
    /// The part opener, once the first read that needs it loaded the key file (`opener()`).
    private var loadedOpener: SealedPartOpener?
    /// The checkpoint signer of the key file, when there is one, loaded with the opener.
    private var loadedSigner: NoteSignerKey?

    /// Opens the ledger in `directory`. Sealed parts are opened with the key file at `keyFilePath`
    /// (default `<directory>.key`) when it exists; without it they are shown as locked. A log that ends in
    /// corruption (a frame that cannot be read and is not a torn write) is an error naming the segment, offset and
    /// first seq, unless `allowingCorruptTail` (for `verify`, which reports it).
    public init(
        directory: String, keyFilePath: String? = nil, requireKeys: Bool = false, allowingCorruptTail: Bool = false
    ) throws(LedgerError) {
        layout = LedgerLayout(directory: directory)
        keyFileRequest = (keyFilePath, requireKeys)
        storage = try LedgerStorage(layout: layout, writable: false)
        if let tail = storage.tail, !tail.torn, !allowingCorruptTail {
            throw .corrupt(segment: tail.segment, offset: tail.offset, seq: tail.seq, reason: tail.reason)
        }
        if requireKeys { _ = try opener() }
    }

    /// The part opener with the key file's keys, loaded on first use: reads that open no sealed part (`calls`,
    /// proofs, checkpoints) never read the key file, open the key store or start OpenSSL's key handling (2.2 ms of
    /// a `call-ledger calls` process). A reader opened with `requireKeys` loads it when it opens.
    private func opener() throws(LedgerError) -> SealedPartOpener {
        if let loadedOpener { return loadedOpener }
        let keyPath = keyFileRequest.path ?? layout.defaultKeyFile
        var store: KeyStore?
        if FileSystem.exists(keyPath) || keyFileRequest.required {
            let keyFile = try KeyFile.load(from: keyPath)
            store = try KeyStore(path: layout.keys, masterKey: keyFile.masterKey, readOnly: true)
            loadedSigner = keyFile.signer
        }
        let opener = try SealedPartOpener(keys: store)
        loadedOpener = opener
        return opener
    }

    /// The checkpoint signer of the key file, when there is one.
    func checkpointSigner() throws(LedgerError) -> NoteSignerKey? {
        _ = try opener()
        return loadedSigner
    }

    /// Another reader of the same ledger with the same key file: readers are not shared between threads, so a
    /// worker thread opens its own.
    public func reopened() throws(LedgerError) -> LedgerReader {
        try LedgerReader(
            directory: layout.directory, keyFilePath: keyFileRequest.path, requireKeys: keyFileRequest.required)
    }

    /// Events in the log.
    public var size: UInt64 { storage.size }

    /// The ledger's settings (`ledger.json`).
    public var configuration: LedgerConfiguration { storage.configuration }

    /// The ledger's checkpoint verifier key.
    public var verifierKey: NoteVerifierKey { storage.verifierKey }

    /// The seq bound for `--as-of TIME`: events accepted at or before `time` have seq below it.
    public func sizeAsOf(time: Int64) throws(LedgerError) -> UInt64 {
        var bound: UInt64 = 0
        let candidate = try storage.index.size(asOfTime: time)
        guard let frame = candidate.frame else { return 0 }
        try storage.forEachRecord(in: frame.firstSeq..<frame.firstSeq + UInt64(frame.count)) { record in
            if record.time <= time { bound = record.seq + 1 }
        }
        return bound
    }

    /// Renders the selected events as JSON lines, calling `body` with each line (without newline).
    public func events(_ selection: EventSelection, _ body: ([UInt8]) throws(LedgerError) -> Void) throws(LedgerError) {
        var upper = min(selection.to, storage.size == 0 ? 0 : storage.size - 1)
        if let time = selection.asOfTime {
            let bound = try sizeAsOf(time: time)
            guard bound > 0 else { return }
            upper = min(upper, bound - 1)
        }
        guard storage.size > 0, selection.from <= upper else { return }
        let range = selection.from..<upper + 1
        let frames: [FrameLocation]
        if let call = selection.call {
            frames = try storage.index.frames(ofCall: call).filter {
                $0.firstSeq < range.upperBound && $0.firstSeq + UInt64($0.count) > range.lowerBound
            }
        } else {
            frames = try storage.index.frames(overlapping: range)
        }
        var content: [UInt8] = []
        var line: [UInt8] = []
        var served = 0
        let callBytes = selection.call.map { Array($0.utf8) }
        for frame in frames {
            try storage.forEachRecord(inFrame: frame, content: &content) { record throws(LedgerError) in
                guard range.contains(record.seq) else { return }
                if let callBytes,
                    !UnsafeRawBufferPointer(rebasing: record.bytes[record.callRange]).elementsEqual(callBytes)
                {
                    return
                }
                served += 1
                line.removeAll(keepingCapacity: true)
                try render(record, into: &line)
                try body(line)
            }
        }
        // A whole call read through call_frames must have as many events as the index counts for it: a damaged
        // index is never served as a silently shorter call.
        if let call = selection.call, range == 0..<storage.size, let counted = try storage.index.eventCount(call: call),
            counted.lastSeq < storage.size, counted.events != served
        {
            throw .invalidRequest(
                "index.sqlite is damaged: its frames of call \(call) hold \(served) of the \(counted.events) events it "
                    + "counts; run `call-ledger verify`, then `call-ledger reindex` to rebuild it from the log")
        }
    }

    /// Renders one record, opening each sealed part it can.
    func render(_ record: RecordView, into line: inout [UInt8]) throws(LedgerError) {
        let contents = try openParts(of: record)
        do {
            try EventRenderer.render(record, parts: contents, into: &line)
        } catch {
            throw .invalidRequest("seq \(record.seq) cannot be rendered: \(error)")
        }
    }

    /// What is known of each sealed part of `record` (a record of this ledger, possibly a copy held
    /// elsewhere): opened with this reader's keys where they allow, reading earlier parts from the log when a
    /// part is stored as a delta of one.
    public func openParts(of record: RecordView) throws(LedgerError) -> [EventRenderer.PartContent] {
        try opener().open(record, lookup: storage)
    }

    /// Like `openParts(of:)`, looking for the earlier parts delta parts refer to in `lookup` first.
    public func openParts(
        of record: RecordView, lookup: some RecordSource
    ) throws(LedgerError)
        -> [EventRenderer.PartContent]
    {
        try opener().open(record, lookup: FallbackSource(first: lookup, then: storage))
    }

    /// The data key of (call, class) with this reader's key file: nil when there is no key file, or the key was
    /// destroyed or never made.
    func dataKey(call: String, dataClass: String) throws(LedgerError) -> SymmetricKey? {
        try opener().dataKey(call: call, dataClass: dataClass)
    }

    /// The data classes that still have a data key, by call: what crypto-shredding can still erase. Needs no key
    /// file: the key store's rows name their call and class in clear (never anything personal).
    public func keyedClasses() throws(LedgerError) -> [String: [String]] {
        guard FileSystem.exists(layout.keys) else { return [:] }
        let database = try SQLiteDatabase.openForReading(path: layout.keys)
        let statement = try database.statement("SELECT call, class FROM data_keys ORDER BY call, class")
        var result: [String: [String]] = [:]
        while try statement.step() { result[statement.text(0), default: []].append(statement.text(1)) }
        return result
    }

    /// A lookup of the data classes one call still has keys for, on a key-store connection of its own (open one
    /// per thread) that reads one snapshot of the key store for as long as the lookup lives: each lookup reads
    /// that call's rows only, so the cost follows the calls asked about, not the ledger.
    public func keyedClassLookup() throws(LedgerError) -> KeyedClassLookup {
        guard FileSystem.exists(layout.keys) else { return KeyedClassLookup(database: nil) }
        let database = try SQLiteDatabase.openForReading(path: layout.keys)
        try database.beginReading()
        return KeyedClassLookup(database: database)
    }

    /// Calls `body` with the record at `seq`, if the log holds it.
    public func withRecord(seq: UInt64, _ body: (RecordView) throws(LedgerError) -> Void) throws(LedgerError) {
        try storage.withRecord(seq: seq, body)
    }

    /// Counts and sizes.
    public func statistics() throws(LedgerError) -> LedgerStatistics {
        let database = storage.index.database
        let sums = try database.statement(
            "SELECT count(*), coalesce(sum(input_bytes),0), coalesce(sum(content_bytes),0), coalesce(sum(stored_bytes),0) FROM frames"
        )
        _ = try sums.step()
        let calls = try database.statement("SELECT count(*) FROM calls")
        _ = try calls.step()
        let checkpoints = try database.statement("SELECT count(*), max(tree_size) FROM checkpoints")
        _ = try checkpoints.step()
        let segments = try storage.segmentFirstSeqs()
        var stored = 0
        for segment in segments {
            stored += try POSIXFile(path: layout.segmentPath(firstSeq: segment), flags: O_RDONLY).size()
        }
        var treeBytes = 0
        for name in try FileSystem.contents(of: layout.tree) where name.hasSuffix(".hashes") {
            treeBytes += try POSIXFile(path: FileSystem.join(layout.tree, name), flags: O_RDONLY).size()
        }
        let input = Int(sums.integer(1))
        return LedgerStatistics(
            events: storage.size, calls: Int(calls.integer(0)), segments: segments.count, frames: Int(sums.integer(0)),
            inputBytes: input, recordBytes: Int(sums.integer(2)), storedBytes: stored,
            compressionRatio: stored > 0 ? Double(input) / Double(stored) : 0,
            checkpoints: Int(checkpoints.integer(0)),
            latestCheckpointSize: checkpoints.isNull(1) ? nil : UInt64(exactly: checkpoints.integer(1)),
            treeBytes: treeBytes)
    }

    /// Every stored checkpoint, by tree size: the signed notes in `checkpoints/` (never the index's copy of
    /// them), each checked with the verifier key.
    public func checkpoints() throws(LedgerError) -> [(checkpoint: Checkpoint, note: String)] {
        try checkpoints(named: nil)
    }

    /// The signed checkpoint of the largest tree, verified: read from the one file named for that size when every
    /// note is named for its size (as the writer names them), so a proof costs the same however many checkpoints
    /// the ledger holds; else from all of them, as `checkpoints()` reads them.
    public func latestCheckpoint() throws(LedgerError) -> (checkpoint: Checkpoint, note: String)? {
        guard FileSystem.isDirectory(layout.checkpoints) else { return nil }
        var latest: (size: UInt64, name: String)?
        for name in try FileSystem.contents(of: layout.checkpoints) where name.hasSuffix(".note") {
            guard name.count == 25, let size = UInt64(name.prefix(20)) else { return try checkpoints().last }
            if size >= latest?.size ?? 0 { latest = (size, name) }
        }
        guard let latest else { return nil }
        let found = try checkpoints(named: [latest.name]).last
        guard let found, found.checkpoint.treeSize == latest.size else { return try checkpoints().last }
        return found
    }

    /// The verified checkpoints of the notes named `names` (every note when nil), by tree size.
    private func checkpoints(named names: [String]?) throws(LedgerError) -> [(checkpoint: Checkpoint, note: String)] {
        guard FileSystem.isDirectory(layout.checkpoints) else { return [] }
        var result: [(checkpoint: Checkpoint, note: String)] = []
        var listed = names ?? []
        if names == nil { listed = try FileSystem.contents(of: layout.checkpoints) }
        for name in listed where name.hasSuffix(".note") {
            let note = String(decoding: try FileSystem.read(FileSystem.join(layout.checkpoints, name)), as: UTF8.self)
            do {
                result.append((try Checkpoint.open(note: note, verifier: storage.verifierKey), note))
            } catch {
                throw .invalidRequest("checkpoints/\(name) does not verify: \(error); run `call-ledger verify`")
            }
        }
        return result.sorted { $0.checkpoint.treeSize < $1.checkpoint.treeSize }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The data classes a call still has keys for, read from the key store by one thread at a time (see
/// `LedgerReader.keyedClassLookup()`).
public final class KeyedClassLookup {
    /// The key store; nil when the ledger has none (no call has a key).
    private let database: SQLiteDatabase?

    init(database: SQLiteDatabase?) {
        self.database = database
    }

    /// The classes `call` has a data key for, sorted; empty when it has none.
    public func classes(of call: String) throws(LedgerError) -> [String] {
        guard let database else { return [] }
        let statement = try database.statement("SELECT class FROM data_keys WHERE call = ?1 ORDER BY class")
            .bind(.text(call))
        defer { statement.rewind() }
        var classes: [String] = []
        while try statement.step() { classes.append(statement.text(0)) }
        return classes
    }
}
