// An event body read into Swift values, for code that folds events (projections) rather than printing them:
// members named through the event type's schema, sealed values replaced by their opened items or marked
// unavailable with their data class.

/// A value of an event body.
public indirect enum EventValue: Sendable, Equatable {
    /// `null`.
    case null
    /// `true` or `false`.
    case boolean(Bool)
    /// An integer.
    case integer(Int64)
    /// A floating-point or decimal number.
    case number(Double)
    /// A string.
    case string(String)
    /// Raw bytes.
    case bytes([UInt8])
    /// A SHA-256 digest, as lowercase hex.
    case digest(String)
    /// A timestamp.
    case timestamp(Timestamp)
    /// An array.
    case array([EventValue])
    /// An object, by member name.
    case object([String: EventValue])
    /// A sealed value that cannot be read: its data class and why (`shredded`, `compacted`, `locked`).
    case unavailable(dataClass: String, state: String)

    /// The member `name` of an object, or nil.
    public subscript(name: String) -> EventValue? {
        if case .object(let members) = self { return members[name] }
        return nil
    }

    /// The string, or nil.
    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The integer, or nil.
    public var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The number (integers included), or nil.
    public var number: Double? {
        switch self {
        case .number(let value): value
        case .integer(let value): Double(value)
        default: nil
        }
    }

    /// The timestamp, or nil.
    public var timestamp: Timestamp? {
        if case .timestamp(let value) = self { return value }
        return nil
    }

    /// The boolean, or nil.
    public var boolean: Bool? {
        if case .boolean(let value) = self { return value }
        return nil
    }

    /// The elements, or nil.
    public var array: [EventValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The body of `record`, with `parts[i]` what is known of its part `i`; members named in `skipping` (at
    /// any depth) are left out, which saves decoding what a fold does not use.
    public static func body(
        of record: RecordView, parts: [EventRenderer.PartContent], skipping: Set<String> = []
    ) throws(DecodingError) -> EventValue {
        var items: [[UInt8]?] = []
        var starts: [[Int]?] = []
        var states: [String] = []
        for content in parts {
            switch content {
            case .opened(let plaintext):
                items.append(plaintext)
                starts.append(try EventRenderer.itemStarts(plaintext))
                states.append("opened")
            case .unavailable(let state):
                items.append(nil)
                starts.append(nil)
                states.append(state)
            }
        }
        let schema = EventType(rawValue: record.typeName).flatMap { CompiledSchema.byType[$0] }
        let decoder = Decoder(
            record: record, items: items, itemStarts: starts, states: states, schema: schema, skipping: skipping)
        var reader = ByteReader(UnsafeRawBufferPointer(rebasing: record.bytes[record.bodyRange]))
        return try decoder.value(&reader, node: schema?.root, sealedAllowed: true)
    }

    /// Reads chosen top-level members of one event type's bodies and stops once it has them all, so the
    /// members after them (long word lists) are never walked. Sealed members read as unavailable (`locked`).
    public struct MemberReader: Sendable {
        private let type: EventType
        private let schema: CompiledSchema
        /// By field number: the slot of a chosen member, or -1.
        private let slots: [Int]
        private let nodes: [Int32]
        private let count: Int

        /// A reader of `members` (names of top-level fields of `type`'s schema; unknown names never match).
        public init(type: EventType, members: [String]) {
            guard let schema = CompiledSchema.byType[type] else { preconditionFailure("\(type) has no schema") }
            let root = schema.nodes[Int(schema.root)]
            var slots: [Int] = []
            var nodes: [Int32] = []
            for number in 0..<Int(root.count) {
                let field = Int(root.first) + number
                slots.append(members.firstIndex(of: schema.fieldNames[field]) ?? -1)
                nodes.append(schema.fields[field].node)
            }
            self.type = type
            self.schema = schema
            self.slots = slots
            self.nodes = nodes
            self.count = members.count
        }

        /// Calls `body` with the index (in `members`) and value of each chosen member the body has.
        public func read(_ record: RecordView, _ body: (Int, EventValue) -> Void) throws(DecodingError) {
            var reader = ByteReader(UnsafeRawBufferPointer(rebasing: record.bytes[record.bodyRange]))
            guard try reader.readByte() == ValueTag.fields.rawValue else {
                throw .invalidByte(offset: 0, what: "body of a \(type.rawValue) event (expected schema fields)")
            }
            let decoder = Decoder(record: record, items: [], itemStarts: [], states: [], schema: schema, skipping: [])
            var remaining = count
            // Stops once every chosen member is read: a `where` filter kept counting up to a field count the
            // record claims (up to 2^64), which the fuzzer found as a hang.
            var fields = try reader.readVarint()
            while fields > 0, remaining > 0 {
                fields -= 1
                let fieldOffset = reader.offset
                let number = try reader.readVarint()
                guard number < UInt64(slots.count) else {
                    throw .invalidByte(offset: fieldOffset, what: "field number \(number) for \(type.rawValue)")
                }
                let slot = slots[Int(number)]
                if slot < 0 {
                    try EventRenderer.skipValue(&reader)
                } else {
                    body(slot, try decoder.value(&reader, node: nodes[Int(number)], sealedAllowed: true))
                    remaining -= 1
                }
            }
        }
    }

    /// Walks encoded values (FORMAT.md §4) into `EventValue`s.
    private struct Decoder {
        let record: RecordView
        let items: [[UInt8]?]
        let itemStarts: [[Int]?]
        let states: [String]
        let schema: CompiledSchema?
        let skipping: Set<String>

        func value(_ reader: inout ByteReader, node: Int32?, sealedAllowed: Bool) throws(DecodingError) -> EventValue {
            let offset = reader.offset
            guard let tag = ValueTag(rawValue: try reader.readByte()) else {
                throw .invalidByte(offset: offset, what: "value tag")
            }
            let node = EventRenderer.resolve(node, tag: tag, in: schema)
            let described = node.flatMap { schema?.nodes[Int($0)] }
            switch tag {
            case .null: return .null
            case .falseValue: return .boolean(false)
            case .trueValue: return .boolean(true)
            case .integer: return .integer(try reader.readZigzag())
            case .double: return .number(Double(bitPattern: try reader.readUInt64LE()))
            case .decimal:
                let mantissa = try reader.readZigzag()
                let scale = try reader.readVarint()
                guard scale <= UInt64(RecordLimits.readableDecimalScale) else {
                    throw .invalidByte(offset: offset, what: "decimal scale \(scale)")
                }
                guard scale <= UInt64(RecordLimits.maximumDecimalScale) else {
                    // Only records stored before the writer checked the scale get here.
                    return .number(Double("\(mantissa)e-\(scale)") ?? 0)
                }
                var divisor = 1.0
                for _ in 0..<scale { divisor *= 10 }
                return .number(Double(mantissa) / divisor)
            case .string:
                let range = try reader.readLengthPrefixedRange()
                return .string(String(decoding: UnsafeRawBufferPointer(rebasing: reader.bytes[range]), as: UTF8.self))
            case .bytes:
                return .bytes(
                    Array(UnsafeRawBufferPointer(rebasing: reader.bytes[try reader.readLengthPrefixedRange()])))
            case .digest:
                return .digest(
                    Hex.encode(UnsafeRawBufferPointer(rebasing: reader.bytes[try reader.readRange(count: 32)])))
            case .timestamp: return .timestamp(try Timestamp.decode(&reader))
            case .array:
                let element = described?.kind == .array ? described?.child : nil
                var elements: [EventValue] = []
                for _ in 0..<(try reader.readVarint()) {
                    elements.append(try value(&reader, node: element, sealedAllowed: sealedAllowed))
                }
                return .array(elements)
            case .object:
                let member = described?.kind == .map ? described?.child : nil
                var members: [String: EventValue] = [:]
                for _ in 0..<(try reader.readVarint()) {
                    let key = try reader.readLengthPrefixedRange()
                    let name = String(decoding: UnsafeRawBufferPointer(rebasing: reader.bytes[key]), as: UTF8.self)
                    if skipping.contains(name) {
                        try EventRenderer.skipValue(&reader)
                    } else {
                        members[name] = try value(&reader, node: member, sealedAllowed: sealedAllowed)
                    }
                }
                return .object(members)
            case .fields:
                var members: [String: EventValue] = [:]
                for _ in 0..<(try reader.readVarint()) {
                    let fieldOffset = reader.offset
                    let number = try reader.readVarint()
                    guard let schema, let described, described.kind == .object, number < UInt64(described.count) else {
                        throw .invalidByte(offset: fieldOffset, what: "field number \(number) for this schema")
                    }
                    let field = Int(described.first) + Int(number)
                    let name = schema.fieldNames[field]
                    if skipping.contains(name) {
                        try EventRenderer.skipValue(&reader)
                    } else {
                        members[name] = try value(
                            &reader, node: schema.fields[field].node, sealedAllowed: sealedAllowed)
                    }
                }
                return .object(members)
            case .sealed:
                let partIndex = Int(clamping: try reader.readVarint())
                let itemIndex = Int(clamping: try reader.readVarint())
                let parts = record.parts
                guard sealedAllowed, partIndex < parts.count else {
                    throw .invalidByte(offset: offset, what: "sealed reference to a missing part")
                }
                guard partIndex < items.count, let plaintext = items[partIndex], let starts = itemStarts[partIndex]
                else {
                    let state = partIndex < states.count ? states[partIndex] : "locked"
                    return .unavailable(dataClass: record.string(parts[partIndex].classRange), state: state)
                }
                guard itemIndex < starts.count else {
                    throw .invalidByte(offset: offset, what: "sealed reference to a missing item")
                }
                let inner: Int32? =
                    if let described, described.kind == .sealed || described.kind == .sealedText {
                        described.child
                    } else {
                        node
                    }
                var result = EventValue.null
                var failure: DecodingError?
                plaintext.withUnsafeBytes { raw in
                    var itemReader = ByteReader(raw, offset: starts[itemIndex])
                    do throws(DecodingError) {
                        result = try value(&itemReader, node: inner, sealedAllowed: false)
                    } catch {
                        failure = error
                    }
                }
                if let failure { throw failure }
                return result
            }
        }
    }
}
