// Compaction: removing the ciphertext of erased sealed parts from the log at a cost that follows what is erased.
// Only the frames holding such a part are decompressed and re-encoded; each new frame, padded with a zstd
// skippable frame to its old length, overwrites the old one in place, so every other byte of the segment, every
// frame's offset and the index stay as they were. A journal (`segments/COMPACTION.journal`) makes the overwrite
// safe against a crash at any moment: recovery replays it. A frame whose compacted form does not fit in its old
// length has its whole segment rewritten instead, as before (FORMAT.md §8).
import Foundation
public import LedgerCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a compaction did.
public struct CompactionReport: Sendable, Equatable, Codable {
    /// Segments holding a frame rewritten (in place or with their whole segment).
    public var segments = 0
    /// Frames rewritten in place.
    public var frames = 0
    /// Segments rewritten whole, because a frame's compacted form did not fit in the frame's old bytes.
    public var segmentsRewritten = 0
    /// Sealed parts whose ciphertext was removed.
    public var partsCompacted = 0
    /// Stored bytes of the rewritten frames (and of the segments rewritten whole) before.
    public var bytesBefore = 0
    /// Their zstd bytes after, without the padding that keeps a frame in place.
    public var bytesAfter = 0
    /// Bytes written into segment files: frames overwritten in place, padding included, and whole segments.
    public var bytesWritten = 0
    /// Per call whose erased pairs were compacted (key gone): its parts compacted now and the segments they
    /// were in. A call whose parts an earlier compaction already removed has zeros.
    public var calls: [String: CallCompaction] = [:]

    /// What compaction did for one call.
    public struct CallCompaction: Sendable, Equatable {
        /// The call's erased classes that no sealed segment holds ciphertext of any more.
        public var classes: [String] = []
        /// Sealed parts whose ciphertext was removed.
        public var parts = 0
        /// Segments rewritten for them.
        public var segments = 0
    }

    enum CodingKeys: String, CodingKey {
        case segments, frames, segmentsRewritten, partsCompacted, bytesBefore, bytesAfter, bytesWritten
    }

    /// An empty report.
    public init() {}
}

extension LedgerLayout {
    /// `segments/COMPACTION.journal`: the frames a compaction is overwriting in place, present from before the
    /// first byte is overwritten until every overwritten frame is durable; recovery replays it.
    public var compactionJournal: String { FileSystem.join(segments, "COMPACTION.journal") }
}

extension RecordView {
    /// The record's bytes with every sealed part of a (call, class) pair in `erased` (keys
    /// `call + "\u{0}" + class`) in compacted form (FORMAT.md §3), and how many parts were; nil when none was.
    /// The entry, and so the leaf hash, stays the same.
    public func withoutCiphertext(of erased: Set<String>) -> (bytes: [UInt8], compacted: Int)? {
        let call = self.call
        let compacted = parts.count { part in
            part.form == RecordEncoder.partSealed && erased.contains(call + "\u{0}" + string(part.classRange))
        }
        guard compacted > 0 else { return nil }
        return (self.compacted { erased.contains(call + "\u{0}" + $0) }, compacted)
    }
}

/// One frame's new bytes, to overwrite its old ones in place: exactly as long as they were.
struct FramePatch: Sendable {
    /// The frame, with its new content size.
    var location: FrameLocation
    /// The new zstd frame, then a skippable frame padding it to the old length when it is shorter.
    var bytes: [UInt8]
    /// The new zstd frame's size, without padding.
    var frameBytes: Int
    /// Sealed parts compacted, per call.
    var compactedByCall: [String: Int]
}

/// What compacting one frame came to.
enum FrameCompaction: Sendable {
    /// The frame holds no ciphertext of an erased pair (an earlier compaction removed it).
    case unchanged
    /// New bytes that fit in place.
    case patch(FramePatch)
    /// Slots of a side-car frame to overwrite in place (FORMAT.md §2.1).
    case slots(SlotErasure)
    /// The compacted frame is longer than the old one, or shorter by less than a skippable frame's 8 bytes.
    case doesNotFit
}

extension LedgerWriter {
    /// Frames compacted, journalled and overwritten together: bounds the memory and the journal's size.
    static let compactionChunk = 64

