// The single writer of a ledger: stages events (deduplicates, assigns seq and time, seals, encodes) and
// group-commits them (LedgerWriter+GroupCommit.swift): one zstd frame per batch, one fsync per group of the
// batches staged when a commit starts, acknowledging only what is durable.
import Foundation
public import LedgerCore

/// What happened to one submitted event.
public struct AppendResult: Sendable, Equatable {
    /// Whether the event was appended or recognised as already in the ledger.
    public enum Status: String, Sendable {
        /// Newly appended.
        case appended
        /// Its idempotency key was already in the ledger; nothing was appended.
        case duplicate
    }

    /// The event's seq (for a duplicate, the seq of the event already holding the key).
    public var seq: UInt64
    /// The idempotency key.
    public var idempotency: String
    /// Appended or duplicate.
    public var status: Status
}

/// Options for creating a ledger.
public struct LedgerCreationOptions: Sendable {
    /// Checkpoint origin (and signer name); defaults to `call-ledger/<random id>`.
    public var origin: String?
    /// Overrides of the default settings.
    public var segmentSizeLimit: Int?
    /// Events between automatic checkpoints.
    public var checkpointEveryEvents: Int?
    /// Seconds between automatic checkpoints.
    public var checkpointEverySeconds: Int?
    /// Largest accepted event.
    public var maximumEventBytes: Int?
    /// Most events per frame.
    public var maximumBatchEvents: Int?
    /// False to write sealed bytes inline in frames instead of in side-cars (FORMAT.md §2.1).
    public var sealedSideCar: Bool?
    /// False to store records in frames with their seqs and absolute times instead of compact (FORMAT.md §2.2).
    public var compactRecords: Bool?

    /// Default options.
    public init() {}
}

/// Appends to a ledger. Thread-safe: any number of threads may call `append`; concurrent appends share frames.
public final class LedgerWriter: @unchecked Sendable {
    /// The ledger's layout.
    public let layout: LedgerLayout
    /// Settings from `ledger.json`.
    public let configuration: LedgerConfiguration
    /// What recovery did when the ledger was opened.
    public let recovery: RecoveryReport
    /// What the check of the stored tree at open found (see `LedgerStorage.checkTree()`).
    let treeCheck: TreeCheckReport
    /// When the stored tree was damaged at open: what was wrong and from which tree size it was rewritten from
    /// the log.
    public var treeRepair: String? { treeCheck.repair }

    // Held for the writer's lifetime: the flock on LOCK.
    private let lockFile: POSIXFile
    private let keyFile: KeyFile

    // Staging state, guarded by `stagingLock`. Condition 0: a frame compressed ahead of its commit is ready.
    let stagingLock = ConditionLock()

    var staging: Staging

    // Commit state, guarded by `commitLock`.
    let commitLock = ConditionLock()
    let storage: LedgerStorage
    let keyWriter: KeyStore
    let compressor: ZstdCompressor
    let fingerprintSeal: FingerprintSeal
    var segment: ActiveSegment?
    var frontier: MerkleFrontier
    var commitsSinceTreeMark = 0
    private var lastCheckpoint: (size: UInt64, time: Int64)
    var failure: LedgerError?

    /// The number of events acknowledged durable.
    public var durableSize: UInt64 { stagingLock.withLock { staging.durableSize } }

    // MARK: - Creating and opening

