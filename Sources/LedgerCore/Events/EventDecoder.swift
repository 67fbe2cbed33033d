// Validates one interchange JSON line against the envelope rules and its type's body schema, and transcodes
// it into the binary value encoding, routing every sensitive field into its class's sealed part.

/// Decodes interchange JSON lines into `DecodedEvent`s. Reuse one decoder per thread: it keeps its buffers.
public struct EventDecoder {
    /// Largest accepted event, in bytes of JSON (default 1 MiB; never more than `RecordLimits.maximumEventBytes`).
    public var maximumEventBytes: Int
    private var tape = JSONTape()
    private var scratch: [UInt8] = []

    /// A decoder with the given size limit.
    public init(maximumEventBytes: Int = 1 << 20) {
        self.maximumEventBytes = maximumEventBytes
    }

    private struct FieldError: Error {
        var path: [String]
        var reason: String
        init(_ reason: String) {
            self.path = []
            self.reason = reason
        }
        func within(_ component: String) -> FieldError {
            var copy = self
            copy.path.insert(component, at: 0)
            return copy
        }
        var pathText: String {
            var out = ""
            for component in path {
                if component.hasPrefix("[") || out.isEmpty { out += component } else { out += "." + component }
            }
            return out
        }
    }

    private struct Parts {
        var classes: [DataClass] = []
        var items: [[UInt8]] = []
        var counts: [Int] = []

        /// The index of `dataClass`'s part, added if the event has none yet; fails for a class past the
        /// record's part limit.
        mutating func index(of dataClass: DataClass) throws(FieldError) -> Int {
            if let index = classes.firstIndex(of: dataClass) { return index }
            guard classes.count < RecordLimits.maximumParts else {
                throw FieldError(
                    "\(dataClass.name) would be a sealed data class beyond the first \(RecordLimits.maximumParts) "
                        + "this event uses; an event holds at most \(RecordLimits.maximumParts) (one sealed part "
                        + "per class, each pii kind its own): split it into several events")
            }
            classes.append(dataClass)
            items.append([])
            counts.append(0)
            return classes.count - 1
        }
    }

    private static let envelopeKeys: [(String, [UInt8])] = [
        "type", "call", "tenant", "source", "idempotency", "occurred", "body",
    ].map { ($0, Array($0.utf8)) }