    /// Removes from the log the ciphertext of every sealed part of the (call, class) pairs in `erased` (keys
    /// `call + "\u{0}" + class`) whose data key is gone, keeping each part's digest (FORMAT.md §3), so every
    /// entry, leaf and tree root stays as it was. Only the frames that hold such a part are rewritten, in place
    /// (FORMAT.md §8), on up to `CALL_LEDGER_WORKERS` threads; the active segment is closed first when it holds
    /// one. Pairs whose key still exists are left alone. `progress` is called with frames done and to do.
    public func compact(
        erased: Set<String>, progress: (Int, Int) -> Void = { _, _ in }
    ) throws(LedgerError)
        -> CompactionReport
    {
        try commitLock.withLock { () throws(LedgerError) in try compactLocked(erased: erased, progress: progress) }
    }

    private func compactLocked(
        erased: Set<String>, progress: (Int, Int) -> Void
    ) throws(LedgerError)
        -> CompactionReport
    {
        var report = CompactionReport()
        var gone: Set<String> = []
        var calls: Set<String> = []
        for pair in erased {
            let parts = pair.split(separator: "\u{0}", maxSplits: 1).map(String.init)
            guard parts.count == 2, try keyWriter.key(call: parts[0], dataClass: parts[1]) == nil else { continue }
            gone.insert(pair)
            calls.insert(parts[0])
            report.calls[parts[0], default: CompactionReport.CallCompaction()].classes.append(parts[1])
        }
        for call in calls { report.calls[call]?.classes.sort() }
        guard !gone.isEmpty else { return report }
        var frames: [UInt64: FrameLocation] = [:]
        var targets: [UInt64: ErasureTargets] = [:]
        for call in calls.sorted() {
            let classes = (report.calls[call]?.classes ?? []).map { Array($0.utf8) }
            for frame in try storage.index.frames(ofCall: call) {
                frames[frame.firstSeq] = frame
                targets[frame.firstSeq, default: ErasureTargets()].calls.append((Array(call.utf8), classes))
            }
        }
        if let active = segment, frames.values.contains(where: { $0.segment == active.firstSeq }) { segment = nil }
        let ordered = frames.values.sorted { $0.firstSeq < $1.firstSeq }
        var wholeSegments: Set<UInt64> = []
        var touched: Set<UInt64> = []
        var callSegments: [String: Set<UInt64>] = [:]
        var done = 0
        for start in stride(from: 0, to: ordered.count, by: Self.compactionChunk) {
            let chunk = Array(ordered[start..<min(start + Self.compactionChunk, ordered.count)])
            var patches: [FramePatch] = []
            var erasures: [SlotErasure] = []
            for (location, outcome) in zip(chunk, try compactFrames(chunk, gone: gone, targets: targets)) {
                switch outcome {
                case .unchanged: break
                case .patch(let patch): patches.append(patch)
                case .slots(let erasure): erasures.append(erasure)
                case .doesNotFit: wholeSegments.insert(location.segment)
                }
            }
            patches.removeAll { wholeSegments.contains($0.location.segment) }
            erasures.removeAll { wholeSegments.contains($0.location.segment) }
            try overwrite(erasures)
            for erasure in erasures {
                touched.insert(erasure.location.segment)
                report.frames += 1
                report.bytesBefore += erasure.location.storedBytes
                report.bytesAfter += erasure.location.storedBytes
                report.bytesWritten += erasure.bytesWritten
                for (call, parts) in erasure.erasedByCall {
                    report.partsCompacted += parts
                    report.calls[call]?.parts += parts
                    callSegments[call, default: []].insert(erasure.location.segment)
                }
            }
            try overwrite(patches)
            for patch in patches {
                touched.insert(patch.location.segment)
                report.frames += 1
                report.bytesBefore += patch.bytes.count
                report.bytesAfter += patch.frameBytes
                report.bytesWritten += patch.bytes.count
                for (call, parts) in patch.compactedByCall {
                    report.partsCompacted += parts
                    report.calls[call]?.parts += parts
                    callSegments[call, default: []].insert(patch.location.segment)
                }
            }
            done += chunk.count
            progress(done, ordered.count)
        }
        for segmentID in wholeSegments.sorted() {
            let rewritten = try rewriteSegment(
                segmentID, frames: try storage.index.frames(inSegment: segmentID), gone: gone, targets: targets)
            guard let rewritten else { continue }
            touched.insert(segmentID)
            report.segmentsRewritten += 1
            report.bytesBefore += rewritten.bytesBefore
            report.bytesAfter += rewritten.bytesAfter
            report.bytesWritten += rewritten.bytesAfter
            for (call, parts) in rewritten.compactedByCall {
                report.partsCompacted += parts
                report.calls[call]?.parts += parts
                callSegments[call, default: []].insert(segmentID)
            }
        }
        report.segments = touched.count
        for (call, segments) in callSegments { report.calls[call]?.segments = segments.count }
        return report
    }

