// A segment file's frames for tests that read or alter stored bytes: each zstd frame's offset, stored size, first
// seq and decompressed content, its records, and a frame compressed from records.
import Foundation
import LedgerCore
import Testing

/// One zstd frame of a segment file: where it is and its decompressed content.
public struct SegmentFrame {
    /// Where the zstd frame starts in the segment.
    public var offset: Int
    /// Its stored bytes: the zstd frame and the skippable frames right after it (side-car, marker, padding).
    public var size: Int
    /// The seq of its first record.
    public var firstSeq: UInt64
    /// Its decompressed content.
    public var content: [UInt8]

    /// The frames of the segment at `path`, in order; with `expanding`, compact content (FORMAT.md §2.2) is
    /// expanded: a test can then alter the records as the writer encoded them and store the frame back in that
    /// plain form, which readers accept as well.
    public static func all(in path: String, expanding: Bool = true) throws -> [SegmentFrame] {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let decompressor = try ZstdDecompressor()
        var frames: [SegmentFrame] = []
        var offset = 0
        while offset < bytes.count {
            let size = try #require(
                bytes.withUnsafeBytes { Zstd.frameSize(UnsafeRawBufferPointer(rebasing: $0[offset...])) })
            var content: [UInt8] = []
            let failure = bytes.withUnsafeBytes {
                decompressor.decompress(
                    UnsafeRawBufferPointer(rebasing: $0[offset..<offset + size]), into: &content, maximumSize: 1 << 30)
            }
            try #require(failure == nil)
            if expanding { try CompactRecords.expand(&content) }
            let firstSeq = try content.withUnsafeBytes { raw in
                var reader = ByteReader(raw, offset: 4)
                return try reader.readVarint()
            }
            frames.append(SegmentFrame(offset: offset, size: size, firstSeq: firstSeq, content: content))
            offset += size
        }
        return frames
    }

    /// The frame content's header (magic, first seq, count, input bytes) and its records' bytes.
    public func records() throws -> (header: [UInt8], records: [[UInt8]]) {
        try content.withUnsafeBytes { raw in
            var reader = ByteReader(raw, offset: 4)
            _ = try reader.readVarint()
            let count = try reader.readVarint()
            _ = try reader.readVarint()
            let header = Array(content[..<reader.offset])
            var records: [[UInt8]] = []
            for _ in 0..<count { records.append(Array(content[try reader.readLengthPrefixedRange()])) }
            return (header, records)
        }
    }

    /// A valid zstd frame (checksum and content size set) whose content is `header` and `records`.
    public static func compress(header: [UInt8], records: [[UInt8]]) throws -> [UInt8] {
        var content = header
        for record in records {
            content.appendVarint(UInt64(record.count))
            content.append(contentsOf: record)
        }
        var frame: [UInt8] = []
        try ZstdCompressor(level: 5).compress(content, appendingTo: &frame)
        return frame
    }
}