    /// Decodes one JSON line (without its newline). `lineNumber` is used in errors.
    public mutating func decode(
        _ line: UnsafeRawBufferPointer, lineNumber: Int
    ) throws(EventDecodingError)
        -> DecodedEvent
    {
        let limit = min(maximumEventBytes, RecordLimits.maximumEventBytes)
        guard line.count <= limit else {
            throw EventDecodingError(
                line: lineNumber, field: "",
                reason: "event is \(line.count) bytes, over the \(limit)-byte maximum event size")
        }
        do {
            try tape.parse(line)
        } catch {
            throw EventDecodingError(line: lineNumber, field: "", reason: error.description)
        }
        guard tape[0].kind == .object else {
            throw EventDecodingError(line: lineNumber, field: "", reason: "an event must be a JSON object")
        }
        // Token index of each envelope member's value, -1 when absent (inline storage: no allocation per event).
        var members = InlineArray<7, Int>(repeating: -1)
        var index = 1
        for _ in 0..<tape[0].count {
            let keyIndex = index
            let valueIndex = index + 1
            index = Int(tape[valueIndex].next)
            guard
                let position = Self.envelopeKeys.firstIndex(where: { key in
                    key.1.withUnsafeBytes { tape.stringEquals(at: keyIndex, $0) }
                })
            else {
                let name = tape.string(at: keyIndex)
                let reason =
                    name == "seq" || name == "time"
                    ? "is assigned by the ledger and must not be in the input"
                    : "unknown envelope field (allowed: type, call, tenant, source, idempotency, occurred, body)"
                throw EventDecodingError(line: lineNumber, field: name, reason: reason)
            }
            guard members[position] < 0 else {
                throw EventDecodingError(
                    line: lineNumber, field: Self.envelopeKeys[position].0, reason: "duplicate field")
            }
            members[position] = valueIndex
        }
        func fail(_ field: String, _ reason: String) -> EventDecodingError {
            EventDecodingError(line: lineNumber, field: field, reason: reason)
        }
        func requiredString(
            _ position: Int, maxBytes: Int, required: Bool = true
        ) throws(EventDecodingError)
            -> String
        {
            let name = Self.envelopeKeys[position].0
            let valueIndex = members[position]
            guard valueIndex >= 0 else {
                if required { throw fail(name, "required field is missing") }
                return ""
            }
            guard tape[valueIndex].kind == .string else { throw fail(name, "must be a string") }
            let value = tape.string(at: valueIndex)
            guard !value.isEmpty else { throw fail(name, "must not be empty") }
            guard value.utf8.count <= maxBytes else { throw fail(name, "longer than \(maxBytes) bytes") }
            let hasControl =
                tape[valueIndex].hasEscapes
                ? value.utf8.contains { $0 < 0x20 || $0 == 0x7F }
                : tape.rawString(at: valueIndex).contains(0x7F)
            guard !hasControl else {
                throw fail(name, "must not contain control characters")
            }
            return value
        }
        let typeName = try requiredString(0, maxBytes: 64)
        guard let type = EventType(rawValue: typeName) else {
            throw fail(
                "type",
                "unknown event type \"\(typeName)\" (known: \(EventType.allCases.map(\.rawValue).joined(separator: ", ")))"
            )
        }
        let call = try requiredString(1, maxBytes: 256, required: type.requiresCall)
        let tenant = try requiredString(2, maxBytes: 128)
        let source = try requiredString(3, maxBytes: 128)
        let idempotency = try requiredString(4, maxBytes: 512)
        var occurred: Timestamp?
        if members[5] >= 0 {
            let occurredIndex = members[5]
            guard tape[occurredIndex].kind == .string else { throw fail("occurred", "must be a string") }
            scratch.removeAll(keepingCapacity: true)
            tape.appendString(at: occurredIndex, to: &scratch)
            switch Timestamp.parse(scratch) {
            case .success(let timestamp): occurred = timestamp
            case .failure(let error): throw fail("occurred", error.description)
            }
        }
        let bodyIndex = members[6]
        guard bodyIndex >= 0 else { throw fail("body", "required field is missing") }
        var body: [UInt8] = []
        body.reserveCapacity(line.count / 2)
        var parts = Parts()
        do {
            let schema = CompiledSchema.byType[type]!
            let encoded = schema.namePool.withUnsafeBytes { names in
                Result { () throws(FieldError) in
                    try encode(
                        bodyIndex, schema.root, schema, names, into: &body, parts: &parts, sealed: false, pii: nil)
                }
            }
            try encoded.get()
        } catch {
            throw EventDecodingError(line: lineNumber, field: error.within("body").pathText, reason: error.reason)
        }
        for (dataClass, items) in zip(parts.classes, parts.items) where items.count > RecordLimits.maximumPartItemsBytes
        {
            throw fail(
                "body",
                "its \(dataClass.name) fields encode to \(items.count) bytes, over the "
                    + "\(RecordLimits.maximumPartItemsBytes)-byte limit of one sealed part: split it into several events"
            )
        }
        return DecodedEvent(
            type: type, call: call, tenant: tenant, source: source, idempotency: idempotency, occurred: occurred,
            body: body,
            parts: zip(parts.classes, parts.items).map { PartPlaintext(dataClass: $0, items: $1) },
            inputByteCount: line.count)
    }

    // MARK: - Body transcoding

