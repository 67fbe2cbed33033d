// Seals a decoded event's parts and encodes its record (what is stored) and its entry (what is hashed).

/// Supplies the data key for a (call, class): the store's key cache and key store.
public protocol DataKeyProvider {
    /// The data key for `dataClass` of `call`, created if the call has none yet.
    mutating func dataKey(call: String, dataClass: DataClass) throws -> SymmetricKey
}

/// Builds records (FORMAT.md §3). One encoder per thread: it owns an AES-GCM context and scratch buffers.
/// A struct, so that its scratch buffers are not subject to dynamic exclusivity checks on every append.
public struct RecordEncoder {
    /// The record format version written as each record's first byte.
    public static let formatVersion: UInt8 = 1
    /// Part form: the sealed bytes follow.
    public static let partSealed: UInt8 = 0x01
    /// Part form: only the SHA-256 digest of the sealed bytes remains (after compaction).
    public static let partCompacted: UInt8 = 0x02

    private let cipher: AESGCM
    private let compressor: ZstdCompressor
    /// The entry's part list (class and digest of each part), hashed after the record's leading bytes.
    private var entryParts: [UInt8] = []
    private var aad: [UInt8] = []
    private var plaintext: [UInt8] = []
    /// Per (call, class): the seq and items of the latest part, the base for the next partial segment's part.
    private var latestParts: [CallClass: (seq: UInt64, items: [UInt8], chain: Int)] = [:]
    /// Per (call, class): the same for the latest part of an event that is not a partial segment, the only base
    /// other events' parts use. A reader holding a call's finals and enrichments (the transcript projection)
    /// can then open them without the partials, which are most of a call's segments.
    private var settledParts: [CallClass: (seq: UInt64, items: [UInt8], chain: Int)] = [:]
    /// The field number of `final` in a `transcript.segment` body.
    private static let finalField: UInt64 = {
        let fields = EventSchemas.transcriptSegment.fields
        return UInt64(fields.firstIndex { $0.name == "final" } ?? fields.count)
    }()
    /// Longest run of delta parts before a part is stored on its own, bounding the reads a random access needs.
    public static let maximumDeltaChain = 16

    /// An encoder with its own cipher and compression contexts.
    public init() throws {
        cipher = try AESGCM()
        compressor = try ZstdCompressor(level: 1, checksum: false)
    }

    /// Appends the record of `event` at `seq`, accepted at `time` (UTC µs), to `record`; returns its leaf hash.
    public mutating func encode(
        _ event: DecodedEvent, seq: UInt64, time: Int64, keys: inout some DataKeyProvider,
        appendingTo record: inout [UInt8]
    ) throws -> SHA256Digest {
        try Self.checkLimits(event)
        let start = record.count
        record.append(Self.formatVersion)
        record.appendVarint(seq)
        record.appendZigzag(time)
        if let occurred = event.occurred {
            record.append(1)
            occurred.encode(to: &record)
        } else {
            record.append(0)
        }
        record.appendString(event.type.rawValue)
        record.appendString(event.call)
        record.appendString(event.tenant)
        record.appendString(event.source)
        record.appendString(event.idempotency)
        let envelopeEnd = record.count
        record.appendVarint(UInt64(event.body.count))
        record.append(contentsOf: event.body)
        record.appendVarint(UInt64(event.parts.count))
        let entryPrefixEnd = record.count
        entryParts.removeAll(keepingCapacity: true)
        let partial = !event.parts.isEmpty && Self.isPartialSegment(event)
        for part in event.parts {
            let key = try keys.dataKey(call: event.call, dataClass: part.dataClass)
            let className = part.dataClass.name
            aad.removeAll(keepingCapacity: true)
            aad.append(contentsOf: record[start..<envelopeEnd])
            aad.appendString(className)
            record.appendString(className)
            record.append(Self.partSealed)
            plaintext.removeAll(keepingCapacity: true)
            let historyKey = CallClass(call: event.call, dataClass: part.dataClass)
            let latest = partial ? latestParts[historyKey] : settledParts[historyKey]
            let base = latest.flatMap { $0.chain < Self.maximumDeltaChain ? (seq - $0.seq, $0.items) : nil }
            try SealedPlaintext.encode(part.items, base: base, compressor: compressor, into: &plaintext)
            if latestParts.count > 100_000 {
                latestParts.removeAll(keepingCapacity: true)
                settledParts.removeAll(keepingCapacity: true)
            }
            let isDelta = plaintext.first == SealedPlaintext.delta
            let history = (seq, part.items, isDelta ? (latest?.chain ?? 0) + 1 : 0)
            latestParts[historyKey] = history
            if !partial { settledParts[historyKey] = history }
            record.appendVarint(UInt64(plaintext.count + AESGCM.overhead))
            let sealedStart = record.count
            try plaintext.withUnsafeBytes { plaintext in
                try aad.withUnsafeBytes { associated in
                    try cipher.seal(plaintext, key: key, associatedData: associated, appendingTo: &record)
                }
            }
            entryParts.appendString(className)
            let digest = record.withUnsafeBytes { SHA256.hash(UnsafeRawBufferPointer(rebasing: $0[sealedStart...])) }
            digest.append(to: &entryParts)
        }
        // leaf = SHA-256(0x00 || entry), entry = the record up to its part count, then the part list.
        return withUnsafeBytes(of: UInt8(0x00)) { prefix in
            record.withUnsafeBytes { recordBytes in
                entryParts.withUnsafeBytes { parts in
                    SHA256.hash(prefix, UnsafeRawBufferPointer(rebasing: recordBytes[start..<entryPrefixEnd]), parts)
                }
            }
        }
    }

