// The sealed side-car layout of a frame (FORMAT.md §2.1): a frame's sealed bytes are kept out of its zstd content,
// raw, in one zstd skippable frame right after it, so that erasing a part overwrites its slot in place and nothing
// is recompressed. Splits content for the writer, joins it back into the inline form every reader parses, and
// lists the slot bytes an erasure overwrites.
import CZstd

/// A side-car that is missing or does not match its frame's content.
public enum SideCarError: Error, Equatable, CustomStringConvertible {
    /// The stored bytes end before the side-car does (or before it starts): a torn write when at the end of the log.
    case missing(reason: String)
    /// The side-car is present but malformed, or a record of the content does not parse.
    case invalid(reason: String)
    /// The content's compact records (FORMAT.md §2.2) do not expand.
    case compactRecords(DecodingError)

    /// A message a person can act on.
    public var description: String {
        switch self {
        case .missing(let reason), .invalid(let reason): "sealed side-car: \(reason)"
        case .compactRecords(let error): "compact records: \(error)"
        }
    }
}

/// The sealed side-car layout: splitting a frame's sealed bytes out, joining them back, erasing slots.
public enum SealedSideCar {
    /// `CLF2`: content magic of a frame whose records keep their sealed bytes in the side-car.
    public static let contentMagic: [UInt8] = Array("CLF2".utf8)
    /// `CLF1`: content magic of a frame whose records hold their sealed bytes inline.
    public static let inlineMagic: [UInt8] = Array("CLF1".utf8)
    /// Magic number of the side-car's skippable frame (the second of RFC 8878's sixteen).
    public static let magic: UInt32 = 0x184D_2A51
    /// Part form of a part whose sealed bytes are in the side-car: `string class, 0x03, varint length`.
    public static let partForm: UInt8 = 0x03
    /// A slot is never shorter than this: it must hold a SHA-256 digest once erased.
    public static let minimumSlot = 32

    /// The bytes a slot of a part with `length` sealed bytes takes in the side-car.
    public static func slotSize(_ length: Int) -> Int { max(length, minimumSlot) }

    /// Whether the content starts with `CLF2`.
    public static func isSideCarContent(_ content: UnsafeRawBufferPointer) -> Bool {
        content.count >= 4 && content[0] == 0x43 && content[1] == 0x4C && content[2] == 0x46 && content[3] == 0x32
    }

    /// Whether the content is of a frame with a side-car: `CLF2`, or its compact form `CLF4` (FORMAT.md §2.2).
    public static func hasSideCar(_ content: UnsafeRawBufferPointer) -> Bool {
        isSideCarContent(content) || (CompactRecords.isCompact(content) && content[3] == 0x34)
    }

    // MARK: - Writing