    private mutating func encode(
        _ index: Int, _ nodeIndex: Int32, _ schema: CompiledSchema, _ names: UnsafeRawBufferPointer,
        into out: inout [UInt8], parts: inout Parts, sealed: Bool, pii: String?
    ) throws(FieldError) {
        let token = tape[index]
        let node = schema.nodes[Int(nodeIndex)]
        switch node.kind {
        case .sealed:
            guard !sealed else {
                return try encode(index, node.child, schema, names, into: &out, parts: &parts, sealed: true, pii: pii)
            }
            try seal(
                index, node.child, schema, names, as: schema.classes[Int(node.dataClass)], meta: &out, parts: &parts)
        case .sealedText:
            guard !sealed else {
                return try encode(index, node.child, schema, names, into: &out, parts: &parts, sealed: true, pii: pii)
            }
            try seal(index, node.child, schema, names, as: pii.map { .pii($0) } ?? .content, meta: &out, parts: &parts)
        case .stringOr:
            try encode(
                index, token.kind == .string ? node.child : node.other, schema, names, into: &out, parts: &parts,
                sealed: sealed, pii: pii)
        case .string:
            try encodeString(index, maxBytes: node.limit, into: &out)
        case .enumeration:
            let range = Int(node.first)..<Int(node.first + node.count)
            guard token.kind == .string, !token.hasEscapes,
                let match = range.first(where: {
                    let value = schema.enumValues[$0]
                    return tape.stringEquals(
                        at: index,
                        UnsafeRawBufferPointer(rebasing: names[Int(value.start)..<Int(value.start + value.length)]))
                })
            else {
                let allowed = schema.enumNames[Int(node.dataClass)].joined(separator: ", ")
                if token.kind == .string {
                    throw FieldError("\"\(tape.string(at: index))\" is not one of \(allowed)")
                }
                throw FieldError("must be one of \(allowed)")
            }
            let value = schema.enumValues[match]
            out.append(ValueTag.string.rawValue)
            out.appendVarint(UInt64(value.length))
            out.append(
                contentsOf: UnsafeRawBufferPointer(rebasing: names[Int(value.start)..<Int(value.start + value.length)]))
        case .integer:
            guard token.kind == .integer else {
                throw FieldError(token.kind == .float ? "must be an integer, not a fraction" : "must be an integer")
            }
            let value = Int64(bitPattern: token.payload)
            guard node.integerRange.contains(value) else {
                throw FieldError(
                    "\(value) is outside \(node.integerRange.lowerBound)...\(node.integerRange.upperBound)")
            }
            out.append(ValueTag.integer.rawValue)
            out.appendZigzag(value)
        case .number:
            try encodeNumber(index, range: node.numberRange, into: &out)
        case .boolean:
            guard token.kind == .bool else { throw FieldError("must be true or false") }
            out.append(token.payload == 1 ? ValueTag.trueValue.rawValue : ValueTag.falseValue.rawValue)
        case .timestamp:
            guard token.kind == .string else { throw FieldError("must be an RFC 3339 date-time string") }
            let parsed: Result<Timestamp, TimestampError>
            if token.hasEscapes {
                scratch.removeAll(keepingCapacity: true)
                tape.appendString(at: index, to: &scratch)
                parsed = Timestamp.parse(scratch)
            } else {
                parsed = Timestamp.parse(tape.rawString(at: index))
            }
            switch parsed {
            case .success(let timestamp):
                out.append(ValueTag.timestamp.rawValue)
                timestamp.encode(to: &out)
            case .failure(let error): throw FieldError(error.description)
            }
        case .sha256:
            guard token.kind == .string, !token.hasEscapes, token.end - token.start == 64 else {
                throw FieldError("must be a SHA-256 digest as 64 lowercase hex digits")
            }
            let raw = tape.rawString(at: index)
            guard let bytes = Hex.decode(utf8: raw), raw.allSatisfy({ $0 < 0x41 || $0 > 0x46 }) else {
                throw FieldError("must be a SHA-256 digest as 64 lowercase hex digits")
            }
            out.append(ValueTag.digest.rawValue)
            out.append(contentsOf: bytes)
        case .bytes:
            guard token.kind == .string, !token.hasEscapes, let bytes = Base64.decode(tape.string(at: index)) else {
                throw FieldError("must be standard padded base64")
            }
            guard bytes.count <= node.limit else {
                throw FieldError("\(bytes.count) bytes, over the \(node.limit)-byte limit")
            }
            out.append(ValueTag.bytes.rawValue)
            out.appendVarint(UInt64(bytes.count))
            out.append(contentsOf: bytes)
        case .piiKind:
            guard token.kind == .string, !token.hasEscapes, DataClass.isValidPIIKind(tape.rawString(at: index)) else {
                throw FieldError("must be a PII kind: 1-48 of a-z, 0-9, _ (e.g. credit_card_number)")
            }
            try encodeString(index, maxBytes: 48, into: &out)
        case .scalar:
            switch token.kind {
            case .null: out.append(ValueTag.null.rawValue)
            case .bool: out.append(token.payload == 1 ? ValueTag.trueValue.rawValue : ValueTag.falseValue.rawValue)
            case .integer, .float:
                try encodeNumber(
                    index, range: -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude, into: &out)
            case .string: try encodeString(index, maxBytes: node.limit, into: &out)
            case .array, .object: throw FieldError("must be a string, number, boolean or null")
            }
        case .array:
            guard token.kind == .array else { throw FieldError("must be an array") }
            guard token.count <= node.limit else {
                throw FieldError("\(token.count) elements, over the limit of \(node.limit)")
            }
            out.append(ValueTag.array.rawValue)
            out.appendVarint(UInt64(token.count))
            var child = index + 1
            for position in 0..<Int(token.count) {
                do {
                    try encode(child, node.child, schema, names, into: &out, parts: &parts, sealed: sealed, pii: pii)
                } catch {
                    throw error.within("[\(position)]")
                }
                child = Int(tape[child].next)
            }
        case .object:
            try encodeObject(index, node, schema, names, into: &out, parts: &parts, sealed: sealed)
        case .map:
            guard token.kind == .object else { throw FieldError("must be an object") }
            guard token.count <= node.limit else {
                throw FieldError("\(token.count) members, over the limit of \(node.limit)")
            }
            out.append(ValueTag.object.rawValue)
            out.appendVarint(UInt64(token.count))
            var child = index + 1
            var seen = Set<String>()
            for _ in 0..<Int(token.count) {
                let key = tape.string(at: child)
                guard key.utf8.count <= 256, !key.isEmpty else { throw FieldError("keys must be 1-256 bytes") }
                guard seen.insert(key).inserted else { throw FieldError("duplicate key").within(key) }
                out.appendString(key)
                do {
                    try encode(
                        child + 1, node.child, schema, names, into: &out, parts: &parts, sealed: sealed, pii: pii)
                } catch {
                    throw error.within(key)
                }
                child = Int(tape[child + 1].next)
            }
        }
    }

