// Compact records (FORMAT.md §2.2): a frame's content may store its records with the seq left out (it follows from
// the frame's first seq), the acceptance time as the difference from the previous record's, and every timestamp
// (an event's `occurred` and the tag-0x08 values of its body) as the difference from the frame's previous
// timestamp. Absolute microsecond varints change in their first, low-order bytes from one record to the next, which
// zstd cannot match; the differences are short. Every reader expands the content back into the records as the
// writer encoded them, byte for byte, so entries, leaves and proofs do not depend on the form.

/// The compact-records form of frame content: compacting for the writer, expanding for every reader.
public enum CompactRecords {
    /// `CLF3`: compact records whose sealed parts are inline (the compact form of `CLF1` content).
    public static let inlineMagic: [UInt8] = Array("CLF3".utf8)
    /// `CLF4`: compact records whose sealed bytes are in the side-car (the compact form of `CLF2` content).
    public static let sideCarMagic: [UInt8] = Array("CLF4".utf8)

    /// Deepest nesting of body values either direction accepts: the interchange's JSON depth and some room.
    static let maximumDepth = RecordLimits.maximumJSONDepth + 8

    /// Whether `content` starts with `CLF3` or `CLF4`.
    public static func isCompact(_ content: UnsafeRawBufferPointer) -> Bool {
        content.count >= 4 && content[0] == 0x43 && content[1] == 0x4C && content[2] == 0x46
            && (content[3] == 0x33 || content[3] == 0x34)
    }

    // MARK: - Writing

    /// The compact form of frame content given as its header (`CLF1` or `CLF2` magic, then the varints first seq,
    /// count and input bytes) and its length-prefixed records. Nil when a record is not one this form restores byte
    /// for byte (a record version other than 1, a seq out of sequence, a varint longer than it needs, a timestamp
    /// layout readers refuse, nesting deeper than `maximumDepth`): the writer then stores the content as it is.
    public static func compact(header: [UInt8], records: [UInt8]) -> (header: [UInt8], records: [UInt8])? {
        guard header.count >= 4, header[0] == 0x43, header[1] == 0x4C, header[2] == 0x46,
            header[3] == 0x31 || header[3] == 0x32
        else { return nil }
        let outcome = header.withUnsafeBytes { headerBytes in
            records.withUnsafeBytes { recordBytes in
                Result { () throws(DecodingError) -> (header: [UInt8], records: [UInt8]) in
                    var reader = ByteReader(headerBytes, offset: 4)
                    let firstSeq = try reader.readVarint()
                    let count = try reader.readVarint()
                    var compacted = header
                    compacted[3] = header[3] == 0x31 ? inlineMagic[3] : sideCarMagic[3]
                    var output: [UInt8] = []
                    output.reserveCapacity(records.count)
                    var transcoder = Transcoder(compacting: true)
                    var records = ByteReader(recordBytes)
                    var index: UInt64 = 0
                    while !records.isAtEnd {
                        let range = try records.readLengthPrefixedRange()
                        let (seq, overflow) = firstSeq.addingReportingOverflow(index)
                        guard !overflow else { throw .invalidByte(offset: range.lowerBound, what: "seq") }
                        try transcoder.record(
                            UnsafeRawBufferPointer(rebasing: recordBytes[range]), seq: seq, into: &output)
                        index += 1
                    }
                    guard index == count else { throw .invalidByte(offset: records.offset, what: "record count") }
                    return (compacted, output)
                }
            }
        }
        return try? outcome.get()
    }

    // MARK: - Reading

    /// When `content` is compact (`CLF3`, `CLF4`), replaces it with the content it stands for (`CLF1`, `CLF2`):
    /// each record with its seq, its acceptance time and its timestamps restored. Other content is left as it is.
    public static func expand(_ content: inout [UInt8]) throws(DecodingError) {
        var scratch: [UInt8] = []
        try expand(&content, scratch: &scratch)
    }

    /// `expand`, writing the expanded content into `scratch`'s buffer: on return `content` holds it and `scratch`
    /// the buffer `content` had, so that a reader going from frame to frame reuses two buffers.
    public static func expand(_ content: inout [UInt8], scratch: inout [UInt8]) throws(DecodingError) {
        guard content.withUnsafeBytes({ isCompact($0) }) else { return }
        scratch.removeAll(keepingCapacity: true)
        let failure = content.withUnsafeBytes { raw -> DecodingError? in
            do throws(DecodingError) {
                try expand(raw, into: &scratch)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
        swap(&content, &scratch)
    }

    /// Appends to `expanded` the content compact content `raw` stands for.
    private static func expand(_ raw: UnsafeRawBufferPointer, into expanded: inout [UInt8]) throws(DecodingError) {
        var reader = ByteReader(raw, offset: 4)
        let firstSeq = try reader.readVarint()
        let count = try reader.readVarint()
        _ = try reader.readVarint()
        expanded.reserveCapacity(raw.count + raw.count / 8)
        expanded.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[0..<reader.offset]))
        expanded[3] = raw[3] == inlineMagic[3] ? 0x31 : 0x32
        var transcoder = Transcoder(compacting: false)
        var index: UInt64 = 0
        while index < count {
            let range = try reader.readLengthPrefixedRange()
            let (seq, overflow) = firstSeq.addingReportingOverflow(index)
            guard !overflow else { throw .invalidByte(offset: range.lowerBound, what: "seq") }
            try transcoder.record(UnsafeRawBufferPointer(rebasing: raw[range]), seq: seq, into: &expanded)
            guard expanded.count <= RecordLimits.maximumFrameContentBytes else {
                throw .invalidByte(offset: range.lowerBound, what: "frame content size")
            }
            index += 1
        }
        guard reader.isAtEnd else { throw .invalidByte(offset: reader.offset, what: "trailing data") }
    }