    /// The most bytes `encode` appends for `event`, at any seq and time: every varint at its longest and every
    /// part's plaintext stored raw (compression is kept only when it makes a part smaller), plus AES-GCM's nonce and
    /// tag. What a frame must have room for before the event is sealed.
    public static func maximumRecordBytes(_ event: DecodedEvent) -> Int {
        let varint = 10
        // Version, seq, time, occurred flag; a timestamp is its micros, a layout byte and an offset.
        var total = 1 + varint + varint + 1 + (event.occurred == nil ? 0 : varint + 1 + varint)
        for text in [event.type.rawValue, event.call, event.tenant, event.source, event.idempotency] {
            total += varint + text.utf8.count
        }
        total += varint + event.body.count + varint
        for part in event.parts {
            total += varint + part.dataClass.name.utf8.count + 1 + varint + 1 + part.items.count + AESGCM.overhead
        }
        return total
    }

    /// Refuses an event whose record readers would not accept (`EventDecoder` already refuses such input; this
    /// guards events built in code).
    static func checkLimits(_ event: DecodedEvent) throws(RecordLimitError) {
        guard event.parts.count <= RecordLimits.maximumParts else {
            throw RecordLimitError(
                idempotency: event.idempotency,
                reason: "\(event.parts.count) sealed parts, over the limit of \(RecordLimits.maximumParts)")
        }
        for part in event.parts where part.items.count > RecordLimits.maximumPartItemsBytes {
            throw RecordLimitError(
                idempotency: event.idempotency,
                reason: "sealed part \(part.dataClass.name) holds \(part.items.count) bytes, over the limit of "
                    + "\(RecordLimits.maximumPartItemsBytes)")
        }
        if let occurred = event.occurred, !RecordLimits.timestampMicros.contains(occurred.micros) {
            throw RecordLimitError(
                idempotency: event.idempotency,
                reason: "occurred \(occurred.micros) µs is outside 0000-01-01T00:00:00Z...9999-12-31T23:59:59.999999Z")
        }
    }

    /// Whether `event` is a `transcript.segment` whose `final` is false, read from its encoded body without
    /// decoding the rest.
    static func isPartialSegment(_ event: DecodedEvent) -> Bool {
        guard event.type == .transcriptSegment else { return false }
        return event.body.withUnsafeBytes { isPartialSegmentBody($0) }
    }

    /// Whether `record` is a `transcript.segment` whose `final` is false. The sealed parts of such a partial are
    /// stored against the latest part of its call and class; every other event's against the latest part of an
    /// event that is no partial (FORMAT.md §3), so a reader that keeps both finds each base without a lookup.
    public static func isPartialSegment(_ record: RecordView) -> Bool {
        guard record.eventType == .transcriptSegment else { return false }
        return isPartialSegmentBody(UnsafeRawBufferPointer(rebasing: record.bytes[record.bodyRange]))
    }

    private static func isPartialSegmentBody(_ body: UnsafeRawBufferPointer) -> Bool {
        var reader = ByteReader(body)
        do throws(DecodingError) {
            guard try reader.readByte() == ValueTag.fields.rawValue else { return false }
            var fields = try reader.readVarint()
            while fields > 0 {
                fields -= 1
                if try reader.readVarint() == finalField {
                    return try reader.readByte() == ValueTag.falseValue.rawValue
                }
                try EventRenderer.skipValue(&reader)
            }
        } catch {
            return false
        }
        return false
    }
}
