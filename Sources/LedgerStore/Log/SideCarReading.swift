// Reading frames of the sealed side-car layout (FORMAT.md §2.1) and of compact records (§2.2): after decompression,
// a frame's content is expanded and joined with its side-car into the inline form every reader parses, failures
// reported as corruption at the frame.
import LedgerCore

extension SealedSideCar {
    /// Joins `content`, just decompressed from `stored` (the frame's stored bytes), with its side-car when it has
    /// one (`SealedSideCar.join`); a side-car that is missing or malformed is corruption of the frame at `offset`
    /// of `segment`, whose first seq is `seq`. `scratch` is a buffer reused from frame to frame, as in
    /// `SealedSideCar.join(_:stored:scratch:)`.
    static func join(
        _ content: inout [UInt8], stored: UnsafeRawBufferPointer, segment: String, offset: Int, seq: UInt64,
        scratch: inout [UInt8]
    ) throws(LedgerError) {
        do { try join(&content, stored: stored, scratch: &scratch) } catch {
            throw .corrupt(segment: segment, offset: offset, seq: seq, reason: error.description)
        }
    }
}

extension CompactRecords {
    /// `CompactRecords.expand`, a failure reported as corruption of the frame at `location`.
    static func expand(_ content: inout [UInt8], frame location: FrameLocation) throws(LedgerError) {
        do { try expand(&content) } catch {
            throw .corrupt(
                segment: LedgerLayout.segmentName(firstSeq: location.segment), offset: location.offset,
                seq: location.firstSeq, reason: "compact records: \(error)")
        }
    }
}
