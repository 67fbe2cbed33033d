// Walks the zstd frames of a segment file, decompressing and validating each, and tells a torn tail
// (a last frame whose bytes did not all reach the disk) from corruption (FORMAT.md §2).
import CZstd
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
    /// How a frame can be faulty; only the first three can be a torn write.
    enum Kind {
        /// A zstd frame starts here but the file ends before it does.
        case incomplete
        /// Only zero bytes follow: the file was extended but the frame's data never reached the disk.
        case zeroFilled
        /// A complete zstd frame that does not decompress or whose content checksum fails.
        case undecodable
        /// Bytes that are not the start of a zstd frame.
        case notAFrame
        /// A frame that decompresses with a valid checksum but whose content does not decode: the bytes are the
        /// ones written, so this is never a torn write.
        case content
    }

    /// Byte offset of the faulty frame.
    var offset: Int
    /// The frame's compressed size, when its header could be read.
    var size: Int?
    /// What is wrong.
    var reason: String
    /// The kind of fault.
    var kind: Kind
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
        guard let size = frameBytes else { throw incompleteFrameFault(at: offset) }
        let problem = bytes.withUnsafeBytes { raw in
            decompressor.decompress(
                UnsafeRawBufferPointer(rebasing: raw[offset..<offset + size]), into: &content,
                maximumSize: maximumFrameContent)
        }
        if let problem {
            throw FrameFault(offset: offset, size: size, reason: "zstd: \(problem)", kind: .undecodable)
        }
        let contentBytes = content.count
        let joined = bytes.withUnsafeBytes { raw in
            var copy = content
            return Result { () throws(SideCarError) in
                try SealedSideCar.join(&copy, stored: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + size]))
                return copy
            }
        }
        do { content = try joined.get() } catch {
            // A frame whose side-car the file ends before (or inside) can be a torn write; anything else cannot.
            let atEnd = offset + size == bytes.count || cutSkippableFrame(after: offset)
            if case .missing = error, atEnd {
                throw FrameFault(offset: offset, size: nil, reason: error.description, kind: .incomplete)
            }
            throw FrameFault(offset: offset, size: size, reason: error.description, kind: .content)
        }
        var result: Result<ScannedFrame, FrameFault>!
        content.withUnsafeBytes { raw in
            do {
                let frame = try FrameContent(raw)
                if let records { try frame.forEachRecord(records) }
                result = .success(
                    ScannedFrame(
                        offset: offset, storedBytes: size, firstSeq: frame.firstSeq, count: frame.count,
                        inputBytes: frame.inputBytes, contentBytes: contentBytes))
            } catch {
                result = .failure(
                    FrameFault(offset: offset, size: size, reason: "frame content: \(error)", kind: .content))
            }
        }
        return try result.get()
    }

    /// The fault of the bytes at `offset`, where no complete zstd frame starts.
    private func incompleteFrameFault(at offset: Int) -> FrameFault {
        let remaining = bytes.count - offset
        if bytes[offset...].allSatisfy({ $0 == 0 }) {
            return FrameFault(
                offset: offset, size: nil,
                reason: "the segment ends with \(remaining) zero bytes where a frame should start", kind: .zeroFilled)
        }
        let magic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]
        if remaining < magic.count {
            // The start of a zstd frame, or of the side-car or marker that follows one (written by the same call).
            let prefix = bytes[offset...].elementsEqual(magic.prefix(remaining)) || startsSkippableMagic(at: offset)
            return FrameFault(
                offset: offset, size: nil,
                reason: prefix
                    ? "a frame starts here but the segment ends \(remaining) bytes into it"
                    : "no zstd frame starts here (overwritten or not a segment)",
                kind: prefix ? .incomplete : .notAFrame)
        }
        let code = bytes.withUnsafeBytes { raw in
            ZSTD_getErrorCode(ZSTD_findFrameCompressedSize(raw.baseAddress.map { $0 + offset }, remaining))
        }
        if code == ZSTD_error_srcSize_wrong {
            return FrameFault(
                offset: offset, size: nil,
                reason: "a zstd frame starts here but the segment ends \(remaining) bytes into it", kind: .incomplete)
        }
        if code == ZSTD_error_no_error, cutSkippableFrame(after: offset) {
            // A complete zstd frame whose side-car (or padding) the file ends inside (FORMAT.md §2.1).
            return FrameFault(
                offset: offset, size: nil,
                reason: "the segment ends \(remaining) bytes into a frame, inside the skippable frame after it",
                kind: .incomplete)
        }
        return FrameFault(
            offset: offset, size: nil,
            reason: "no zstd frame starts here (overwritten or not a segment)", kind: .notAFrame)
    }

    /// Whether the bytes at `position` begin like a skippable frame: up to its 4-byte magic number, as much of it
    /// as the segment holds.
    private func startsSkippableMagic(at position: Int) -> Bool {
        let magic: [UInt8] = [0x50, 0x2A, 0x4D, 0x18]
        return bytes[position..<min(position + magic.count, bytes.count)].enumerated().allSatisfy { index, byte in
            index == 0 ? byte & 0xF0 == 0x50 : byte == magic[index]
        }
    }

    /// Whether the complete zstd frame at `offset` is followed by skippable frames the last of which the file
    /// ends inside (its 8-byte header or its declared bytes cut short).
    private func cutSkippableFrame(after offset: Int) -> Bool {
        bytes.withUnsafeBytes { raw in
            var position =
                offset + ZSTD_findFrameCompressedSize(raw.baseAddress.map { $0 + offset }, raw.count - offset)
            while position < raw.count {
                guard position + 8 <= raw.count else { return startsSkippableMagic(at: position) }
                let magic = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: position, as: UInt32.self))
                guard magic & 0xFFFF_FFF0 == Zstd.skippableMagic else { return false }
                let size = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self)))
                guard position + 8 + size <= raw.count else { return true }
                position += 8 + size
            }
            return false
        }
    }

    /// Whether `fault`, at the frame that should start at seq `expectedSeq`, is a torn write that a writer's
    /// recovery may cut: in the last segment, an incomplete or zero-filled frame or a complete one that fails to
    /// decompress or checksum, with no valid frame after it, or followed to the segment's end only by frames of
    /// its own commit group (see `endsWithTornGroup`). A frame that decompresses with a valid checksum is never
    /// torn, whatever its content.
    func isTornTail(_ fault: FrameFault, inLastSegment: Bool, expectedSeq: UInt64) -> Bool {
        guard inLastSegment else { return false }
        switch fault.kind {
        case .incomplete, .zeroFilled:
            if !hasValidFrame(after: fault.offset) { return true }
        case .undecodable:
            if fault.size.map({ fault.offset + $0 == bytes.count }) ?? false { return true }
        case .notAFrame:
            break
        case .content:
            return false
        }
        return endsWithTornGroup(after: fault, expectedSeq: expectedSeq)
    }

    /// Whether every frame after the faulty one to the end of the segment is an intact frame whose commit-group
    /// marker names one group that began at or before `expectedSeq` (the last of them may itself be torn). The
    /// frames of a group become durable by one sync, and a later group is written only after it: so the faulty
    /// frame belongs to the last group written, whose sync did not complete and of which nothing was
    /// acknowledged (FORMAT.md §2).
    func endsWithTornGroup(after fault: FrameFault, expectedSeq: UInt64) -> Bool {
        var starts: [Int] = []
        if let size = fault.size { starts.append(fault.offset + size) }
        if let next = nextValidFrame(after: fault.offset), !starts.contains(next) { starts.append(next) }
        return starts.contains { start in framesOfOneGroup(from: start, startingBy: expectedSeq) }
    }

    /// Whether the frames from `start` to the end of the segment are intact frames of one commit group that began
    /// at or before seq `groupStart`, the last possibly torn, with at least one intact.
    private func framesOfOneGroup(from start: Int, startingBy groupStart: UInt64) -> Bool {
        var content: [UInt8] = []
        var offset = start
        var group: UInt64?
        while offset < bytes.count {
            let frame: ScannedFrame
            do throws(FrameFault) { frame = try readFrame(at: offset, content: &content) } catch {
                let tornLast =
                    switch error.kind {
                    case .incomplete, .zeroFilled: !hasValidFrame(after: offset)
                    case .undecodable: error.size.map { offset + $0 == bytes.count } ?? false
                    case .notAFrame, .content: false
                    }
                return tornLast && group != nil
            }
            let marked = bytes.withUnsafeBytes { raw in
                CommitGroupMarker.groupFirstSeq(
                    inStored: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + frame.storedBytes]))
            }
            guard let marked, marked <= groupStart, frame.firstSeq > groupStart, group.map({ $0 == marked }) ?? true
            else { return false }
            group = marked
            offset += frame.storedBytes
        }
        return group != nil
    }

    /// The offset of the first complete, valid zstd frame that starts after `offset`, if any.
    func nextValidFrame(after offset: Int) -> Int? {
        var content: [UInt8] = []
        var position = offset + 1
        while position + 4 <= bytes.count {
            let magic = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: position, as: UInt32.self) }
            if UInt32(littleEndian: magic) == Zstd.magic, (try? readFrame(at: position, content: &content)) != nil {
                return position
            }
            position += 1
        }
        return nil
    }

    /// Whether any complete, valid zstd frame starts after `offset` (used to tell a torn tail from corruption).
    func hasValidFrame(after offset: Int) -> Bool {
        nextValidFrame(after: offset) != nil
    }
}