    /// Compacts the frames of `chunk` on up to `CALL_LEDGER_WORKERS` threads, each with its own zstd contexts;
    /// the outcomes are in the chunk's order.
    private func compactFrames(
        _ chunk: [FrameLocation], gone: Set<String>, targets: [UInt64: ErasureTargets]
    ) throws(LedgerError) -> [FrameCompaction] {
        let workers = min(chunk.count, WorkerThreads.count)
        let level = Int32(configuration.compressionLevel)
        let layout = self.layout
        var outputs = [Result<FrameCompaction, LedgerError>?](repeating: nil, count: chunk.count)
        outputs.withUnsafeMutableBufferPointer { slots in
            let shared = ThreadShared(value: slots)
            performOnThreads(max(workers, 1)) { worker in
                let slots = shared.value
                let contexts = Result { () throws(LedgerError) in
                    do throws(ZstdError) {
                        return (try ZstdDecompressor(), try ZstdCompressor(level: level, minimumMatch: 4))
                    } catch {
                        throw LedgerError.zstd(operation: error.operation, reason: error.reason)
                    }
                }
                // One content buffer per worker, reused from frame to frame (a new one is zero-filled as it grows).
                var content: [UInt8] = []
                for slot in stride(from: worker, to: slots.count, by: max(workers, 1)) {
                    slots[slot] = contexts.flatMap { decompressor, compressor in
                        Result { () throws(LedgerError) in
                            try Self.compactFrame(
                                chunk[slot], layout: layout, gone: gone,
                                targets: targets[chunk[slot].firstSeq] ?? ErasureTargets(),
                                decompressor: decompressor, compressor: compressor, level: level, content: &content)
                        }
                    }
                }
            }
        }
        var outcomes: [FrameCompaction] = []
        outcomes.reserveCapacity(chunk.count)
        for output in outputs {
            guard let output else { throw .invalidRequest("a compaction worker did not finish its frames") }
            outcomes.append(try output.get())
        }
        return outcomes
    }

    /// Reads, strips and re-encodes one frame: the frame's records with the sealed parts of `gone` compacted,
    /// compressed at the ledger's level (or, when that does not fit, at higher levels), padded to the old size;
    /// or, for a side-car frame, the slot writes. `content` is a buffer the caller reuses from frame to frame.
    private static func compactFrame(
        _ location: FrameLocation, layout: LedgerLayout, gone: Set<String>, targets: ErasureTargets,
        decompressor: ZstdDecompressor, compressor: ZstdCompressor, level: Int32, content: inout [UInt8]
    ) throws(LedgerError) -> FrameCompaction {
        let stored = try LedgerStorage.frame(location, layout: layout, decompressor: decompressor, content: &content)
        if content.withUnsafeBytes({ SealedSideCar.hasSideCar($0) }) {
            let erasure = try SlotErasure.make(location, stored: stored, content: content, targets: targets)
            return erasure.map { .slots($0) } ?? .unchanged
        }
        guard let (header, records, compactedByCall) = try strip(&content, location: location, gone: gone) else {
            return .unchanged
        }
        if CompactionFault.nothingFits { return .doesNotFit }
        var encoded: [UInt8] = []
        for candidate in [level, min(level + 4, 19), 19] where candidate >= level {
            encoded.removeAll(keepingCapacity: true)
            do throws(ZstdError) {
                if candidate == level {
                    try compressor.compress(header, records, appendingTo: &encoded)
                } else {
                    try ZstdCompressor(level: candidate, minimumMatch: 4).compress(
                        header, records, appendingTo: &encoded)
                }
            } catch {
                throw .zstd(operation: error.operation, reason: error.reason)
            }
            let slack = location.storedBytes - encoded.count
            guard slack == 0 || slack >= 8 else { continue }
            var bytes = encoded
            if slack >= 8 { bytes.append(contentsOf: skippableFrame(totalBytes: slack)) }
            var moved = location
            moved.contentBytes = header.count + records.count
            return .patch(
                FramePatch(location: moved, bytes: bytes, frameBytes: encoded.count, compactedByCall: compactedByCall))
        }
        return .doesNotFit
    }

