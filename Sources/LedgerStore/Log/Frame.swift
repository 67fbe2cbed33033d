// Frame contents: the header and length-prefixed records that one zstd frame holds (FORMAT.md §2).
import LedgerCore

/// Builds the decompressed content of one frame (one commit batch).
struct FrameBuilder {
    /// `CLF1`: the first four bytes of every frame's content.
    static let magic: [UInt8] = Array("CLF1".utf8)

    private(set) var records: [UInt8] = []
    /// Where each record's bytes are in `records`.
    private(set) var recordRanges: [Range<Int>] = []
    private(set) var firstSeq: UInt64 = 0
    private(set) var count = 0
    private(set) var inputBytes = 0

    /// An empty frame whose first record will be `firstSeq`, with room for `capacity` bytes of records.
    init(firstSeq: UInt64, capacity: Int = 1 << 17) {
        self.firstSeq = firstSeq
        records.reserveCapacity(capacity)
    }

    /// Appends a record (already encoded) that arrived as `inputBytes` of interchange JSON.
    mutating func append(record: [UInt8], inputBytes: Int) {
        records.appendVarint(UInt64(record.count))
        recordRanges.append(records.count..<records.count + record.count)
        records.append(contentsOf: record)
        count += 1
        self.inputBytes += inputBytes
    }

    /// The idempotency key of the record with `seq`, if this frame holds it.
    func idempotency(of seq: UInt64) -> String? {
        guard seq >= firstSeq, seq - firstSeq < UInt64(count) else { return nil }
        let range = recordRanges[Int(seq - firstSeq)]
        return records.withUnsafeBytes { raw in
            // The record was encoded by this process, so it parses.
            (try? RecordView(UnsafeRawBufferPointer(rebasing: raw[range])))?.idempotency
        }
    }

    /// The frame content's header: magic, first seq, record count, interchange bytes. The records follow it.
    var header: [UInt8] {
        var out = Self.magic
        out.appendVarint(firstSeq)
        out.appendVarint(UInt64(count))
        out.appendVarint(UInt64(inputBytes))
        return out
    }
}

/// A parsed frame content. It does not own its bytes.
struct FrameContent {
    let bytes: UnsafeRawBufferPointer
    let firstSeq: UInt64
    let count: Int
    let inputBytes: Int
    let recordsStart: Int

    /// Parses the header of `bytes`.
    init(_ bytes: UnsafeRawBufferPointer) throws(DecodingError) {
        self.bytes = bytes
        guard bytes.count >= 4, bytes[0] == 0x43, bytes[1] == 0x4C, bytes[2] == 0x46, bytes[3] == 0x31 else {
            throw .invalidByte(offset: 0, what: "frame magic (expected CLF1)")
        }
        var reader = ByteReader(bytes, offset: 4)
        firstSeq = try reader.readVarint()
        let count = try reader.readVarint()
        guard count <= UInt64(bytes.count) else { throw .invalidByte(offset: reader.offset, what: "record count") }
        self.count = Int(count)
        inputBytes = Int(clamping: try reader.readVarint())
        recordsStart = reader.offset
    }

    /// Calls `body` with each record's view, checking that seqs run on from `firstSeq`.
    func forEachRecord(_ body: (RecordView) throws -> Void) throws {
        var reader = ByteReader(bytes, offset: recordsStart)
        for index in 0..<count {
            let range = try reader.readLengthPrefixedRange()
            let record = try RecordView(UnsafeRawBufferPointer(rebasing: bytes[range]))
            guard record.seq == firstSeq + UInt64(index) else {
                throw DecodingError.invalidByte(
                    offset: range.lowerBound, what: "record seq \(record.seq) (expected \(firstSeq + UInt64(index)))")
            }
            try body(record)
        }
        guard reader.isAtEnd else {
            throw DecodingError.invalidByte(offset: reader.offset, what: "data after the last record")
        }
    }
}