    /// Splits a frame given as its inline (`CLF1`) header and length-prefixed records: every sealed part (form
    /// `0x01`) becomes form `0x03` and its bytes move to the side-car. Returns the `CLF2` header, the new records
    /// and the side-car's skippable frame, or nil when no record has a sealed part (the frame stays inline).
    public static func split(
        header: [UInt8], records: [UInt8]
    ) throws(DecodingError) -> (header: [UInt8], records: [UInt8], sideCar: [UInt8])? {
        var newRecords: [UInt8] = []
        newRecords.reserveCapacity(records.count)
        var slots: [UInt8] = []
        var slotCount = 0
        var record: [UInt8] = []
        let failure = records.withUnsafeBytes { raw -> DecodingError? in
            var reader = ByteReader(raw)
            do throws(DecodingError) {
                while !reader.isAtEnd {
                    let range = try reader.readLengthPrefixedRange()
                    let view = try RecordView(UnsafeRawBufferPointer(rebasing: raw[range]))
                    record.removeAll(keepingCapacity: true)
                    record.append(contentsOf: UnsafeRawBufferPointer(rebasing: view.bytes[..<view.partsStart]))
                    view.forEachPart { _, part in
                        record.appendVarint(UInt64(part.classRange.count))
                        record.append(contentsOf: UnsafeRawBufferPointer(rebasing: view.bytes[part.classRange]))
                        let payload = UnsafeRawBufferPointer(rebasing: view.bytes[part.payloadRange])
                        guard part.form == RecordEncoder.partSealed else {
                            record.append(part.form)
                            record.append(contentsOf: payload)
                            return
                        }
                        record.append(partForm)
                        record.appendVarint(UInt64(payload.count))
                        slots.append(contentsOf: payload)
                        slots.append(contentsOf: repeatElement(0, count: slotSize(payload.count) - payload.count))
                        slotCount += 1
                    }
                    newRecords.appendVarint(UInt64(record.count))
                    newRecords.append(contentsOf: record)
                }
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
        guard slotCount > 0, header.count >= 4 else { return nil }
        let bitmapBytes = (slotCount + 7) / 8
        var sideCar: [UInt8] = []
        sideCar.reserveCapacity(8 + bitmapBytes + slots.count)
        withUnsafeBytes(of: magic.littleEndian) { sideCar.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: bitmapBytes + slots.count).littleEndian) {
            sideCar.append(contentsOf: $0)
        }
        sideCar.append(contentsOf: repeatElement(0, count: bitmapBytes))
        sideCar.append(contentsOf: slots)
        return (contentMagic + header[4...], newRecords, sideCar)
    }

    // MARK: - Reading

    /// Where a side-car frame's pieces are within its stored bytes.
    struct Geometry {
        /// Offset of the bitmap (after the skippable frame's 8-byte header).
        var bitmap: Int
        /// Offset of the first slot.
        var slots: Int
        /// Offset just after the last slot.
        var end: Int
    }

    /// Calls `body` with each record range of `CLF2` or `CLF4` content and, per part, its slot (nil for an inline
    /// part).
    /// Checks that the slots tile the side-car found in `stored` right after the zstd frame.
    static func walk(
        content: UnsafeRawBufferPointer, stored: UnsafeRawBufferPointer,
        _ body: (Range<Int>, RecordParts) throws(SideCarError) -> Void
    ) throws(SideCarError) -> Geometry {
        let frameSize = ZSTD_findFrameCompressedSize(stored.baseAddress, stored.count)
        guard ZSTD_isError(frameSize) == 0 else { throw .invalid(reason: "the stored bytes are not a zstd frame") }
        guard frameSize + 8 <= stored.count else {
            throw .missing(reason: "the frame at this offset has no side-car after its zstd frame")
        }
        guard UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: frameSize, as: UInt32.self)) == magic else {
            throw .invalid(reason: "the zstd frame is not followed by a side-car (magic 0x184D2A51)")
        }
        let declared = Int(UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: frameSize + 4, as: UInt32.self)))
        let start = frameSize + 8
        guard declared <= stored.count - start else {
            throw .missing(
                reason: "the stored bytes end \(stored.count - start) bytes into a \(declared)-byte side-car")
        }
        // Every record's parts go into one array (a record's `parts` is a slice of it): a frame of a thousand
        // records then allocates once instead of once per record.
        var parsed: [(range: Range<Int>, record: RecordParts, parts: Range<Int>)] = []
        var allParts: [RecordParts.Part] = []
        do throws(DecodingError) {
            let compact = CompactRecords.isCompact(content)
            var reader = ByteReader(content, offset: 4)
            _ = try reader.readVarint()
            let count = try reader.readVarint()
            _ = try reader.readVarint()
            for _ in 0..<count {
                let range = try reader.readLengthPrefixedRange()
                let first = allParts.count
                let record = try RecordParts(
                    UnsafeRawBufferPointer(rebasing: content[range]), base: range.lowerBound, compact: compact,
                    appendingTo: &allParts)
                parsed.append((range, record, first..<allParts.count))
            }
            guard reader.isAtEnd else { throw DecodingError.invalidByte(offset: reader.offset, what: "trailing data") }
        } catch {
            throw .invalid(reason: "frame content: \(error)")
        }
        let slotCount = allParts.count { $0.sideCarLength != nil }
        let bitmap = start
        let slotsStart = bitmap + (slotCount + 7) / 8
        var offset = slotsStart
        for index in allParts.indices {
            guard let length = allParts[index].sideCarLength else { continue }
            allParts[index].slotOffset = offset
            offset += slotSize(length)
        }
        for (range, var record, parts) in parsed {
            record.parts = allParts[parts]
            try body(range, record)
        }
        guard offset == start + declared else {
            throw .invalid(
                reason: "the side-car holds \(declared) bytes, its frame's parts take \(offset - start)")
        }
        return Geometry(bitmap: bitmap, slots: slotsStart, end: offset)
    }

    /// When `content` is a `CLF2` frame's content, replaces it with the inline (`CLF1`) content it stands for,
    /// taking each part's sealed bytes (form `0x01`) or, for an erased slot, its digest (form `0x02`) from the
    /// side-car in `stored` (the frame's stored bytes, zstd frame first). Compact content (`CLF3`, `CLF4`) is
    /// expanded first (`CompactRecords.expand`). Inline content is left as it is.
    public static func join(_ content: inout [UInt8], stored: UnsafeRawBufferPointer) throws(SideCarError) {
        var scratch: [UInt8] = []
        try join(&content, stored: stored, scratch: &scratch)
    }

    /// `join`, writing into `scratch`'s buffer: on return `content` holds the joined content and `scratch` a
    /// buffer `content` had, so that a reader going from frame to frame reuses its buffers.
    public static func join(
        _ content: inout [UInt8], stored: UnsafeRawBufferPointer, scratch: inout [UInt8]
    ) throws(SideCarError) {
        do { try CompactRecords.expand(&content, scratch: &scratch) } catch { throw .compactRecords(error) }
        guard content.withUnsafeBytes({ isSideCarContent($0) }) else { return }
        scratch.removeAll(keepingCapacity: true)
        let failure = content.withUnsafeBytes { raw -> SideCarError? in
            do throws(SideCarError) {
                try inlineContent(raw, stored: stored, into: &scratch)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
        swap(&content, &scratch)
    }

    /// `join` for stored bytes held in an array.
    public static func join(_ content: inout [UInt8], stored: [UInt8]) throws(SideCarError) {
        let result = stored.withUnsafeBytes { raw in
            var copy = content
            return Result { () throws(SideCarError) in
                try join(&copy, stored: raw)
                return copy
            }
        }
        content = try result.get()
    }

    /// Appends to `joined` the inline content `CLF2` content `raw` stands for, with the side-car of `stored`.
    private static func inlineContent(
        _ raw: UnsafeRawBufferPointer, stored: UnsafeRawBufferPointer, into joined: inout [UInt8]
    ) throws(SideCarError) {
        do {
            var reader = ByteReader(raw, offset: 4)
            var headerEnd = 4
            do throws(DecodingError) {
                for _ in 0..<3 { _ = try reader.readVarint() }
                headerEnd = reader.offset
            } catch {
                throw .invalid(reason: "frame header: \(error)")
            }
            joined.reserveCapacity(stored.count + raw.count)
            joined.append(contentsOf: inlineMagic)
            joined.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[4..<headerEnd]))
            var slotIndex = 0
            var record: [UInt8] = []
            var pending: [(Range<Int>, RecordParts)] = []
            let geometry = try walk(content: raw, stored: stored) { range, parts throws(SideCarError) in
                pending.append((range, parts))
            }
            let bitmap = geometry.bitmap
            for (range, parts) in pending {
                record.removeAll(keepingCapacity: true)
                record.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[range.lowerBound..<parts.partsStart]))
                for part in parts.parts {
                    record.append(
                        contentsOf: UnsafeRawBufferPointer(
                            rebasing: raw[part.classRange.lowerBound - part.classPrefix..<part.classRange.upperBound]))
                    guard let length = part.sideCarLength, let slot = part.slotOffset else {
                        record.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[part.inlineRange]))
                        continue
                    }
                    let size = slotSize(length)
                    let erased = stored[bitmap + slotIndex / 8] & (1 << UInt8(slotIndex % 8)) != 0
                    let tail = erased ? slot + minimumSlot..<slot + size : slot + length..<slot + size
                    guard stored[tail].allSatisfy({ $0 == 0 }) else {
                        throw .invalid(
                            reason: "slot \(slotIndex) holds bytes after its \(erased ? "digest" : "sealed bytes")")
                    }
                    if erased {
                        record.append(RecordEncoder.partCompacted)
                        record.append(contentsOf: UnsafeRawBufferPointer(rebasing: stored[slot..<slot + minimumSlot]))
                    } else {
                        record.append(RecordEncoder.partSealed)
                        record.appendVarint(UInt64(length))
                        record.append(contentsOf: UnsafeRawBufferPointer(rebasing: stored[slot..<slot + length]))
                    }
                    slotIndex += 1
                }
                joined.appendVarint(UInt64(record.count))
                joined.append(contentsOf: record)
            }
            let spare = UnsafeRawBufferPointer(rebasing: stored[bitmap..<geometry.slots])
            if slotIndex % 8 != 0, let last = spare.last, last >> UInt8(slotIndex % 8) != 0 {
                throw .invalid(reason: "the erased bitmap marks slots the frame does not have")
            }
        }
    }

    // MARK: - Erasing

    /// Bytes to write over a frame's stored bytes, at `offset` from the frame's start.
    public struct Write: Sendable, Equatable {
        /// Offset from the frame's first byte.
        public var offset: Int
        /// The new bytes.
        public var bytes: [UInt8]

        /// A write of `bytes` at `offset`.
        public init(offset: Int, bytes: [UInt8]) {
            self.offset = offset
            self.bytes = bytes
        }
    }

    /// The writes that erase, in a side-car frame, every slot not yet erased whose (call, class) `erase`
    /// accepts: each such slot becomes the SHA-256 of its sealed bytes then zeros, and its bit in the bitmap is
    /// set. Writes closer than 64 bytes are merged. Also returns how many slots each call had erased.
    public static func erasure(
        content: UnsafeRawBufferPointer, stored: UnsafeRawBufferPointer,
        erase: (_ call: UnsafeRawBufferPointer, _ dataClass: UnsafeRawBufferPointer) -> Bool
    ) throws(SideCarError) -> (writes: [Write], erasedByCall: [String: Int]) {
        var chosen: [(index: Int, offset: Int, length: Int, call: Range<Int>)] = []
        var index = 0
        let geometry = try walk(content: content, stored: stored) { _, parts throws(SideCarError) in
            let call = UnsafeRawBufferPointer(rebasing: content[parts.callRange])
            for part in parts.parts {
                guard let length = part.sideCarLength, let slot = part.slotOffset else { continue }
                if erase(call, UnsafeRawBufferPointer(rebasing: content[part.classRange])) {
                    chosen.append((index, slot, length, parts.callRange))
                }
                index += 1
            }
        }
        var bitmap = Array(UnsafeRawBufferPointer(rebasing: stored[geometry.bitmap..<geometry.slots]))
        var pieces: [Write] = []
        var erasedByCall: [String: Int] = [:]
        for slot in chosen {
            let bit = UInt8(1) << UInt8(slot.index % 8)
            guard bitmap[slot.index / 8] & bit == 0 else { continue }
            bitmap[slot.index / 8] |= bit
            var bytes: [UInt8] = []
            bytes.reserveCapacity(slotSize(slot.length))
            SHA256.hash(UnsafeRawBufferPointer(rebasing: stored[slot.offset..<slot.offset + slot.length]))
                .append(to: &bytes)
            bytes.append(contentsOf: repeatElement(0, count: slotSize(slot.length) - minimumSlot))
            pieces.append(Write(offset: slot.offset, bytes: bytes))
            erasedByCall[
                String(decoding: UnsafeRawBufferPointer(rebasing: content[slot.call]), as: UTF8.self), default: 0] += 1
        }
        guard !pieces.isEmpty else { return ([], [:]) }
        let old = UnsafeRawBufferPointer(rebasing: stored[geometry.bitmap..<geometry.slots])
        if let first = bitmap.indices.first(where: { bitmap[$0] != old[$0] }),
            let last = bitmap.indices.last(where: { bitmap[$0] != old[$0] })
        {
            pieces.insert(Write(offset: geometry.bitmap + first, bytes: Array(bitmap[first...last])), at: 0)
        }
        var writes: [Write] = []
        for piece in pieces {
            if var previous = writes.last, piece.offset - (previous.offset + previous.bytes.count) < 64 {
                let gapStart = previous.offset + previous.bytes.count
                previous.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: stored[gapStart..<piece.offset]))
                previous.bytes.append(contentsOf: piece.bytes)
                writes[writes.count - 1] = previous
            } else {
                writes.append(piece)
            }
        }
        return (writes, erasedByCall)
    }
}

