// Compaction of frames in the sealed side-car layout (FORMAT.md §2.1, §8): an erased part's slot is overwritten in
// place with the SHA-256 of its sealed bytes and marked in the side-car's bitmap. Nothing is recompressed and no
// other byte of the segment changes; a journal of the slot writes (`CLJ2`) makes the overwrite crash-safe.
import LedgerCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The (call, classes) pairs compaction erases in one frame, as bytes, matched against records without
/// allocating.
struct ErasureTargets: Sendable {
    /// Per call: its id and the erased classes, as UTF-8.
    var calls: [(call: [UInt8], classes: [[UInt8]])] = []

    /// Whether the part of `dataClass` of a record of `call` is to be erased.
    func contains(call: UnsafeRawBufferPointer, dataClass: UnsafeRawBufferPointer) -> Bool {
        for target in calls where target.call.elementsEqual(call) {
            return target.classes.contains { $0.elementsEqual(dataClass) }
        }
        return false
    }
}

/// The slot writes that erase parts of one side-car frame.
struct SlotErasure: Sendable {
    /// The frame (its location does not change).
    var location: FrameLocation
    /// The writes, offsets relative to the segment's start.
    var writes: [SealedSideCar.Write]
    /// Slots erased, per call.
    var erasedByCall: [String: Int]

    /// Bytes written into the segment.
    var bytesWritten: Int { writes.reduce(0) { $0 + $1.bytes.count } }

    /// The erasure of the slots of `targets` in the side-car frame whose stored bytes are `stored` and whose
    /// decompressed (`CLF2`) content is `content`; nil when every such slot is erased already.
    static func make(
        _ location: FrameLocation, stored: [UInt8], content: [UInt8], targets: ErasureTargets
    ) throws(LedgerError) -> SlotErasure? {
        let outcome = stored.withUnsafeBytes { stored in
            content.withUnsafeBytes { content in
                Result { () throws(SideCarError) in
                    try SealedSideCar.erasure(content: content, stored: stored) { call, dataClass in
                        targets.contains(call: call, dataClass: dataClass)
                    }
                }
            }
        }
        let result: (writes: [SealedSideCar.Write], erasedByCall: [String: Int])
        do { result = try outcome.get() } catch {
            throw .corrupt(
                segment: LedgerLayout.segmentName(firstSeq: location.segment), offset: location.offset,
                seq: location.firstSeq, reason: error.description)
        }
        guard !result.writes.isEmpty else { return nil }
        let writes = result.writes.map { SealedSideCar.Write(offset: location.offset + $0.offset, bytes: $0.bytes) }
        return SlotErasure(location: location, writes: writes, erasedByCall: result.erasedByCall)
    }
}

/// The journal of one batch of slot writes (FORMAT.md §8): `"CLJ2"`, varint count, then per write the varints
/// segment (its first seq), offset and length and the bytes; last, the SHA-256 of everything before it.
struct SlotJournal {
    /// The journal's first four bytes.
    static let magic: [UInt8] = Array("CLJ2".utf8)

    /// Per write: the segment and the write.
    var writes: [(segment: UInt64, write: SealedSideCar.Write)]

    /// The journal's bytes.
    func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes.appendVarint(UInt64(writes.count))
        for (segment, write) in writes {
            bytes.appendVarint(segment)
            bytes.appendVarint(UInt64(write.offset))
            bytes.appendVarint(UInt64(write.bytes.count))
            bytes.append(contentsOf: write.bytes)
        }
        SHA256.hash(bytes).append(to: &bytes)
        return bytes
    }

    /// The journal in `bytes`, or nil when it is incomplete (no slot was overwritten yet) or does not parse, or
    /// a write lies outside its segment (`sizes` gives a segment's size, nil when it is absent).
    static func decode(_ bytes: [UInt8], sizes: (UInt64) -> Int?) -> SlotJournal? {
        guard bytes.count >= magic.count + 32, bytes.starts(with: magic) else { return nil }
        let body = Array(bytes[0..<bytes.count - 32])
        guard SHA256.hash(body) == SHA256Digest(bytes: Array(bytes[(bytes.count - 32)...])) else { return nil }
        var writes: [(segment: UInt64, write: SealedSideCar.Write)] = []
        let parsed = body.withUnsafeBytes { raw -> Bool in
            var reader = ByteReader(raw, offset: magic.count)
            do {
                let count = try reader.readVarint()
                for _ in 0..<count {
                    let segment = try reader.readVarint()
                    guard let offset = Int(exactly: try reader.readVarint()),
                        let length = Int(exactly: try reader.readVarint())
                    else { return false }
                    let end = offset.addingReportingOverflow(length)
                    guard !end.overflow, end.partialValue <= sizes(segment) ?? -1 else { return false }
                    let range = try reader.readRange(count: length)
                    writes.append((segment, SealedSideCar.Write(offset: offset, bytes: Array(raw[range]))))
                }
                return reader.offset == raw.count
            } catch {
                return false
            }
        }
        return parsed ? SlotJournal(writes: writes) : nil
    }
}