    /// Creates a new ledger in `directory` (which must be new or empty) and its key file at `keyFilePath`
    /// (default: `<directory>.key`).
    @discardableResult
    public static func create(
        directory: String, keyFilePath: String? = nil, options: LedgerCreationOptions = .init()
    )
        throws(LedgerError) -> LedgerLayout
    {
        let layout = LedgerLayout(directory: directory)
        if FileSystem.isDirectory(directory) {
            guard try FileSystem.contents(of: directory).isEmpty else { throw .directoryNotEmpty(path: directory) }
        }
        let origin: String
        if let requested = options.origin {
            origin = requested
        } else {
            do { origin = "call-ledger/" + Hex.encode(try SecureRandom.bytes(8)) } catch { throw .crypto(error) }
        }
        let keys = try KeyFile.generate(origin: origin)
        try keys.create(at: keyFilePath ?? layout.defaultKeyFile)
        var configuration = LedgerConfiguration(origin: origin)
        if let value = options.segmentSizeLimit { configuration.segmentSizeLimit = value }
        if let value = options.checkpointEveryEvents { configuration.checkpointEveryEvents = value }
        if let value = options.checkpointEverySeconds { configuration.checkpointEverySeconds = value }
        if let value = options.maximumEventBytes { configuration.maximumEventBytes = value }
        if let value = options.maximumBatchEvents { configuration.maximumBatchEvents = value }
        if let value = options.sealedSideCar { configuration.sealedSideCar = value }
        if let value = options.compactRecords { configuration.compactRecords = value }
        for path in [directory, layout.segments, layout.tree, layout.checkpoints] {
            try FileSystem.createDirectory(path)
        }
        try FileSystem.writeAtomically(Array((keys.signer.verifierKey.description + "\n").utf8), to: layout.verifierKey)
        try configuration.save(layout)
        _ = try LedgerIndex(path: layout.index)
        _ = try KeyStore(path: layout.keys, masterKey: keys.masterKey)
        try FileSystem.syncDirectory(directory)
        return layout
    }

    /// Opens the ledger in `directory` for appending: takes the lock (waiting up to `lockWait` seconds while
    /// another writer holds it), recovers, loads the idempotency index.
    public init(directory: String, keyFilePath: String? = nil, lockWait: Double = 0) throws(LedgerError) {
        layout = LedgerLayout(directory: directory)
        _ = try LedgerConfiguration.load(layout)
        lockFile = try Self.takeLock(layout, wait: lockWait)
        keyFile = try KeyFile.load(from: keyFilePath ?? layout.defaultKeyFile)
        storage = try LedgerStorage(layout: layout, writable: true)
        configuration = storage.configuration
        guard keyFile.signer.verifierKey == storage.verifierKey else {
            throw .keyFile(
                path: keyFilePath ?? layout.defaultKeyFile,
                reason: "its signer does not match verifier.key of \(directory)")
        }
        let seal = FingerprintSeal(masterKey: keyFile.masterKey)
        storage.fingerprintSeal = seal
        recovery = try storage.recover()
        // Before the tree check, which reads the log through the index: a damaged index is rebuilt here.
        let fingerprints = try storage.idempotencyFingerprints(seal: seal)
        fingerprintSeal = seal
        keyWriter = try KeyStore(path: layout.keys, masterKey: keyFile.masterKey)
        do {
            compressor = try ZstdCompressor(level: Int32(configuration.compressionLevel), minimumMatch: 4)
        } catch {
            throw .zstd(operation: error.operation, reason: error.reason)
        }
        // The tree is derived: the frontier the writer signs roots of comes from checked leaves (TreeCheck.swift).
        treeCheck = try storage.checkTree()
        frontier = treeCheck.frontier
        let lastTime = try storage.index.lastFrame()?.lastTime ?? 0
        staging = try Staging(
            storage: storage, keys: try KeyStore(path: layout.keys, masterKey: keyFile.masterKey),
            batchLimit: configuration.maximumBatchEvents, lastTime: lastTime, fingerprints: fingerprints)
        lastCheckpoint = (0, 0)
        lastCheckpoint = try latestCheckpoint()
        segment = try ActiveSegment.resume(layout: layout, storage: storage)
    }