    private mutating func seal(
        _ index: Int, _ nodeIndex: Int32, _ schema: CompiledSchema, _ names: UnsafeRawBufferPointer,
        as dataClass: DataClass, meta: inout [UInt8], parts: inout Parts
    ) throws(FieldError) {
        let partIndex = try parts.index(of: dataClass)
        var items = parts.items[partIndex]
        parts.items[partIndex] = []
        defer { parts.items[partIndex] = items }
        try encode(index, nodeIndex, schema, names, into: &items, parts: &parts, sealed: true, pii: nil)
        meta.append(ValueTag.sealed.rawValue)
        meta.appendVarint(UInt64(partIndex))
        meta.appendVarint(UInt64(parts.counts[partIndex]))
        parts.counts[partIndex] += 1
    }

    private mutating func encodeObject(
        _ index: Int, _ node: CompiledSchema.Node, _ schema: CompiledSchema, _ names: UnsafeRawBufferPointer,
        into out: inout [UInt8], parts: inout Parts, sealed: Bool
    ) throws(FieldError) {
        let token = tape[index]
        guard token.kind == .object else { throw FieldError("must be an object") }
        var pii: String?
        var child = index + 1
        if node.allowsPII {
            for _ in 0..<Int(token.count) {
                if Self.piiKey.withUnsafeBytes({ tape.stringEquals(at: child, $0) }) {
                    guard tape[child + 1].kind == .string, DataClass.isValidPIIKind(tape.rawString(at: child + 1))
                    else { throw FieldError("must be a PII kind: 1-48 of a-z, 0-9, _").within("pii") }
                    pii = tape.string(at: child + 1)
                }
                child = Int(tape[child + 1].next)
            }
            child = index + 1
        }
        out.append(ValueTag.fields.rawValue)
        out.appendVarint(UInt64(token.count))
        var seen: UInt64 = 0
        let first = Int(node.first)
        let fieldCount = Int(node.count)
        var expected = 0
        for _ in 0..<Int(token.count) {
            // Members usually arrive in schema order: try the field after the last one matched first.
            var position = -1
            for offset in 0..<fieldCount {
                let candidate = (expected + offset) % fieldCount
                let field = schema.fields[first + candidate]
                let name = UnsafeRawBufferPointer(
                    rebasing: names[Int(field.nameStart)..<Int(field.nameStart + field.nameLength)])
                if tape.stringEquals(at: child, name) {
                    position = candidate
                    break
                }
            }
            expected = position + 1
            guard position >= 0 else {
                let allowed = schema.fieldNames[first..<first + fieldCount].joined(separator: ", ")
                throw FieldError("unknown field (allowed: \(allowed))").within(tape.string(at: child))
            }
            let field = first + position
            guard seen & 1 << position == 0 else {
                throw FieldError("duplicate field").within(schema.fieldNames[field])
            }
            seen |= 1 << position
            out.appendVarint(UInt64(position))
            do {
                try encode(
                    child + 1, schema.fields[field].node, schema, names, into: &out, parts: &parts, sealed: sealed,
                    pii: pii)
            } catch {
                throw error.within(schema.fieldNames[field])
            }
            child = Int(tape[child + 1].next)
        }
        let missing = node.requiredMask & ~seen
        if missing != 0 {
            throw FieldError("required field is missing").within(
                schema.fieldNames[first + missing.trailingZeroBitCount])
        }
    }

