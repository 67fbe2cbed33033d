// Reads a stored record in place: envelope fields, body bytes and sealed parts, and rebuilds its entry.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A parsed view of one record's bytes (FORMAT.md §3). It does not own the bytes.
public struct RecordView {
    /// The record's bytes.
    public let bytes: UnsafeRawBufferPointer
    /// Position in the log.
    public let seq: UInt64
    /// When the ledger accepted the event (UTC µs).
    public let time: Int64
    /// When the source says it happened, if known.
    public let occurred: Timestamp?
    /// Byte range of the type name.
    public let typeRange: Range<Int>
    /// Byte range of the call id.
    public let callRange: Range<Int>
    /// Byte range of the tenant.
    public let tenantRange: Range<Int>
    /// Byte range of the source.
    public let sourceRange: Range<Int>
    /// Byte range of the idempotency key.
    public let idempotencyRange: Range<Int>
    /// Byte range of the envelope (everything before the body length), the sealed parts' associated data prefix.
    public let envelopeRange: Range<Int>
    /// Byte range of the encoded meta body.
    public let bodyRange: Range<Int>
    /// Number of sealed parts.
    public let partCount: Int
    /// Offset of the first part.
    let partsStart: Int

    /// One sealed part of the record.
    public struct Part {
        /// Byte range of the class name.
        public var classRange: Range<Int>
        /// `RecordEncoder.partSealed` or `RecordEncoder.partCompacted`.
        public var form: UInt8
        /// Byte range of the sealed bytes, or of the 32-byte digest when compacted.
        public var payloadRange: Range<Int>
    }

    /// Parses the record in `bytes`; every byte must belong to it.
    public init(_ bytes: UnsafeRawBufferPointer) throws(DecodingError) {
        self.bytes = bytes
        var reader = ByteReader(bytes)
        guard try reader.readByte() == RecordEncoder.formatVersion else {
            throw .invalidByte(offset: 0, what: "record format version")
        }
        seq = try reader.readVarint()
        let timeOffset = reader.offset
        time = try reader.readZigzag()
        guard RecordLimits.readableTimestampMicros.contains(time) else {
            throw .invalidByte(offset: timeOffset, what: "record time (outside years 0000-9999)")
        }
        switch try reader.readByte() {
        case 0: occurred = nil
        case 1: occurred = try Timestamp.decode(&reader)
        default: throw .invalidByte(offset: reader.offset - 1, what: "occurred flag")
        }
        typeRange = try reader.readLengthPrefixedRange()
        callRange = try reader.readLengthPrefixedRange()
        tenantRange = try reader.readLengthPrefixedRange()
        sourceRange = try reader.readLengthPrefixedRange()
        idempotencyRange = try reader.readLengthPrefixedRange()
        envelopeRange = 0..<reader.offset
        bodyRange = try reader.readLengthPrefixedRange()
        let count = try reader.readVarint()
        guard count <= UInt64(RecordLimits.readableParts) else {
            throw .invalidByte(
                offset: reader.offset, what: "part count \(count) (at most \(RecordLimits.readableParts))")
        }
        partCount = Int(count)
        partsStart = reader.offset
        for _ in 0..<partCount { _ = try Self.readPart(&reader) }
        guard reader.isAtEnd else { throw .invalidByte(offset: reader.offset, what: "trailing data after record") }
    }

    private static func readPart(_ reader: inout ByteReader) throws(DecodingError) -> Part {
        let classRange = try reader.readLengthPrefixedRange()
        let form = try reader.readByte()
        switch form {
        case RecordEncoder.partSealed:
            return Part(classRange: classRange, form: form, payloadRange: try reader.readLengthPrefixedRange())
        case RecordEncoder.partCompacted:
            return Part(classRange: classRange, form: form, payloadRange: try reader.readRange(count: 32))
        default:
            throw .invalidByte(offset: reader.offset - 1, what: "part form")
        }
    }

    /// Calls `body` with each part in order.
    public func forEachPart(_ body: (Int, Part) throws -> Void) rethrows {
        var reader = ByteReader(bytes, offset: partsStart)
        for index in 0..<partCount {
            // The initializer already validated every part.
            let part = try! Self.readPart(&reader)
            try body(index, part)
        }
    }

    /// The parts, in order.
    public var parts: [Part] {
        var result: [Part] = []
        forEachPart { result.append($1) }
        return result
    }

    /// The UTF-8 text at `range`.
    public func string(_ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// The event type's name.
    public var typeName: String { string(typeRange) }

    /// The event type, recognised from the type bytes without allocating; nil for a name this build does not
    /// know.
    public var eventType: EventType? {
        let type = UnsafeRawBufferPointer(rebasing: bytes[typeRange])
        guard type.count < Self.typeNames.count else { return nil }
        for (name, eventType) in Self.typeNames[type.count]
        where name.withUnsafeBytes({ memcmp($0.baseAddress!, type.baseAddress!, name.count) == 0 }) {
            return eventType
        }
        return nil
    }

    /// Every event type's name as bytes, by name length.
    private static let typeNames: [[(name: [UInt8], type: EventType)]] = {
        var byLength = Array(repeating: [(name: [UInt8], type: EventType)](), count: 64)
        for type in EventType.allCases {
            let name = Array(type.rawValue.utf8)
            byLength[name.count].append((name, type))
        }
        return byLength
    }()
    /// The call id.
    public var call: String { string(callRange) }
    /// The idempotency key.
    public var idempotency: String { string(idempotencyRange) }

    /// The SHA-256 digest that the entry commits to for `part`.
    public func digest(of part: Part) -> SHA256Digest {
        let payload = UnsafeRawBufferPointer(rebasing: bytes[part.payloadRange])
        return part.form == RecordEncoder.partSealed
            ? SHA256.hash(payload) : SHA256Digest(loadingFrom: payload.baseAddress!)
    }

    /// Appends the record's entry (FORMAT.md §5) to `entry`: the bytes up to the part list, then per part its
    /// class and the SHA-256 digest of its sealed bytes.
    public func appendEntry(to entry: inout [UInt8]) {
        entry.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[..<partsStart]))
        forEachPart { _, part in
            entry.appendVarint(UInt64(part.classRange.count))
            entry.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[part.classRange]))
            digest(of: part).append(to: &entry)
        }
    }

    /// The entry's bytes.
    public var entry: [UInt8] {
        var out: [UInt8] = []
        appendEntry(to: &out)
        return out
    }

    /// The RFC 6962 leaf hash of the entry, `SHA-256(0x00 || entry)`, streamed from the record's bytes without
    /// building the entry. `scratch` holds the part digests.
    public func leafHash(scratch: inout [UInt8]) -> SHA256Digest {
        scratch.removeAll(keepingCapacity: true)
        forEachPart { _, part in
            scratch.appendVarint(UInt64(part.classRange.count))
            scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[part.classRange]))
            digest(of: part).append(to: &scratch)
        }
        return withUnsafeBytes(of: UInt8(0x00)) { prefix in
            scratch.withUnsafeBytes { parts in
                SHA256.hash(prefix, UnsafeRawBufferPointer(rebasing: bytes[..<partsStart]), parts)
            }
        }
    }

    /// The associated data that authenticates `part`: the envelope bytes, then the class name.
    public func associatedData(for part: Part) -> [UInt8] {
        var aad = Array(UnsafeRawBufferPointer(rebasing: bytes[envelopeRange]))
        aad.appendVarint(UInt64(part.classRange.count))
        aad.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[part.classRange]))
        return aad
    }
}