    /// Takes the writer lock (`flock` on `LOCK`, which then holds "pid N"), retrying every 20 ms for up to
    /// `wait` seconds while another writer holds it. Readers never take it.
    static func takeLock(_ layout: LedgerLayout, wait: Double = 0) throws(LedgerError) -> POSIXFile {
        let file: POSIXFile
        do { file = try POSIXFile(path: layout.lock, flags: O_RDWR | O_CREAT) } catch {
            guard case .io(_, _, let code) = error, code == EROFS || code == EACCES || code == EPERM else {
                throw error
            }
            throw .invalidRequest(
                "\(layout.directory) cannot be written (\(String(cString: strerror(code)))): commands that write need "
                    + "the ledger on writable storage; read commands (cat, stats, calls, verify, prove, ...) work on "
                    + "it as it is")
        }
        let deadline = Date().addingTimeInterval(max(0, wait))
        while try !file.tryLockExclusive() {
            guard Date() < deadline else {
                let holder = String(decoding: (try? file.readAll()) ?? [], as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                throw .locked(
                    path: layout.lock, holder: holder.isEmpty ? "unknown process" : holder, waited: max(0, wait))
            }
            usleep(20_000)
        }
        try file.truncate(to: 0)
        try file.write(Array("pid \(getpid())\n".utf8), at: 0)
        return file
    }

    /// The latest checkpoint's size and the acceptance time of its last event; before any checkpoint, size 0
    /// and the time of the first event (or now), so the clock-based policy counts from the ledger's start.
    private func latestCheckpoint() throws(LedgerError) -> (size: UInt64, time: Int64) {
        guard let size = try storage.index.latestCheckpointSize(), size > 0 else {
            let first = try storage.index.frame(containing: 0)?.firstTime
            return (0, first ?? Int64(Date().timeIntervalSince1970 * 1_000_000))
        }
        let time = try storage.index.frame(containing: size - 1)?.lastTime ?? 0
        return (size, time)
    }

    // MARK: - Appending

    /// Keeps the data keys `gate` chooses in this process's memory only (zero retention): they are never
    /// written to `keys.sqlite`; when the gate says so, the writer drops them and appends `retention.purged`
    /// (method `zero-retention`) right after the event that triggered it. Keys still in memory when the process
    /// ends are lost, and what they sealed can no longer be opened.
    public func useZeroRetention(_ gate: any ZeroRetentionGate) {
        stagingLock.withLock { staging.useZeroRetention(gate) }
    }

    /// Appends `events` and returns once every one is durable (or known as a duplicate), in order.
    public func append(_ events: [DecodedEvent]) throws(LedgerError) -> [AppendResult] {
        var results: [AppendResult] = []
        results.reserveCapacity(events.count)
        var last: UInt64?
        for event in events {
            let result = try stage(event)
            results.append(result)
            last = max(last ?? 0, result.seq)
            if stagingLock.withLock({ staging.stagedRecords }) >= configuration.maximumBatchEvents {
                _ = try commit()
            }
        }
        if let last { try waitDurable(through: last) }
        return results
    }

    /// Appends `events` as one frame: all become durable together, or none does. A batch whose frame could hold
    /// more than `frameContentLimit` bytes of content (at most, and by default, what readers decompress:
    /// `RecordLimits.maximumFrameContentBytes`) is refused with `LedgerError.batchTooLarge` before any of it is
    /// staged.
    public func appendAtomically(
        _ events: [DecodedEvent], frameContentLimit: Int = RecordLimits.maximumFrameContentBytes
    ) throws(LedgerError) -> [AppendResult] {
        let limit = min(frameContentLimit, RecordLimits.maximumFrameContentBytes)
        let bound = Self.maximumFrameContentBytes(events)
        guard bound <= limit else { throw .batchTooLarge(events: events.count, bytes: bound, limit: limit) }
        return try commitLock.withLock { () throws(LedgerError) in
            _ = try commitLocked()
            let results = try stagingLock.withLock { () throws(LedgerError) in
                if let failure { throw failure }
                staging.sealBatch()
                defer { staging.sealBatch() }
                let results = try events.map { event throws(LedgerError) in
                    try staging.stage(event, unlimitedBatch: true)
                }
                // Only zero-retention purges staged after a trigger can add to the bound; should they take the
                // frame past the limit, nothing of it is written and the writer stops (its in-memory keys went
                // with the batch).
                if let content = staging.openBatchContentBytes, content > limit {
                    failure = .batchTooLarge(events: events.count, bytes: content, limit: limit)
                    throw .batchTooLarge(events: events.count, bytes: content, limit: limit)
                }
                return results
            }
            _ = try commitLocked()
            return results
        }
    }

    /// The most bytes of content the one frame of `events` can need: its header at its longest, and each record
    /// at its longest (`RecordEncoder.maximumRecordBytes`) with its length prefix.
    static func maximumFrameContentBytes(_ events: [DecodedEvent]) -> Int {
        events.reduce(FrameBuilder.magic.count + 30) { $0 + 10 + RecordEncoder.maximumRecordBytes($1) }
    }

    /// Validates, deduplicates, seals and encodes one event into the pending batch (not yet durable).
    public func stage(_ event: DecodedEvent) throws(LedgerError) -> AppendResult {
        try stagingLock.withLock { () throws(LedgerError) in
            if let failure { throw failure }
            return try staging.stage(event)
        }
    }

    /// Stages several events in order under one acquisition of the staging lock; returns how many were staged.
    func stage(contentsOf events: [DecodedEvent]) throws(LedgerError) -> Int {
        try stagingLock.withLock { () throws(LedgerError) in
            if let failure { throw failure }
            for index in events.indices { _ = try staging.stage(events[index]) }
        }
        return events.count
    }

    /// Compresses, with `compressor`, full frames that no one is compressing yet, so that the commit path
    /// only writes them. Any thread may call it (each with its own compressor): frames are shared out.
    func compressFullFrames(using compressor: ZstdCompressor) throws(LedgerError) {
        while let frame = stagingLock.withLock({ staging.takeFullBatchToCompress() }) {
            let compressed: [UInt8]
            do {
                compressed = try encodeFrame(header: frame.header, records: frame.records, compressor: compressor)
            } catch {
                stagingLock.withLock { failure = error }
                throw error
            }
            stagingLock.withLock {
                staging.precompressed[frame.firstSeq] = compressed
                stagingLock.broadcast()
            }
        }
    }

    /// Writes every staged event durably (in frames of at most the batch limit) and returns their results.
    public func commit() throws(LedgerError) -> [AppendResult] {
        try commitLock.withLock { () throws(LedgerError) in try commitLocked() }
    }

    /// Writes durably the staged batches that are complete (full, or sealed) and leaves the open one filling, so
    /// that a commit asked for because a frame filled up does not cut the next frame short. Returns their results.
    func commitCompleteBatches() throws(LedgerError) -> [AppendResult] {
        try commitLock.withLock { () throws(LedgerError) in try commitLocked(completeBatchesOnly: true) }
    }

    /// A frame compressor at the ledger's level. Matches of 4 bytes (instead of the level's 5) suit records:
    /// measured on simulated frames, 1% smaller and faster at level 5.
    func makeFrameCompressor() throws(LedgerError) -> ZstdCompressor {
        do { return try ZstdCompressor(level: Int32(configuration.compressionLevel), minimumMatch: 4) } catch {
            throw .zstd(operation: error.operation, reason: error.reason)
        }
    }

    private func waitDurable(through seq: UInt64) throws(LedgerError) {
        while stagingLock.withLock({ staging.durableSize <= seq }) {
            _ = try commit()
        }
    }

    /// Writes the batches staged so far (with `completeBatchesOnly`, those that take no more events), oldest
    /// first, as one group: one sync of the keys they need and one of their frames (see `write(group:)`). Call
    /// with `commitLock` held.
    private func commitLocked(completeBatchesOnly: Bool = false) throws(LedgerError) -> [AppendResult] {
        if let failure { throw failure }
        // Only the batches staged before this call: a fast stager must not keep one commit from returning.
        let group = stagingLock.withLock { () -> [Staging.Batch] in
            var taken: [Staging.Batch] = []
            for _ in 0..<(completeBatchesOnly ? staging.completeBatchCount : staging.batchCount) {
                guard let batch = staging.takeBatch() else { break }
                taken.append(batch)
            }
            return taken
        }
        guard !group.isEmpty else { return [] }
        do {
            try write(group: group)
        } catch {
            stagingLock.withLock { failure = error }
            throw error
        }
        var all: [AppendResult] = []
        stagingLock.withLock {
            for batch in group {
                staging.markDurable(endSeq: batch.endSeq)
                all.append(contentsOf: batch.results)
            }
        }
        return all
    }

    // MARK: - Checkpoints

    /// Writes a checkpoint if the configured number of events or seconds has passed; true if one was written.
    func checkpointIfDue(now: Int64) throws(LedgerError) -> Bool {
        let size = frontier.size
        guard size > lastCheckpoint.size else { return false }
        let dueByCount = size - lastCheckpoint.size >= UInt64(configuration.checkpointEveryEvents)
        let dueByTime = now - lastCheckpoint.time >= Int64(configuration.checkpointEverySeconds) * 1_000_000
        guard dueByCount || dueByTime else { return false }
        _ = try writeCheckpoint()
        return true
    }

    /// Commits everything staged, then signs and stores a checkpoint of the whole log.
    public func checkpoint() throws(LedgerError) -> (checkpoint: Checkpoint, note: String) {
        try commitLock.withLock { () throws(LedgerError) in
            _ = try commitLocked()
            return try writeCheckpoint()
        }
    }

    private func writeCheckpoint() throws(LedgerError) -> (checkpoint: Checkpoint, note: String) {
        let (checkpoint, note) = try Self.signAndStoreCheckpoint(
            of: frontier, storage: storage, signer: keyFile.signer, origin: configuration.origin)
        commitsSinceTreeMark = 0
        let time = try storage.index.frame(containing: max(checkpoint.treeSize, 1) - 1)?.lastTime ?? 0
        lastCheckpoint = (checkpoint.treeSize, time)
        return (checkpoint, note)
    }

    /// Signs a checkpoint of `frontier`'s tree, marks the stored tree durable, and stores the note in
    /// `checkpoints/` and the index. Needs the writer lock.
    static func signAndStoreCheckpoint(
        of frontier: MerkleFrontier, storage: LedgerStorage, signer: NoteSignerKey, origin: String
    ) throws(LedgerError) -> (checkpoint: Checkpoint, note: String) {
        let checkpoint = Checkpoint(origin: origin, treeSize: frontier.size, rootHash: frontier.rootHash)
        let note: String
        do { note = try checkpoint.signed(by: signer).serialized } catch {
            throw .invalidRequest("cannot sign the checkpoint: \(error)")
        }
        let path = storage.layout.checkpointPath(treeSize: checkpoint.treeSize)
        // Ed25519 signing is deterministic: a note already stored for this size and root is these bytes, and with
        // the tree durable at this size and untouched since, there is nothing to write (a `checkpoint` with no new
        // event used to rewrite the note, the tree marker and the index, with five syncs).
        if FileSystem.exists(path), (try? FileSystem.read(path)) == Array(note.utf8),
            (try? storage.tree.durableSize()) == checkpoint.treeSize, storage.tree.isUnchangedSinceMarked()
        {
            return (checkpoint, note)
        }
        try storage.tree.markDurable()
        try FileSystem.writeAtomically(Array(note.utf8), to: path)
        try storage.index.add(checkpoint: checkpoint, note: note)
        return (checkpoint, note)
    }

    /// Seals the active segment whatever its size: commits what is staged, then starts a new, empty segment named
    /// for the next seq (its directory entry fsynced), so the segments before it are sealed exactly as when a frame
    /// would take the active one past `segment_size_limit` (FORMAT.md §2). Nothing when the newest segment holds no
    /// event (or there is none). Returns the first seq of the segment it sealed.
    @discardableResult
    public func sealSegment() throws(LedgerError) -> UInt64? {
        try commitLock.withLock { () throws(LedgerError) in
            _ = try commitLocked()
            let size = frontier.size
            // The newest file, not `segment`: compaction stops appending to the active segment without sealing it.
            guard let last = try storage.segmentFirstSeqs().last, last < size else { return nil }
            try segment?.sync()
            segment = try ActiveSegment.create(layout: layout, firstSeq: size)
            return last
        }
    }

    /// Destroys the data keys of `purges` and journals them (see `PendingPurge`); the caller then appends their
    /// `retention.purged` events and clears the journal. Waits for a commit in progress, which may be storing
    /// keys on the same connection.
    public func shred(_ purges: [PendingPurge]) throws(LedgerError) {
        try commitLock.withLock { () throws(LedgerError) in try keyWriter.shred(purges) }
    }

    /// Purges journalled by a `shred` whose events are not known to be appended (an interrupted run).
    public func pendingPurges() throws(LedgerError) -> [PendingPurge] {
        try commitLock.withLock { () throws(LedgerError) in try keyWriter.pendingPurges() }
    }

    /// Forgets journalled purges once their events are appended.
    public func clearPendingPurges(_ purges: [PendingPurge]) throws(LedgerError) {
        try commitLock.withLock { () throws(LedgerError) in try keyWriter.clearPendingPurges(purges) }
    }

    /// Commits what is staged, writes a checkpoint if one is due by the clock, marks the tree durable and
    /// releases the writer lock. The writer cannot be used afterwards.
    public func close() throws(LedgerError) {
        try commitLock.withLock { () throws(LedgerError) in
            if failure == nil {
                _ = try commitLocked()
                if try !checkpointIfDue(now: Int64(Date().timeIntervalSince1970 * 1_000_000)) {
                    try storage.tree.markDurable()
                }
            }
            stagingLock.withLock { failure = .invalidRequest("the ledger writer is closed") }
            lockFile.unlock()
        }
    }
}

/// The segment file frames are appended to.
struct ActiveSegment {
    let firstSeq: UInt64
    let file: POSIXFile
    private(set) var size: Int