    private static let piiKey = Array("pii".utf8)

    private mutating func encodeString(_ index: Int, maxBytes: Int, into out: inout [UInt8]) throws(FieldError) {
        let token = tape[index]
        guard token.kind == .string else { throw FieldError("must be a string") }
        if token.hasEscapes {
            scratch.removeAll(keepingCapacity: true)
            tape.appendString(at: index, to: &scratch)
            guard scratch.count <= maxBytes else { throw FieldError("longer than \(maxBytes) bytes") }
            out.append(ValueTag.string.rawValue)
            out.appendVarint(UInt64(scratch.count))
            out.append(contentsOf: scratch)
        } else {
            let raw = tape.rawString(at: index)
            guard raw.count <= maxBytes else { throw FieldError("longer than \(maxBytes) bytes") }
            out.append(ValueTag.string.rawValue)
            out.appendVarint(UInt64(raw.count))
            out.append(contentsOf: raw)
        }
    }

    private func encodeNumber(_ index: Int, range: ClosedRange<Double>, into out: inout [UInt8]) throws(FieldError) {
        let token = tape[index]
        switch token.kind {
        case .integer:
            let value = Int64(bitPattern: token.payload)
            guard range.contains(Double(value)) else {
                throw FieldError("\(value) is outside \(range.lowerBound)...\(range.upperBound)")
            }
            out.append(ValueTag.integer.rawValue)
            out.appendZigzag(value)
        case .float:
            let value = Double(bitPattern: token.payload)
            guard range.contains(value) else {
                throw FieldError("\(value) is outside \(range.lowerBound)...\(range.upperBound)")
            }
            if let decimal = tape.decimal(at: index) {
                out.append(ValueTag.decimal.rawValue)
                out.appendZigzag(decimal.mantissa)
                out.appendVarint(UInt64(decimal.scale))
            } else {
                out.append(ValueTag.double.rawValue)
                out.appendUInt64LE(value.bitPattern)
            }
        default:
            throw FieldError("must be a number")
        }
    }
}
