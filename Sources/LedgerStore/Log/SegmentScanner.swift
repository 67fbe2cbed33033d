// Walks the zstd frames of a segment file, decompressing and validating each, and tells a torn tail
// (an incomplete or corrupt last frame) from corruption in the middle of the log.
import LedgerCore

/// One valid frame found in a segment.
struct ScannedFrame {
    /// Byte offset of the frame in its segment.
    var offset: Int
    /// Compressed size.
    var storedBytes: Int
    /// First seq and record count from the frame header.
    var firstSeq: UInt64
    var count: Int
    /// Interchange bytes recorded in the header.
    var inputBytes: Int
    /// Decompressed size.
    var contentBytes: Int
}

/// What is wrong with the frame at an offset.
struct FrameFault: Error {
    /// Byte offset of the faulty frame.
    var offset: Int
    /// The frame's compressed size, when its header could be read.
    var size: Int?
    /// What is wrong.
    var reason: String
}

/// Reads frames from one segment's bytes.
struct SegmentScanner {
    let bytes: [UInt8]
    let name: String
    let maximumFrameContent: Int
    private let decompressor: ZstdDecompressor

    init(
        bytes: [UInt8], name: String, decompressor: ZstdDecompressor,
        maximumFrameContent: Int = RecordLimits.maximumFrameContentBytes
    ) {
        self.bytes = bytes
        self.name = name
        self.decompressor = decompressor
        self.maximumFrameContent = maximumFrameContent
    }

    /// Decompresses and parses the frame at `offset` into `content`, returning its description; calls
    /// `records` with each record when given.
    func readFrame(
        at offset: Int, content: inout [UInt8], records: ((RecordView) throws -> Void)? = nil
    ) throws(FrameFault) -> ScannedFrame {
        let frameBytes = bytes.withUnsafeBytes { raw in
            Zstd.frameSize(UnsafeRawBufferPointer(rebasing: raw[offset...]))
        }
        guard let size = frameBytes else {
            throw FrameFault(
                offset: offset, size: nil, reason: "no complete zstd frame starts here (torn or overwritten)")
        }
        let problem = bytes.withUnsafeBytes { raw in
            decompressor.decompress(
                UnsafeRawBufferPointer(rebasing: raw[offset..<offset + size]), into: &content,
                maximumSize: maximumFrameContent)
        }
        if let problem { throw FrameFault(offset: offset, size: size, reason: "zstd: \(problem)") }
        var result: Result<ScannedFrame, FrameFault>!
        content.withUnsafeBytes { raw in
            do {
                let frame = try FrameContent(raw)
                if let records { try frame.forEachRecord(records) }
                result = .success(
                    ScannedFrame(
                        offset: offset, storedBytes: size, firstSeq: frame.firstSeq, count: frame.count,
                        inputBytes: frame.inputBytes, contentBytes: raw.count))
            } catch {
                result = .failure(FrameFault(offset: offset, size: size, reason: "frame content: \(error)"))
            }
        }
        return try result.get()
    }

    /// Whether any complete, valid zstd frame starts after `offset` (used to tell a torn tail from corruption).
    func hasValidFrame(after offset: Int) -> Bool {
        var content: [UInt8] = []
        var position = offset + 1
        while position + 4 <= bytes.count {
            let magic = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: position, as: UInt32.self) }
            if UInt32(littleEndian: magic) == Zstd.magic, (try? readFrame(at: position, content: &content)) != nil {
                return true
            }
            position += 1
        }
        return false
    }
}