    /// Continues the last segment if there is one.
    static func resume(layout: LedgerLayout, storage: LedgerStorage) throws(LedgerError) -> ActiveSegment? {
        guard let last = try storage.segmentFirstSeqs().last else { return nil }
        let path = layout.segmentPath(firstSeq: last)
        let file = try POSIXFile(path: path, flags: O_RDWR)
        let size = try file.size()
        if size == 0 && last != storage.size {
            try FileSystem.remove(path)
            return nil
        }
        return ActiveSegment(firstSeq: last, file: file, size: size)
    }

    /// Creates a new segment named for `firstSeq` and makes its directory entry durable.
    static func create(layout: LedgerLayout, firstSeq: UInt64) throws(LedgerError) -> ActiveSegment {
        let file = try POSIXFile(path: layout.segmentPath(firstSeq: firstSeq), flags: O_RDWR | O_CREAT | O_EXCL)
        try FileSystem.syncDirectory(layout.segments)
        return ActiveSegment(firstSeq: firstSeq, file: file, size: 0)
    }

    /// Bytes written since the last sync.
    private(set) var unsyncedBytes = 0

    /// Writes a frame at the end, not yet durable: `sync()` makes it so.
    mutating func write(_ frame: [UInt8]) throws(LedgerError) {
        try file.write(frame, at: size)
        size += frame.count
        unsyncedBytes += frame.count
    }

    /// Makes the frames written since the last sync durable (fdatasync); nothing when none was.
    mutating func sync() throws(LedgerError) {
        guard unsyncedBytes > 0 else { return }
        try file.sync()
        unsyncedBytes = 0
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension LedgerWriter {
    /// Deletes and rebuilds `index.sqlite` and the stored tree (`tree/`) from the log (takes the writer lock while
    /// it runs, waiting up to `lockWait` seconds for another writer). The next writer checks the rebuilt tree
    /// against the latest signed checkpoint, as at every open.
    public static func reindex(directory: String, lockWait: Double = 0) throws(LedgerError) -> RecoveryReport {
        let layout = LedgerLayout(directory: directory)
        _ = try LedgerConfiguration.load(layout)
        let lock = try takeLock(layout, wait: lockWait)
        defer { _ = lock }
        for suffix in ["", "-wal", "-shm"] { try FileSystem.remove(layout.index + suffix) }
        let storage = try LedgerStorage(layout: layout, writable: true)
        return try storage.reindex()
    }
}