/// The parts of one record of `CLF2` content, parsed without opening anything: where each part's class, inline
/// bytes or side-car length are (offsets into the frame content).
struct RecordParts {
    /// One part.
    struct Part {
        /// The class name (without its length prefix).
        var classRange: Range<Int>
        /// Bytes of the class name's length prefix.
        var classPrefix: Int
        /// Form byte and payload of an inline part (form `0x01` or `0x02`).
        var inlineRange: Range<Int>
        /// Sealed length of a side-car part (form `0x03`).
        var sideCarLength: Int?
        /// Offset of its slot in the stored bytes, once the walk placed it.
        var slotOffset: Int?
    }

    /// The record's call id.
    var callRange: Range<Int>
    /// Where the part list starts (after the part count).
    var partsStart: Int
    /// The parts in order: a slice of the array holding every part of the frame, filled in by the walk.
    var parts: ArraySlice<Part> = []

    /// Parses a record at `base` in the content, appending its parts to `allParts` (not to `parts`). A compact
    /// record (FORMAT.md §2.2) has no seq, and its flag byte may say that its body holds timestamps; its times are
    /// differences, skipped here as their varints.
    init(
        _ bytes: UnsafeRawBufferPointer, base: Int, compact: Bool, appendingTo allParts: inout [Part]
    ) throws(DecodingError) {
        var reader = ByteReader(bytes)
        guard try reader.readByte() == RecordEncoder.formatVersion else {
            throw .invalidByte(offset: base, what: "record format version")
        }
        if !compact { _ = try reader.readVarint() }
        _ = try reader.readZigzag()
        let flags = try reader.readByte()
        guard flags <= (compact ? 3 : 1) else {
            throw .invalidByte(offset: base + reader.offset - 1, what: "occurred flag")
        }
        if flags & 1 == 1 {
            if compact {
                try CompactRecords.skipTimestamp(&reader)
            } else {
                _ = try Timestamp.decode(&reader)
            }
        }
        _ = try reader.readLengthPrefixedRange()
        let call = try reader.readLengthPrefixedRange()
        callRange = base + call.lowerBound..<base + call.upperBound
        for _ in 0..<4 { _ = try reader.readLengthPrefixedRange() }
        let count = try reader.readVarint()
        guard count <= UInt64(RecordLimits.readableParts) else {
            throw .invalidByte(offset: base + reader.offset, what: "part count \(count)")
        }
        partsStart = base + reader.offset
        for _ in 0..<count {
            let prefixStart = reader.offset
            let name = try reader.readLengthPrefixedRange()
            let classPrefix = name.lowerBound - prefixStart
            let formStart = reader.offset
            let form = try reader.readByte()
            var part = Part(
                classRange: base + name.lowerBound..<base + name.upperBound, classPrefix: classPrefix,
                inlineRange: 0..<0)
            switch form {
            case RecordEncoder.partSealed:
                _ = try reader.readLengthPrefixedRange()
            case RecordEncoder.partCompacted:
                _ = try reader.readRange(count: 32)
            case SealedSideCar.partForm:
                let length = try reader.readVarint()
                guard length >= 28, length <= UInt64(RecordLimits.maximumFrameContentBytes) else {
                    throw .invalidByte(offset: base + formStart + 1, what: "side-car part length \(length)")
                }
                part.sideCarLength = Int(length)
            default:
                throw .invalidByte(offset: base + formStart, what: "part form")
            }
            part.inlineRange = base + formStart..<base + reader.offset
            allParts.append(part)
        }
        guard reader.isAtEnd else {
            throw .invalidByte(offset: base + reader.offset, what: "trailing data after record")
        }
    }
}