    /// Moves `reader` past a compact record's timestamp (the µs difference, the layout byte and the offset when
    /// the layout has one), checking its layout as expansion does.
    static func skipTimestamp(_ reader: inout ByteReader) throws(DecodingError) {
        _ = try reader.readVarint()
        try skipLayout(&reader)
    }

    /// Moves `reader` past a timestamp's layout byte and its offset when the layout has one, refusing a layout
    /// readers refuse.
    static func skipLayout(_ reader: inout ByteReader) throws(DecodingError) {
        let start = reader.offset
        let layout = try reader.readByte()
        guard layout >> 5 == 0, layout >> 3 != 3 else { throw .invalidByte(offset: start, what: "timestamp layout") }
        if layout >> 3 == 1 { _ = try reader.readVarint() }
    }

    /// Bytes of the shortest varint holding `value`.
    static func varintLength(_ value: UInt64) -> Int {
        value == 0 ? 1 : (64 - value.leadingZeroBitCount + 6) / 7
    }

    /// Rewrites records one way or the other, carrying the previous acceptance time and timestamp from record to
    /// record of one frame.
    struct Transcoder {
        /// True to compact records as the writer encoded them, false to expand compact ones.
        let compacting: Bool
        /// The previous record's acceptance time, µs (0 before the first record).
        var previousTime: Int64 = 0
        /// The previous timestamp of the frame, µs (0 before the first).
        var previousStamp: Int64 = 0
        /// The record being rewritten, before its length prefix.
        private var scratch: [UInt8] = []
        /// A body being rewritten.
        private var body: [UInt8] = []
        /// Timestamps found in the body being walked.
        private var bodyStamps = 0
        /// The containers (arrays, objects, schema objects) open around the value being walked.
        private var open: [Container] = []

        /// A container being walked: how many members are left and what precedes each member's value.
        struct Container {
            /// What precedes each member's value.
            enum Key {
                /// Nothing: an array's elements, or the body itself.
                case none
                /// A length-prefixed name: an object with free keys.
                case name
                /// A varint field number: a schema object.
                case fieldNumber
            }

            /// Members not yet walked.
            var left: UInt64
            /// What precedes each member.
            var key: Key
        }

        init(compacting: Bool) {
            self.compacting = compacting
        }