extension LedgerStorage {
    /// Writes each slot write into its segment, then fsyncs every segment written. With `faultPoints`, the test
    /// fault point `overwriting` is reached after the first write.
    func apply(
        _ writes: [(segment: UInt64, write: SealedSideCar.Write)], faultPoints: Bool = false
    )
        throws(LedgerError)
    {
        var files: [UInt64: POSIXFile] = [:]
        for (position, (segment, write)) in writes.enumerated() {
            if files[segment] == nil {
                files[segment] = try POSIXFile(path: layout.segmentPath(firstSeq: segment), flags: O_RDWR)
            }
            try files[segment]?.write(write.bytes, at: write.offset)
            if faultPoints && position == 0 { CompactionFault.reach("overwriting") }
        }
        for segment in files.keys.sorted() { try files[segment]?.sync() }
    }

    /// Replays a complete `CLJ2` journal in `bytes` (idempotent: the slots get the same bytes again); returns
    /// the writes replayed, 0 for an incomplete journal (no slot was overwritten yet).
    func replaySlotJournal(_ bytes: [UInt8]) throws(LedgerError) -> Int {
        let journal = SlotJournal.decode(bytes) { segment in
            try? POSIXFile(path: layout.segmentPath(firstSeq: segment), flags: O_RDONLY).size()
        }
        guard let journal else { return 0 }
        try apply(journal.writes)
        return journal.writes.count
    }
}

extension LedgerWriter {
    /// Erases the slots of `erasures` crash-safely: the journal is made durable, then the slots are written and
    /// their segments fsynced, then the journal is removed. The index does not change.
    func overwrite(_ erasures: [SlotErasure]) throws(LedgerError) {
        let writes = erasures.flatMap { erasure in erasure.writes.map { (erasure.location.segment, $0) } }
        guard !writes.isEmpty else { return }
        let journal = SlotJournal(writes: writes)
        let file = try POSIXFile(path: layout.compactionJournal, flags: O_WRONLY | O_CREAT | O_TRUNC)
        try file.write(journal.encoded(), at: 0)
        try file.sync()
        try FileSystem.syncDirectory(layout.segments)
        CompactionFault.reach("journal")
        try storage.apply(writes, faultPoints: true)
        CompactionFault.reach("overwritten")
        try FileSystem.remove(layout.compactionJournal)
    }
}

extension LedgerStorage {
    /// The stored bytes of the frame at `location`, its content decompressed into `content` as stored: compact
    /// records (FORMAT.md §2.2) are not expanded, since the walk of a side-car frame's slots reads them as they are.
    static func frame(
        _ location: FrameLocation, layout: LedgerLayout, decompressor: ZstdDecompressor, content: inout [UInt8]
    ) throws(LedgerError) -> [UInt8] {
        let name = LedgerLayout.segmentName(firstSeq: location.segment)
        let stored = try POSIXFile(path: layout.segmentPath(firstSeq: location.segment), flags: O_RDONLY)
            .read(count: location.storedBytes, at: location.offset)
        guard stored.count == location.storedBytes else {
            throw .corrupt(
                segment: name, offset: location.offset, seq: location.firstSeq,
                reason: "the segment ends inside the frame the index lists; run `call-ledger verify`")
        }
        let problem = stored.withUnsafeBytes {
            decompressor.decompress($0, into: &content, maximumSize: RecordLimits.maximumFrameContentBytes)
        }
        if let problem {
            throw .corrupt(segment: name, offset: location.offset, seq: location.firstSeq, reason: "zstd: \(problem)")
        }
        return stored
    }
}
