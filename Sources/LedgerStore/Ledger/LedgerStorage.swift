// The files of one open ledger (configuration, segments, tree, index, checkpoints) and recovery: bringing
// the derived index and tree up to the log after a crash, and cutting a torn last frame. A reader writes nothing:
// it reads frames the index lacks into a copy of the index in memory and stops before a torn or corrupt tail.
import Foundation
import LedgerCore

/// What recovery found and did when the ledger was opened.
public struct RecoveryReport: Sendable, Equatable {
    /// Events in the log.
    public var logSize: UInt64 = 0
    /// Frames that were in the log but not in the index, and were indexed.
    public var framesIndexed = 0
    /// Leaves whose tree hashes were recomputed.
    public var leavesRehashed: UInt64 = 0
    /// A torn or corrupt last frame that was cut off: segment name, offset and bytes removed.
    public var truncatedTail: (segment: String, offset: Int, bytes: Int, reason: String)?

    /// Equality on the counts and the truncation's location.
    public static func == (lhs: RecoveryReport, rhs: RecoveryReport) -> Bool {
        lhs.logSize == rhs.logSize && lhs.framesIndexed == rhs.framesIndexed
            && lhs.leavesRehashed == rhs.leavesRehashed && lhs.truncatedTail?.segment == rhs.truncatedTail?.segment
            && lhs.truncatedTail?.offset == rhs.truncatedTail?.offset
    }
}

/// What follows the last good frame of the log, when something does: a torn last frame (which a writer's
/// recovery cuts) or corruption (which nothing cuts).
public struct LogTail: Sendable, Equatable, CustomStringConvertible {
    /// The segment file's name.
    public var segment: String
    /// Byte offset of the faulty frame in the segment.
    public var offset: Int
    /// Bytes from that offset to the end of the segment.
    public var bytes: Int
    /// The seq the faulty frame would start at.
    public var seq: UInt64
    /// What is wrong.
    public var reason: String
    /// Whether it is a torn write (FORMAT.md §2) rather than corruption.
    public var torn: Bool

    /// A message a person can act on.
    public var description: String {
        torn
            ? "the last \(bytes) bytes of segment \(segment) (from byte offset \(offset)) are a torn write, not a "
                + "complete frame: \(reason); the log ends at seq \(seq), and the next command that writes cuts them"
            : LedgerError.corrupt(segment: segment, offset: offset, seq: seq, reason: reason).description
    }
}

/// The open files of a ledger. Not thread-safe; the writer guards it with its commit lock.
final class LedgerStorage: RecordSource {
    let layout: LedgerLayout
    let configuration: LedgerConfiguration
    let verifierKey: NoteVerifierKey
    /// The index: `index.sqlite`, or for a reader whose stored index lags the log (or cannot be used) a copy in
    /// memory brought up to the log.
    private(set) var index: LedgerIndex
    let tree: TreeStore
    let decompressor: ZstdDecompressor
    /// Events in the log (after recovery, or as far as a reader could read).
    private(set) var size: UInt64 = 0
    /// For a reader: what follows the last frame it could read, if anything does.
    private(set) var tail: LogTail?
    /// For the writer: seals the idempotency fingerprints of the frames recovery indexes from the log.
    var fingerprintSeal: FingerprintSeal?