        /// Appends `record` rewritten, length-prefixed, to `output`; `seq` is the record's seq.
        mutating func record(
            _ record: UnsafeRawBufferPointer, seq: UInt64, into output: inout [UInt8]
        ) throws(DecodingError) {
            scratch.removeAll(keepingCapacity: true)
            var reader = ByteReader(record)
            let version = try reader.readByte()
            guard version == 1 else { throw .invalidByte(offset: 0, what: "record version") }
            scratch.append(version)
            if compacting {
                let start = reader.offset
                let stored = try reader.readVarint()
                guard stored == seq, reader.offset - start == CompactRecords.varintLength(stored) else {
                    throw .invalidByte(offset: start, what: "seq")
                }
            } else {
                scratch.appendVarint(seq)
            }
            let time = try shortestZigzag(&reader)
            scratch.appendZigzag(compacting ? time &- previousTime : previousTime &+ time)
            previousTime = compacting ? time : previousTime &+ time
            // The flag byte: bit 0 says an occurred timestamp follows; in compact records bit 1 says the body holds
            // timestamps (a body without is stored, and expanded, as it is, without a walk through its values).
            let flagOffset = reader.offset
            let flags = try reader.readByte()
            guard flags <= (compacting ? 1 : 3) else { throw .invalidByte(offset: flagOffset, what: "occurred flag") }
            let occurred = flags & 1
            let flagIndex = scratch.count
            scratch.append(occurred)
            var copied = reader.offset
            if occurred == 1 {
                let (micros, rewritten) = try timestamp(&reader)
                scratch.appendZigzag(rewritten)
                copied = micros.upperBound
            }
            for _ in 0..<5 { _ = try reader.readLengthPrefixedRange() }
            scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: record[copied..<reader.offset]))
            let lengthStart = reader.offset
            let bodyRange = try reader.readLengthPrefixedRange()
            guard
                !compacting
                    || bodyRange.lowerBound - lengthStart == CompactRecords.varintLength(UInt64(bodyRange.count))
            else { throw .invalidByte(offset: lengthStart, what: "body length") }
            body.removeAll(keepingCapacity: true)
            var bodyCopied = 0
            if compacting || flags & 2 != 0 {
                var bodyReader = ByteReader(UnsafeRawBufferPointer(rebasing: record[bodyRange]))
                bodyStamps = 0
                try value(&bodyReader, copied: &bodyCopied)
                guard bodyReader.isAtEnd else {
                    throw .invalidByte(offset: bodyRange.lowerBound + bodyReader.offset, what: "trailing body data")
                }
                if compacting && bodyStamps > 0 { scratch[flagIndex] |= 2 }
            }
            body.append(
                contentsOf: UnsafeRawBufferPointer(
                    rebasing: record[bodyRange.lowerBound + bodyCopied..<bodyRange.upperBound]))
            scratch.appendVarint(UInt64(body.count))
            scratch.append(contentsOf: body)
            scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: record[bodyRange.upperBound...]))
            output.appendVarint(UInt64(scratch.count))
            output.append(contentsOf: scratch)
        }

        /// Reads a zigzag integer, refusing (when compacting) one longer than it needs: it would not come back.
        private func shortestZigzag(_ reader: inout ByteReader) throws(DecodingError) -> Int64 {
            let start = reader.offset
            let raw = try reader.readVarint()
            guard !compacting || reader.offset - start == CompactRecords.varintLength(raw) else {
                throw .invalidByte(offset: start, what: "varint longer than it needs")
            }
            return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
        }

        /// Reads the timestamp at `reader` (µs, layout byte, the offset when the layout has one) and returns where
        /// its µs are and their rewritten value, which becomes the frame's previous timestamp.
        private mutating func timestamp(
            _ reader: inout ByteReader
        ) throws(DecodingError) -> (micros: Range<Int>, rewritten: Int64) {
            let start = reader.offset
            let micros = try shortestZigzag(&reader)
            let end = reader.offset
            let rewritten = compacting ? micros &- previousStamp : previousStamp &+ micros
            previousStamp = compacting ? micros : rewritten
            try CompactRecords.skipLayout(&reader)
            return (start..<end, rewritten)
        }

        /// Walks one body value and the values nested in it, in encoding order, rewriting its timestamps into
        /// `body`. Iterative, with `open` as the stack of containers (their members left and how each member is
        /// keyed), so that one record costs no call per value.
        private mutating func value(_ reader: inout ByteReader, copied: inout Int) throws(DecodingError) {
            open.removeAll(keepingCapacity: true)
            open.append(Container(left: 1, key: .none))
            while let last = open.indices.last {
                guard open[last].left > 0 else {
                    open.removeLast()
                    continue
                }
                open[last].left -= 1
                switch open[last].key {
                case .none: break
                case .name: _ = try reader.readLengthPrefixedRange()
                case .fieldNumber: _ = try reader.readVarint()
                }
                let offset = reader.offset
                // The value's depth: the containers open around it (the first entry is the body itself).
                guard open.count - 1 <= CompactRecords.maximumDepth else {
                    throw .invalidByte(offset: offset, what: "value nested too deep")
                }
                switch try reader.readByte() {
                case ValueTag.null.rawValue, ValueTag.falseValue.rawValue, ValueTag.trueValue.rawValue: break
                case ValueTag.integer.rawValue: _ = try reader.readVarint()
                case ValueTag.timestamp.rawValue:
                    let (micros, rewritten) = try timestamp(&reader)
                    body.append(contentsOf: UnsafeRawBufferPointer(rebasing: reader.bytes[copied..<micros.lowerBound]))
                    body.appendZigzag(rewritten)
                    copied = micros.upperBound
                    bodyStamps += 1
                case ValueTag.double.rawValue: _ = try reader.readRange(count: 8)
                case ValueTag.string.rawValue, ValueTag.bytes.rawValue: _ = try reader.readLengthPrefixedRange()
                case ValueTag.digest.rawValue: _ = try reader.readRange(count: 32)
                case ValueTag.sealed.rawValue, ValueTag.decimal.rawValue:
                    _ = try reader.readVarint()
                    _ = try reader.readVarint()
                case ValueTag.array.rawValue, ValueTag.object.rawValue, ValueTag.fields.rawValue:
                    let tag = reader.bytes[offset]
                    let key: Container.Key =
                        tag == ValueTag.array.rawValue ? .none : tag == ValueTag.object.rawValue ? .name : .fieldNumber
                    open.append(Container(left: try reader.readVarint(), key: key))
                default: throw .invalidByte(offset: offset, what: "value tag")
                }
            }
        }
    }
}
