// Reading the log without the index: the segment files are walked frame by frame from seq 0, each frame checked
// to continue the one before, so that what a proof or an audit bundle claims (every event of a call) is
// established from the log itself, never from index.sqlite (DESIGN.md §9).
import LedgerCore

extension LedgerStorage {
    /// Calls `body` with every record of the log whose call is `call` (every record when nil), in seq order, by
    /// walking the segment files (never the index): each frame is decompressed and must start where the previous
    /// one ended, from seq 0. Returns the number of events the walk read, which must be the log's size.
    ///
    /// Costs one pass over the log: every frame is decompressed (see FORMAT.md §12.2 for measured times).
    func walkLog(
        call: String?, _ body: (RecordView) throws(LedgerError) -> Void
    ) throws(LedgerError) -> UInt64 {
        let wanted = call.map { Array($0.utf8) }
        var expected: UInt64 = 0
        var content: [UInt8] = []
        var scratch: [UInt8] = []
        for segmentSeq in try segmentFirstSeqs() {
            let name = LedgerLayout.segmentName(firstSeq: segmentSeq)
            let file = try MappedFile(path: layout.segmentPath(firstSeq: segmentSeq))
            let bytes = file.bytes
            if segmentSeq != expected && !bytes.isEmpty {
                throw .corrupt(
                    segment: name, offset: 0, seq: expected,
                    reason: "segment is named for seq \(segmentSeq) but the log continues at seq \(expected)")
            }
            var offset = 0
            while offset < bytes.count {
                guard let size = Zstd.frameSize(UnsafeRawBufferPointer(rebasing: bytes[offset...])) else {
                    throw .corrupt(
                        segment: name, offset: offset, seq: expected,
                        reason: "no complete zstd frame starts here (torn or overwritten); run `call-ledger verify`")
                }
                if let problem = decompressor.decompress(
                    UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + size]), into: &content,
                    maximumSize: RecordLimits.maximumFrameContentBytes)
                {
                    throw .corrupt(segment: name, offset: offset, seq: expected, reason: "zstd: \(problem)")
                }
                try SealedSideCar.join(
                    &content, stored: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + size]), segment: name,
                    offset: offset, seq: expected, scratch: &scratch)
                let (firstSeq, count) = try Self.forEachRecord(
                    inContent: content, segment: name, offset: offset, seq: expected, startingAt: expected
                ) { record throws(LedgerError) in
                    if let wanted,
                        !UnsafeRawBufferPointer(rebasing: record.bytes[record.callRange]).elementsEqual(wanted)
                    {
                        return
                    }
                    try body(record)
                }
                guard firstSeq == expected else {
                    throw .corrupt(
                        segment: name, offset: offset, seq: expected,
                        reason: "frame starts at seq \(firstSeq), expected \(expected)")
                }
                expected += UInt64(count)
                offset += size
            }
        }
        return expected
    }
}