    /// Strips the content of an inline frame (`CLF1`, or `CLF3` expanded first) at `location`: its header and its
    /// records with the ciphertext of the sealed parts of `gone` removed, compacted again when the content was
    /// compact (FORMAT.md §2.2: the plain form would take more bytes), and the parts removed per call; nil when the
    /// frame holds none of them.
    static func strip(
        _ content: inout [UInt8], location: FrameLocation, gone: Set<String>
    ) throws(LedgerError) -> (header: [UInt8], records: [UInt8], compactedByCall: [String: Int])? {
        let name = LedgerLayout.segmentName(firstSeq: location.segment)
        let compact = content.withUnsafeBytes { CompactRecords.isCompact($0) }
        try CompactRecords.expand(&content, frame: location)
        var header: [UInt8] = []
        var records: [UInt8] = []
        var compactedByCall: [String: Int] = [:]
        let failure = content.withUnsafeBytes { raw -> LedgerError? in
            do {
                let frame = try FrameContent(raw)
                guard frame.firstSeq == location.firstSeq, frame.count == location.count else {
                    return .corrupt(
                        segment: name, offset: location.offset, seq: location.firstSeq,
                        reason: "the frame holds seqs \(frame.firstSeq)+\(frame.count), the index lists "
                            + "\(location.firstSeq)+\(location.count); run `call-ledger reindex`")
                }
                header = Array(raw[0..<frame.recordsStart])
                records.reserveCapacity(raw.count)
                try frame.forEachRecord { record in
                    if let stripped = record.withoutCiphertext(of: gone) {
                        compactedByCall[record.call, default: 0] += stripped.compacted
                        records.appendVarint(UInt64(stripped.bytes.count))
                        records.append(contentsOf: stripped.bytes)
                    } else {
                        records.appendVarint(UInt64(record.bytes.count))
                        records.append(contentsOf: record.bytes)
                    }
                }
                return nil
            } catch {
                return .corrupt(
                    segment: name, offset: location.offset, seq: location.firstSeq, reason: "frame content: \(error)")
            }
        }
        if let failure { throw failure }
        guard !compactedByCall.isEmpty else { return nil }
        if compact, let compacted = CompactRecords.compact(header: header, records: records) {
            (header, records) = compacted
        }
        return (header, records, compactedByCall)
    }

    /// A zstd skippable frame (RFC 8878 §3.1.2) of exactly `totalBytes` bytes (at least 8): magic `0x184D2A50`,
    /// the 4-byte little-endian size of what follows, then that many zero bytes.
    static func skippableFrame(totalBytes: Int) -> [UInt8] {
        var frame: [UInt8] = []
        frame.reserveCapacity(totalBytes)
        for value in [Zstd.skippableMagic, UInt32(clamping: totalBytes - 8)] {
            withUnsafeBytes(of: value.littleEndian) { frame.append(contentsOf: $0) }
        }
        frame.append(contentsOf: repeatElement(0, count: totalBytes - 8))
        return frame
    }

    /// Overwrites the frames of `patches` in place, crash-safely: the journal is made durable first, then the
    /// frames are written and their segments fsynced, then the index gets the frames' new content sizes, then
    /// the journal is removed. Recovery replays a journal that is present (`LedgerStorage.replayCompactionJournal`).
    private func overwrite(_ patches: [FramePatch]) throws(LedgerError) {
        guard !patches.isEmpty else { return }
        try CompactionJournal(patches: patches).write(to: layout)
        CompactionFault.reach("journal")
        try storage.apply(patches, faultPoints: true)
        CompactionFault.reach("overwritten")
        try storage.index.database.transaction { () throws(LedgerError) in
            for patch in patches { try storage.relocate(patch.location) }
        }
        try FileSystem.remove(layout.compactionJournal)
    }