    /// Opens the ledger's files. `writable` (the writer, which recovers next) creates the index and tree if they
    /// are missing. Otherwise nothing is written: with `catchUp`, frames the stored index lacks are read from
    /// the log into a copy of the index in memory, stopping before a torn or corrupt tail (see `tail`).
    init(layout: LedgerLayout, writable: Bool, catchUp: Bool = true) throws(LedgerError) {
        self.layout = layout
        configuration = try LedgerConfiguration.load(layout)
        let keyText = String(decoding: try FileSystem.read(layout.verifierKey), as: UTF8.self)
        do {
            verifierKey = try NoteVerifierKey(parsing: keyText.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            throw .notALedger(path: layout.directory, reason: "verifier.key: \(error)")
        }
        do { decompressor = try ZstdDecompressor() } catch {
            throw .zstd(operation: error.operation, reason: error.reason)
        }
        if writable {
            index = try LedgerIndex(path: layout.index)
        } else if !catchUp {
            index = try LedgerIndex(path: layout.index, readOnly: true)
        } else {
            index = try Self.storedIndexForReading(layout)
        }
        tree = try TreeStore(directory: layout.tree, writable: writable)
        size = try index.indexedSize()
        if !writable && catchUp { try catchUpInMemory() }
    }

    /// The stored index opened for reading, or an empty index in memory when it is missing, cannot be opened or
    /// read, or has another schema (the log is the truth; the index only speeds reading it up).
    static func storedIndexForReading(_ layout: LedgerLayout) throws(LedgerError) -> LedgerIndex {
        guard FileSystem.exists(layout.index) else { return try LedgerIndex.inMemory() }
        do {
            let stored = try LedgerIndex(path: layout.index, readOnly: true)
            if try stored.schema() == LedgerIndex.schemaVersion { return stored }
        } catch {
            // Unusable: read the log instead.
        }
        return try LedgerIndex.inMemory()
    }

    /// The segment files' first seqs, in order.
    func segmentFirstSeqs() throws(LedgerError) -> [UInt64] {
        try FileSystem.contents(of: layout.segments).compactMap { LedgerLayout.segmentFirstSeq(name: $0) }
    }

    // MARK: - Recovery

    /// Brings the index and the tree up to the log, cutting a torn last frame (and only a torn one: FORMAT.md
    /// §2). Needs the writer lock.
    func recover() throws(LedgerError) -> RecoveryReport {
        var report = RecoveryReport()
        let schemaMatches = try index.schema() == LedgerIndex.schemaVersion
        if !schemaMatches { try index.clear() }
        // An in-place compaction stopped while overwriting frames: finish it (Compaction.swift).
        _ = try replayCompactionJournal()
        let compactionInterrupted = FileSystem.exists(layout.compactionMarker)
        if compactionInterrupted {
            // A compaction stopped between rewriting a segment and updating its frames' rows.
            for name in try FileSystem.contents(of: layout.segments) where name.hasSuffix(".compacting") {
                try FileSystem.remove(FileSystem.join(layout.segments, name))
            }
        }
        let acknowledged = max(schemaMatches ? try index.indexedSize() : 0, try latestCheckpointFileSize())
        if compactionInterrupted { try index.clear() }
        // The log is what a signed checkpoint says it was, or the writer touches nothing (FORMAT.md §2, §7).
        let signed = try latestSignedCheckpoint(atMost: .max)
        var start = try indexMatchesSegmentSizes() ? try resumePoint() : nil
        if start == nil {
            try index.clear()
            start = (segment: nil, offset: 0, seq: 0)
        }
        let scan = try scanLog(from: start ?? (nil, 0, 0), acknowledged: acknowledged) {
            frame, calls, prints throws(LedgerError) in
            let seal = fingerprintSeal?.seal(firstSeq: frame.firstSeq, count: frame.count, fingerprints: prints)
            try index.add(frame: frame, calls: calls, fingerprints: prints, seal: seal)
        }
        if let tail = scan.tail, !tail.torn {
            throw .corrupt(segment: tail.segment, offset: tail.offset, seq: tail.seq, reason: tail.reason)
        }
        if let signed, scan.size < signed.treeSize {
            throw try logBehind(signed, size: scan.size, tail: scan.tail)
        }
        if let tail = scan.tail {
            let file = try POSIXFile(path: FileSystem.join(layout.segments, tail.segment), flags: O_RDWR)
            try file.truncate(to: tail.offset)
            try file.sync()
            report.truncatedTail = (tail.segment, tail.offset, tail.bytes, tail.reason)
        }
        report.framesIndexed = scan.frames
        size = scan.size
        report.logSize = scan.size
        report.leavesRehashed = try catchUpTree()
        try syncCheckpointIndex()
        if compactionInterrupted { try FileSystem.remove(layout.compactionMarker) }
        return report
    }

    /// The refusal to write over a log of `size` events that a signed checkpoint of more events contradicts: the
    /// segment and offset where the log ends (the torn or damaged bytes, which are not cut, or the end of the last
    /// segment), the checkpoint file and what to do.
    private func logBehind(_ checkpoint: Checkpoint, size: UInt64, tail: LogTail?) throws(LedgerError) -> LedgerError {
        var segment = tail?.segment ?? ""
        var offset = tail?.offset ?? 0
        if tail == nil, let last = try segmentFirstSeqs().last {
            segment = LedgerLayout.segmentName(firstSeq: last)
            offset = try POSIXFile(path: layout.segmentPath(firstSeq: last), flags: O_RDONLY).size()
        }
        let file = (layout.checkpointPath(treeSize: checkpoint.treeSize) as NSString).lastPathComponent
        let found = tail.map { "; what follows cannot be read (\($0.reason))" } ?? ""
        return .corrupt(
            segment: segment, offset: offset, seq: size,
            reason: "the log ends here, at seq \(size)\(found), but checkpoints/\(file) signs a tree of "
                + "\(checkpoint.treeSize) events: events \(size) to \(checkpoint.treeSize - 1) were acknowledged and "
                + "signed, and the segments lost or altered them. Nothing was cut and nothing can be appended: restore "
                + "segments/ from a backup, then run `call-ledger verify`")
    }

    /// Whether every segment file is at least as long as the frames the index lists in it (a stat per segment).
    /// When one is shorter or missing, the index describes bytes the log no longer has, so recovery reads the
    /// log from its start instead of resuming after the index's last frame.
    private func indexMatchesSegmentSizes() throws(LedgerError) -> Bool {
        for (segment, end) in try index.segmentEnds() {
            let path = layout.segmentPath(firstSeq: segment)
            guard FileSystem.exists(path), try POSIXFile(path: path, flags: O_RDONLY).size() >= end else {
                return false
            }
        }
        return true
    }

    /// For a reader: adds the frames the stored index lacks to a copy of it in memory (or, when the index's last
    /// frame is not intact, rebuilds it in memory from the whole log), and notes a torn or corrupt tail without
    /// touching any file.
    private func catchUpInMemory() throws(LedgerError) {
        let acknowledged = max(try index.indexedSize(), try latestCheckpointFileSize())
        var copied = false
        let start = try resumePoint()
        if start == nil && size > 0 {
            index = try LedgerIndex.inMemory()
            copied = true
        }
        // The copy is taken when the first missing frame is found: by then the writer may have indexed that frame
        // and others after it (it adds a frame's row after writing the frame), so the copy's frames are skipped.
        var copiedSize: UInt64 = 0
        let scan = try scanLog(from: start ?? (nil, 0, 0), acknowledged: acknowledged) {
            frame, calls, prints throws(LedgerError) in
            if !copied {
                index = try index.copyInMemory()
                copied = true
                copiedSize = try index.indexedSize()
            }
            guard frame.firstSeq >= copiedSize else { return }
            try index.add(frame: frame, calls: calls, fingerprints: prints)
        }
        size = scan.size
        tail = scan.tail
        if copied { try syncCheckpointIndex() }
        if tree.treeSize < size { try catchUpTreeInMemory() }
    }

    /// For a reader whose stored tree lags the log: recomputes, in memory, the subtrees from the last size the
    /// stored tree is known good for up to the log's size.
    private func catchUpTreeInMemory() throws(LedgerError) {
        let start = min(try tree.durableSize(), try tree.consistentSize(limit: size))
        var frontier: MerkleFrontier
        do {
            frontier = try MerkleFrontier(size: start) { level, index in try tree.node(level: level, index: index) }
        } catch {
            throw .invalidRequest("the stored tree cannot be read at size \(start): \(error); run `call-ledger verify`")
        }
        tree.keepInMemory(from: start)
        var scratch: [UInt8] = []
        try forEachRecord(in: start..<size) { record in
            frontier.append(leafHash: record.leafHash(scratch: &scratch)) { tree.add($0) }
        }
    }

    /// The size of the largest checkpoint file in `checkpoints/` (by its name), 0 when there is none: events
    /// below it were acknowledged and signed.
    private func latestCheckpointFileSize() throws(LedgerError) -> UInt64 {
        guard FileSystem.isDirectory(layout.checkpoints) else { return 0 }
        return try FileSystem.contents(of: layout.checkpoints).compactMap { name -> UInt64? in
            guard name.hasSuffix(".note"), name.count == 25 else { return nil }
            return UInt64(name.prefix(20))
        }.max() ?? 0
    }

    /// Reads the log from `start` to its end, passing each frame (with its calls and idempotency fingerprints)
    /// to `add`, and stops at the first frame it cannot read: the returned tail, torn only when it is the last
    /// segment's last bytes as FORMAT.md §2 defines (its reason says so when the index or a checkpoint file
    /// already listed events from it as acknowledged). A segment that does not continue the log is an error.
    private func scanLog(
        from start: (segment: UInt64?, offset: Int, seq: UInt64), acknowledged: UInt64,
        add: (FrameLocation, [String: CallActivity], [UInt8]) throws(LedgerError) -> Void
    ) throws(LedgerError) -> (size: UInt64, frames: Int, tail: LogTail?) {
        let segments = try segmentFirstSeqs()
        var expected = start.seq
        var frames = 0
        var content: [UInt8] = []
        let pending = segments.filter { segment in start.segment.map { segment >= $0 } ?? true }
        for (position, segmentSeq) in pending.enumerated() {
            let name = LedgerLayout.segmentName(firstSeq: segmentSeq)
            let path = layout.segmentPath(firstSeq: segmentSeq)
            var offset = segmentSeq == start.segment ? start.offset : 0
            if try POSIXFile(path: path, flags: O_RDONLY).size() == offset { continue }
            let bytes = try FileSystem.read(path)
            let isLast = position == pending.count - 1
            if offset == 0 && segmentSeq != expected && !bytes.isEmpty {
                throw .corrupt(
                    segment: name, offset: 0, seq: expected,
                    reason: "segment is named for seq \(segmentSeq) but the log continues at seq \(expected)")
            }
            let scanner = SegmentScanner(bytes: bytes, name: name, decompressor: decompressor)
            while offset < bytes.count {
                var calls: [String: CallActivity] = [:]
                var fingerprints: [UInt8] = []
                var firstTime: Int64 = 0
                var lastTime: Int64 = 0
                let frame: ScannedFrame
                do throws(FrameFault) {
                    frame = try scanner.readFrame(at: offset, content: &content) { record in
                        Self.collect(record, calls: &calls, fingerprints: &fingerprints)
                        if record.seq == expected { firstTime = record.time }
                        lastTime = record.time
                    }
                } catch {
                    var reason = error.reason
                    let torn = scanner.isTornTail(error, inLastSegment: isLast, expectedSeq: expected)
                    if torn && expected < acknowledged {
                        reason +=
                            "; the index or a checkpoint lists events up to seq \(acknowledged - 1): "
                            + "seqs \(expected) to \(acknowledged - 1) were acknowledged before the file lost them"
                    } else if !torn && error.kind == .content {
                        reason += " (a complete frame with a valid checksum: corruption, not a torn write)"
                    }
                    let tail = LogTail(
                        segment: name, offset: offset, bytes: bytes.count - offset, seq: expected, reason: reason,
                        torn: torn)
                    return (expected, frames, tail)
                }
                guard frame.firstSeq == expected else {
                    throw .corrupt(
                        segment: name, offset: offset, seq: expected,
                        reason: "frame starts at seq \(frame.firstSeq), expected \(expected)")
                }
                try add(
                    FrameLocation(
                        firstSeq: frame.firstSeq, count: frame.count, segment: segmentSeq, offset: offset,
                        storedBytes: frame.storedBytes, contentBytes: frame.contentBytes,
                        inputBytes: frame.inputBytes, firstTime: firstTime, lastTime: lastTime),
                    calls, fingerprints)
                frames += 1
                expected += UInt64(frame.count)
                offset += frame.storedBytes
            }
        }
        return (expected, frames, nil)
    }

    /// Where scanning resumes: just after the last indexed frame, if that frame is intact; nil to rescan all.
    private func resumePoint() throws(LedgerError) -> (segment: UInt64?, offset: Int, seq: UInt64)? {
        guard let last = try index.lastFrame() else { return nil }
        let path = layout.segmentPath(firstSeq: last.segment)
        guard FileSystem.exists(path) else { return nil }
        let file = try POSIXFile(path: path, flags: O_RDONLY)
        guard try file.size() >= last.offset + last.storedBytes else { return nil }
        let bytes = try file.read(count: last.storedBytes, at: last.offset)
        var content: [UInt8] = []
        let scanner = SegmentScanner(bytes: bytes, name: "", decompressor: decompressor)
        guard let frame = try? scanner.readFrame(at: 0, content: &content, records: { _ in }),
            frame.firstSeq == last.firstSeq, frame.count == last.count, frame.storedBytes == last.storedBytes
        else { return nil }
        return (last.segment, last.offset + last.storedBytes, last.firstSeq + UInt64(last.count))
    }

    /// Adds one record's call activity and idempotency fingerprint to a frame's index data.
    static func collect(_ record: RecordView, calls: inout [String: CallActivity], fingerprints: inout [UInt8]) {
        let fingerprint = IdempotencyFingerprint.of(
            UnsafeRawBufferPointer(rebasing: record.bytes[record.idempotencyRange]))
        fingerprints.appendUInt64LE(fingerprint)
        guard !record.callRange.isEmpty else { return }
        let call = record.call
        if calls[call]?.add(seq: record.seq, time: record.time) == nil {
            calls[call] = CallActivity(
                tenant: record.string(record.tenantRange), firstSeq: record.seq, lastSeq: record.seq, count: 1,
                firstTime: record.time, lastTime: record.time)
        }
    }

    /// Recomputes tree hashes from the last durable tree size up to the log size; returns leaves rehashed.
    private func catchUpTree() throws(LedgerError) -> UInt64 {
        let durable = try tree.durableSize()
        let start = min(durable, try tree.consistentSize(limit: size))
        try tree.truncate(to: start)
        guard start < size else { return 0 }
        var frontier: MerkleFrontier
        do {
            frontier = try MerkleFrontier(size: start) { level, index in try tree.node(level: level, index: index) }
        } catch {
            throw .invalidRequest("the stored tree cannot be read at size \(start): \(error); delete tree/ and reopen")
        }
        var scratch: [UInt8] = []
        try forEachRecord(in: start..<size) { record in
            frontier.append(leafHash: record.leafHash(scratch: &scratch)) { tree.add($0) }
        }
        try tree.markDurable()
        return size - start
    }

    /// Makes the index's checkpoint table match the files in `checkpoints/`.
    func syncCheckpointIndex() throws(LedgerError) {
        guard FileSystem.isDirectory(layout.checkpoints) else { return }
        // Rows that already hold their file's note are left alone: rewriting every one made each writer's start
        // cost O(checkpoints) in parsing and index writes (100 checkpoints: about 200 WAL pages per `checkpoint`).
        let indexed = try index.checkpointNotes()
        for name in try FileSystem.contents(of: layout.checkpoints) where name.hasSuffix(".note") {
            let path = FileSystem.join(layout.checkpoints, name)
            let note = String(decoding: try FileSystem.read(path), as: UTF8.self)
            if let size = UInt64(name.prefix(20)), indexed[size] == note { continue }
            guard let checkpoint = try? Checkpoint(body: SignedNote(parsing: note).text) else { continue }
            try index.add(checkpoint: checkpoint, note: note)
        }
    }

    /// Rebuilds the index and the tree from the log, from scratch (both are derived).
    func reindex() throws(LedgerError) -> RecoveryReport {
        try index.clear()
        try tree.truncate(to: 0)
        return try recover()
    }

    /// Records where a rewritten frame now is.
    func relocate(_ location: FrameLocation) throws(LedgerError) {
        try index.database.statement(
            "UPDATE frames SET offset = ?2, stored_bytes = ?3, content_bytes = ?4 WHERE first_seq = ?1"
        ).bind(
            .integer(Int64(location.firstSeq)), .integer(Int64(location.offset)), .integer(Int64(location.storedBytes)),
            .integer(Int64(location.contentBytes))
        ).run()
    }

    // MARK: - Reading

    /// The decompressed content of the frame at `location`.
    func readFrame(_ location: FrameLocation, into content: inout [UInt8]) throws(LedgerError) {
        let name = LedgerLayout.segmentName(firstSeq: location.segment)
        let file = try POSIXFile(path: layout.segmentPath(firstSeq: location.segment), flags: O_RDONLY)
        let bytes = try file.read(count: location.storedBytes, at: location.offset)
        let problem = bytes.withUnsafeBytes {
            decompressor.decompress($0, into: &content, maximumSize: max(location.contentBytes, 1))
        }
        if let problem {
            throw .corrupt(segment: name, offset: location.offset, seq: location.firstSeq, reason: "zstd: \(problem)")
        }
        do { try SealedSideCar.join(&content, stored: bytes) } catch {
            throw .corrupt(segment: name, offset: location.offset, seq: location.firstSeq, reason: error.description)
        }
    }

    /// Calls `body` with every record whose seq is in `range`, in order, reading frames through the index.
    func forEachRecord(in range: Range<UInt64>, _ body: (RecordView) throws(LedgerError) -> Void) throws(LedgerError) {
        guard !range.isEmpty else { return }
        var content: [UInt8] = []
        for location in try index.frames(overlapping: range) {
            try forEachRecord(inFrame: location, content: &content) { record throws(LedgerError) in
                if range.contains(record.seq) { try body(record) }
            }
        }
    }

    /// Calls `body` with the record at `seq`, if the log holds it.
    func withRecord(seq: UInt64, _ body: (RecordView) throws(LedgerError) -> Void) throws(LedgerError) {
        try forEachRecord(in: seq..<seq + 1, body)
    }

    /// Calls `body` with every record of the frame at `location`.
    func forEachRecord(
        inFrame location: FrameLocation, content: inout [UInt8], _ body: (RecordView) throws(LedgerError) -> Void
    ) throws(LedgerError) {
        try readFrame(location, into: &content)
        _ = try Self.forEachRecord(
            inContent: content, segment: LedgerLayout.segmentName(firstSeq: location.segment),
            offset: location.offset, seq: location.firstSeq, body)
    }

    /// Calls `body` with every record of decompressed frame `content` (unless `startingAt` is given and the frame
    /// starts elsewhere) and returns the frame's first seq and count. Content that does not decode is corruption
    /// at `segment`, `offset` and first affected `seq`; `body`'s own errors pass through.
    static func forEachRecord(
        inContent content: [UInt8], segment: String, offset: Int, seq: UInt64, startingAt expected: UInt64? = nil,
        _ body: (RecordView) throws(LedgerError) -> Void
    ) throws(LedgerError) -> (firstSeq: UInt64, count: Int) {
        var failure: LedgerError?
        var header = (firstSeq: UInt64(0), count: 0)
        content.withUnsafeBytes { raw in
            do {
                let frame = try FrameContent(raw)
                header = (frame.firstSeq, frame.count)
                if let expected, frame.firstSeq != expected { return }
                try frame.forEachRecord { record in
                    do throws(LedgerError) { try body(record) } catch {
                        failure = error
                        throw error
                    }
                }
            } catch {
                if failure == nil {
                    failure = .corrupt(segment: segment, offset: offset, seq: seq, reason: "frame content: \(error)")
                }
            }
        }
        if let failure { throw failure }
        return header
    }
}

/// The 64-bit fingerprint of an idempotency key: the first 8 bytes of its SHA-256, little-endian.
enum IdempotencyFingerprint {
    static func of(_ key: UnsafeRawBufferPointer) -> UInt64 {
        SHA256.hash(key).leadingUInt64LittleEndian
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
