// Renders a record as an interchange-style JSON line, opening sealed parts whose plaintext is available
// and showing the others as redacted with their class and digest.

/// Renders records to JSON (FORMAT.md §7).
public enum EventRenderer {
    /// What a reader holds for one sealed part of a record.
    public enum PartContent {
        /// The decrypted items of the part.
        case opened([UInt8])
        /// The part cannot be read; `state` says why (`shredded`, `compacted`, `locked`).
        case unavailable(state: String)
    }

    /// Appends the JSON object for `record` to `out`; `parts[i]` is what is known of part `i`.
    public static func render(_ record: RecordView, parts: [PartContent], into out: inout [UInt8]) throws(DecodingError)
    {
        let recordParts = record.parts
        var itemOffsets: [[Int]?] = []
        for content in parts {
            if case .opened(let plaintext) = content {
                itemOffsets.append(try itemStarts(plaintext))
            } else {
                itemOffsets.append(nil)
            }
        }
        out.appendASCII("{\"seq\":")
        out.appendJSONInteger(record.seq)
        out.appendASCII(",\"time\":\"")
        Timestamp(micros: record.time).append(to: &out)
        out.appendASCII("\",\"type\":")
        out.appendJSONString(UnsafeRawBufferPointer(rebasing: record.bytes[record.typeRange]))
        if !record.callRange.isEmpty {
            out.appendASCII(",\"call\":")
            out.appendJSONString(UnsafeRawBufferPointer(rebasing: record.bytes[record.callRange]))
        }
        out.appendASCII(",\"tenant\":")
        out.appendJSONString(UnsafeRawBufferPointer(rebasing: record.bytes[record.tenantRange]))
        out.appendASCII(",\"source\":")
        out.appendJSONString(UnsafeRawBufferPointer(rebasing: record.bytes[record.sourceRange]))
        out.appendASCII(",\"idempotency\":")
        out.appendJSONString(UnsafeRawBufferPointer(rebasing: record.bytes[record.idempotencyRange]))
        if let occurred = record.occurred {
            out.appendASCII(",\"occurred\":\"")
            occurred.append(to: &out)
            out.append(UInt8(ascii: "\""))
        }
        out.appendASCII(",\"body\":")
        var reader = ByteReader(UnsafeRawBufferPointer(rebasing: record.bytes[record.bodyRange]))
        let context = SealedContext(record: record, recordParts: recordParts, contents: parts, itemOffsets: itemOffsets)
        let schema = EventType(rawValue: record.typeName).flatMap { CompiledSchema.byType[$0] }
        try renderValue(&reader, into: &out, sealed: context, schema: schema, node: schema?.root)
        if !recordParts.isEmpty {
            out.appendASCII(",\"sealed\":[")
            for (index, part) in recordParts.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.appendASCII("{\"class\":")
                out.appendJSONString(UnsafeRawBufferPointer(rebasing: record.bytes[part.classRange]))
                out.appendASCII(",\"digest\":\"")
                out.append(contentsOf: record.digest(of: part).hex.utf8)
                out.appendASCII("\",\"state\":\"")
                switch index < parts.count ? parts[index] : .unavailable(state: "locked") {
                case .opened: out.appendASCII("opened")
                case .unavailable(let state): out.append(contentsOf: state.utf8)
                }
                out.appendASCII("\"}")
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "}"))
    }

    private struct SealedContext {
        var record: RecordView
        var recordParts: [RecordView.Part]
        var contents: [PartContent]
        var itemOffsets: [[Int]?]
    }

    /// The start offset of each item in a part's plaintext.
    public static func itemStarts(_ plaintext: [UInt8]) throws(DecodingError) -> [Int] {
        var starts: [Int] = []
        var failure: DecodingError?
        plaintext.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            do throws(DecodingError) {
                while !reader.isAtEnd {
                    starts.append(reader.offset)
                    try skipValue(&reader)
                }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return starts
    }

    /// Advances `reader` past one encoded value.
    public static func skipValue(_ reader: inout ByteReader) throws(DecodingError) {
        let offset = reader.offset
        guard let tag = ValueTag(rawValue: try reader.readByte()) else {
            throw .invalidByte(offset: offset, what: "value tag")
        }
        switch tag {
        case .null, .falseValue, .trueValue: break
        case .integer: _ = try reader.readVarint()
        case .timestamp: _ = try Timestamp.decode(&reader)
        case .double: _ = try reader.readRange(count: 8)
        case .string, .bytes: _ = try reader.readLengthPrefixedRange()
        case .digest: _ = try reader.readRange(count: 32)
        case .array:
            for _ in 0..<(try reader.readVarint()) { try skipValue(&reader) }
        case .object:
            for _ in 0..<(try reader.readVarint()) {
                _ = try reader.readLengthPrefixedRange()
                try skipValue(&reader)
            }
        case .sealed, .decimal:
            _ = try reader.readVarint()
            _ = try reader.readVarint()
        case .fields:
            for _ in 0..<(try reader.readVarint()) {
                _ = try reader.readVarint()
                try skipValue(&reader)
            }
        }
    }

    /// The schema node that describes a value with `tag` at `node`: sealing wrappers are looked through and
    /// a string-or-array choice is made by the tag.
    static func resolve(_ node: Int32?, tag: ValueTag, in schema: CompiledSchema?) -> Int32? {
        guard var current = node, let schema else { return nil }
        while true {
            let described = schema.nodes[Int(current)]
            switch described.kind {
            case .sealed, .sealedText:
                if tag == .sealed { return current }
                current = described.child
            case .stringOr:
                if tag == .sealed {
                    let kind = schema.nodes[Int(described.child)].kind
                    current = kind == .sealed || kind == .sealedText ? described.child : described.other
                } else {
                    current = tag == .string ? described.child : described.other
                }
            default: return current
            }
        }
    }

    private static func renderValue(
        _ reader: inout ByteReader, into out: inout [UInt8], sealed: SealedContext?, schema: CompiledSchema?,
        node: Int32?
    ) throws(DecodingError) {
        let offset = reader.offset
        guard let tag = ValueTag(rawValue: try reader.readByte()) else {
            throw .invalidByte(offset: offset, what: "value tag")
        }
        let node = resolve(node, tag: tag, in: schema)
        let described = node.flatMap { schema?.nodes[Int($0)] }
        switch tag {
        case .null: out.appendASCII("null")
        case .falseValue: out.appendASCII("false")
        case .trueValue: out.appendASCII("true")
        case .integer: out.appendJSONInteger(try reader.readZigzag())
        case .double:
            out.appendJSONDouble(Double(bitPattern: try reader.readUInt64LE()))
        case .decimal:
            let mantissa = try reader.readZigzag()
            let scale = try reader.readVarint()
            guard scale <= UInt64(RecordLimits.readableDecimalScale) else {
                throw .invalidByte(offset: offset, what: "decimal scale \(scale)")
            }
            out.appendJSONDecimal(mantissa: mantissa, scale: Int(scale))
        case .string:
            let range = try reader.readLengthPrefixedRange()
            out.appendJSONString(UnsafeRawBufferPointer(rebasing: reader.bytes[range]))
        case .bytes:
            let range = try reader.readLengthPrefixedRange()
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: Base64.encode(UnsafeRawBufferPointer(rebasing: reader.bytes[range])).utf8)
            out.append(UInt8(ascii: "\""))
        case .digest:
            let range = try reader.readRange(count: 32)
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: Hex.encode(UnsafeRawBufferPointer(rebasing: reader.bytes[range])).utf8)
            out.append(UInt8(ascii: "\""))
        case .timestamp:
            out.append(UInt8(ascii: "\""))
            try Timestamp.decode(&reader).append(to: &out)
            out.append(UInt8(ascii: "\""))
        case .array:
            let element = described?.kind == .array ? described?.child : nil
            out.append(UInt8(ascii: "["))
            for index in 0..<(try reader.readVarint()) {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                try renderValue(&reader, into: &out, sealed: sealed, schema: schema, node: element)
            }
            out.append(UInt8(ascii: "]"))
        case .object:
            let value = described?.kind == .map ? described?.child : nil
            out.append(UInt8(ascii: "{"))
            for index in 0..<(try reader.readVarint()) {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                let key = try reader.readLengthPrefixedRange()
                out.appendJSONString(UnsafeRawBufferPointer(rebasing: reader.bytes[key]))
                out.append(UInt8(ascii: ":"))
                try renderValue(&reader, into: &out, sealed: sealed, schema: schema, node: value)
            }
            out.append(UInt8(ascii: "}"))
        case .fields:
            out.append(UInt8(ascii: "{"))
            for index in 0..<(try reader.readVarint()) {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                let fieldOffset = reader.offset
                let number = try reader.readVarint()
                if let schema, let described, described.kind == .object, number < UInt64(described.count) {
                    let field = Int(described.first) + Int(number)
                    out.appendJSONString(schema.fieldNames[field])
                    out.append(UInt8(ascii: ":"))
                    try renderValue(
                        &reader, into: &out, sealed: sealed, schema: schema, node: schema.fields[field].node)
                } else if schema == nil {
                    out.appendJSONString("#\(number)")
                    out.append(UInt8(ascii: ":"))
                    try renderValue(&reader, into: &out, sealed: sealed, schema: nil, node: nil)
                } else {
                    throw .invalidByte(offset: fieldOffset, what: "field number \(number) for this schema")
                }
            }
            out.append(UInt8(ascii: "}"))
        case .sealed:
            let partIndex = Int(clamping: try reader.readVarint())
            let itemIndex = Int(clamping: try reader.readVarint())
            guard let sealed, partIndex < sealed.recordParts.count else {
                throw .invalidByte(offset: offset, what: "sealed reference to a missing part")
            }
            if partIndex < sealed.contents.count, case .opened(let plaintext) = sealed.contents[partIndex],
                let starts = sealed.itemOffsets[partIndex]
            {
                guard itemIndex < starts.count else {
                    throw .invalidByte(offset: offset, what: "sealed reference to a missing item")
                }
                let inner = described.map { $0.kind == .sealed || $0.kind == .sealedText ? $0.child : node! }
                var failure: DecodingError?
                plaintext.withUnsafeBytes { raw in
                    var itemReader = ByteReader(raw, offset: starts[itemIndex])
                    do throws(DecodingError) {
                        try renderValue(&itemReader, into: &out, sealed: nil, schema: schema, node: inner)
                    } catch {
                        failure = error
                    }
                }
                if let failure { throw failure }
            } else {
                let part = sealed.recordParts[partIndex]
                out.appendASCII("{\"redacted\":")
                out.appendJSONString(UnsafeRawBufferPointer(rebasing: sealed.record.bytes[part.classRange]))
                out.appendASCII(",\"digest\":\"")
                out.append(contentsOf: sealed.record.digest(of: part).hex.utf8)
                out.appendASCII("\"}")
            }
        }
    }
}