    /// Rewrites a whole segment with the sealed parts of `gone` compacted, for a frame whose compacted form
    /// does not fit in place: to `<name>.zst.compacting`, fsynced and renamed over the original, with
    /// `segments/COMPACTING` present meanwhile so that recovery rebuilds the index if the writer dies between the
    /// rename and the index update. Nil when no part of the segment needed compacting.
    private func rewriteSegment(
        _ segmentID: UInt64, frames: [FrameLocation], gone: Set<String>, targets: [UInt64: ErasureTargets]
    ) throws(LedgerError) -> (bytesBefore: Int, bytesAfter: Int, compactedByCall: [String: Int])? {
        var output: [UInt8] = []
        var relocated: [FrameLocation] = []
        var compactedByCall: [String: Int] = [:]
        var content: [UInt8] = []
        let compressor = try makeFrameCompressor()
        let name = LedgerLayout.segmentName(firstSeq: segmentID)
        var expected = 0
        for location in frames {
            guard location.offset == expected else {
                throw .corrupt(
                    segment: name, offset: expected, seq: location.firstSeq,
                    reason: "the index does not account for every byte of the segment; run `call-ledger reindex`")
            }
            expected += location.storedBytes
            var stored = try LedgerStorage.frame(
                location, layout: layout, decompressor: storage.decompressor, content: &content)
            if content.withUnsafeBytes({ SealedSideCar.hasSideCar($0) }) {
                // A side-car frame is kept byte for byte, its erased slots overwritten.
                let erasure = try SlotErasure.make(
                    location, stored: stored, content: content, targets: targets[location.firstSeq] ?? ErasureTargets())
                for write in erasure?.writes ?? [] {
                    let start = write.offset - location.offset
                    stored.replaceSubrange(start..<start + write.bytes.count, with: write.bytes)
                }
                for (call, parts) in erasure?.erasedByCall ?? [:] { compactedByCall[call, default: 0] += parts }
                var moved = location
                moved.offset = output.count
                relocated.append(moved)
                output.append(contentsOf: stored)
                continue
            }
            guard let (header, records, compacted) = try Self.strip(&content, location: location, gone: gone) else {
                // A frame without an erased part is kept byte for byte.
                var moved = location
                moved.offset = output.count
                relocated.append(moved)
                output.append(contentsOf: stored)
                continue
            }
            for (call, parts) in compacted { compactedByCall[call, default: 0] += parts }
            var compressed: [UInt8] = []
            do { try compressor.compress(header, records, appendingTo: &compressed) } catch {
                throw .zstd(operation: error.operation, reason: error.reason)
            }
            var moved = location
            moved.offset = output.count
            moved.storedBytes = compressed.count
            moved.contentBytes = header.count + records.count
            relocated.append(moved)
            output.append(contentsOf: compressed)
        }
        guard !compactedByCall.isEmpty else { return nil }
        let path = layout.segmentPath(firstSeq: segmentID)
        let size = try POSIXFile(path: path, flags: O_RDONLY).size()
        guard size == expected else {
            throw .corrupt(
                segment: name, offset: expected, seq: frames.last.map { $0.firstSeq + UInt64($0.count) } ?? segmentID,
                reason: "the segment holds \(size - expected) bytes the index does not list; run `call-ledger reindex`")
        }
        try FileSystem.writeAtomically([], to: layout.compactionMarker)
        let temporary = path + ".compacting"
        do {
            let file = try POSIXFile(path: temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
            try file.write(output, at: 0)
        }
        try FileSystem.moveDurably(temporary, to: path)
        try storage.index.database.transaction { () throws(LedgerError) in
            for location in relocated { try storage.relocate(location) }
        }
        try FileSystem.remove(layout.compactionMarker)
        try FileSystem.syncDirectory(layout.segments)
        return (size, output.count, compactedByCall)
    }
}

/// Test-only fault points of compaction: when `CALL_LEDGER_COMPACTION_FAULT` names a point, the process kills
/// itself with SIGKILL on reaching it, as a crash would stop it (used by the crash tests; unset in production).
enum CompactionFault {
    private static let point = ProcessInfo.processInfo.environment["CALL_LEDGER_COMPACTION_FAULT"]

    /// Kills the process when `name` is the configured fault point.
    static func reach(_ name: String) {
        if point == name { kill(getpid(), SIGKILL) }
    }

    /// Whether the configured fault is `no-fit`: every inline frame compaction strips is taken not to fit in
    /// place, so that its segment is rewritten whole (the path of a frame whose compacted form is longer).
    static var nothingFits: Bool { point == "no-fit" }
}

/// The journal of one in-place overwrite (FORMAT.md §8): for each frame, where it is and its new bytes.
struct CompactionJournal {
    /// The journal's first four bytes.
    static let magic: [UInt8] = Array("CLJ1".utf8)

    var patches: [FramePatch]

    /// `"CLJ1"`, varint count, then per frame varint segment, offset, first seq, record count, content bytes
    /// and length, and the new bytes; last, the SHA-256 of everything before it.
    func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes.appendVarint(UInt64(patches.count))
        for patch in patches {
            let location = patch.location
            for value in [
                location.segment, UInt64(location.offset), location.firstSeq, UInt64(location.count),
                UInt64(location.contentBytes), UInt64(patch.bytes.count),
            ] {
                bytes.appendVarint(value)
            }
            bytes.append(contentsOf: patch.bytes)
        }
        SHA256.hash(bytes).append(to: &bytes)
        return bytes
    }

    /// Writes the journal durably: the file and its directory entry are fsynced before any frame is overwritten.
    func write(to layout: LedgerLayout) throws(LedgerError) {
        let file = try POSIXFile(path: layout.compactionJournal, flags: O_WRONLY | O_CREAT | O_TRUNC)
        try file.write(encoded(), at: 0)
        try file.sync()
        try FileSystem.syncDirectory(layout.segments)
    }

    /// The journal in `bytes`, or nil when it is incomplete (a crash while it was written: no frame was
    /// overwritten yet) or does not parse.
    static func decode(_ bytes: [UInt8], sizes: (UInt64) -> Int?) -> CompactionJournal? {
        guard bytes.count >= magic.count + 32, bytes.starts(with: magic) else { return nil }
        let body = Array(bytes[0..<bytes.count - 32])
        guard SHA256.hash(body) == SHA256Digest(bytes: Array(bytes[(bytes.count - 32)...])) else { return nil }
        var patches: [FramePatch] = []
        let parsed = body.withUnsafeBytes { raw -> Bool in
            var reader = ByteReader(raw, offset: magic.count)
            do {
                let count = try reader.readVarint()
                for _ in 0..<count {
                    var values: [Int] = []
                    for _ in 0..<6 {
                        guard let value = Int(exactly: try reader.readVarint()) else { return false }
                        values.append(value)
                    }
                    let end = values[1].addingReportingOverflow(values[5])
                    guard let segment = UInt64(exactly: values[0]), let firstSeq = UInt64(exactly: values[2]),
                        !end.overflow, end.partialValue <= sizes(segment) ?? -1
                    else { return false }
                    let range = try reader.readRange(count: values[5])
                    patches.append(
                        FramePatch(
                            location: FrameLocation(
                                firstSeq: firstSeq, count: values[3], segment: segment, offset: values[1],
                                storedBytes: values[5], contentBytes: values[4], inputBytes: 0, firstTime: 0,
                                lastTime: 0),
                            bytes: Array(raw[range]), frameBytes: values[5], compactedByCall: [:]))
                }
                return reader.offset == raw.count
            } catch {
                return false
            }
        }
        return parsed ? CompactionJournal(patches: patches) : nil
    }
}

extension LedgerStorage {
    /// Writes each patch's bytes at its frame's offset, then fsyncs every segment written. With `faultPoints`,
    /// the test fault point `overwriting` is reached after the first frame is written.
    func apply(_ patches: [FramePatch], faultPoints: Bool = false) throws(LedgerError) {
        var files: [UInt64: POSIXFile] = [:]
        for (position, patch) in patches.enumerated() {
            let segment = patch.location.segment
            if files[segment] == nil {
                files[segment] = try POSIXFile(path: layout.segmentPath(firstSeq: segment), flags: O_RDWR)
            }
            try files[segment]?.write(patch.bytes, at: patch.location.offset)
            if faultPoints && position == 0 { CompactionFault.reach("overwriting") }
        }
        for segment in files.keys.sorted() { try files[segment]?.sync() }
    }

    /// Finishes an in-place compaction that a crash interrupted: when `segments/COMPACTION.journal` is complete,
    /// writes its frames again (idempotent), fsyncs them and gives the index their content sizes; then removes
    /// the journal. An incomplete journal means no frame was overwritten yet: it is removed. Needs the writer lock.
    func replayCompactionJournal() throws(LedgerError) -> Int {
        let path = layout.compactionJournal
        guard FileSystem.exists(path) else { return 0 }
        let bytes = try FileSystem.read(path)
        if bytes.starts(with: SlotJournal.magic) {
            let replayed = try replaySlotJournal(bytes)
            try FileSystem.remove(path)
            try FileSystem.syncDirectory(layout.segments)
            return replayed
        }
        let journal = CompactionJournal.decode(bytes) { segment in
            try? POSIXFile(path: layout.segmentPath(firstSeq: segment), flags: O_RDONLY).size()
        }
        if let journal {
            try apply(journal.patches)
            try index.database.transaction { () throws(LedgerError) in
                for patch in journal.patches { try relocate(patch.location) }
            }
        }
        try FileSystem.remove(path)
        try FileSystem.syncDirectory(layout.segments)
        return journal?.patches.count ?? 0
    }
}
