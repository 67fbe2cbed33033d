// A body schema flattened into arrays of plain structs, so that validating an event walks integer indexes
// instead of pattern-matching indirect enums (which retain and release their payloads on every field).

/// The flat form of one event type's `ObjectSchema`. Built once per type.
struct CompiledSchema: Sendable {
    /// What a node checks.
    enum Kind: UInt8, Sendable {
        case string, enumeration, integer, number, boolean, timestamp, sha256, bytes, piiKind, scalar
        case array, object, map, stringOr, sealed, sealedText
    }

    /// One type in the schema.
    struct Node: Sendable {
        var kind: Kind
        /// `string`, `bytes`, `scalar`: the byte limit; `array`, `map`: the element limit.
        var limit = 0
        var integerRange: ClosedRange<Int64> = 0...0
        var numberRange: ClosedRange<Double> = 0...0
        /// `array`, `map`, `sealed`, `sealedText`: the inner node; `stringOr`: the string alternative.
        var child: Int32 = -1
        /// `stringOr`: the other alternative.
        var other: Int32 = -1
        /// `enumeration`: range in `enumValues`; `object`: range in `fields`.
        var first: Int32 = 0
        var count: Int32 = 0
        /// `sealed`: index in `classes`.
        var dataClass: Int32 = 0
        /// `object`: whether it may carry `"pii"`, and which fields are required.
        var allowsPII = false
        var requiredMask: UInt64 = 0
    }

    /// One member of an object node.
    struct Field: Sendable {
        /// Where the member name's UTF-8 bytes are in `namePool`.
        var nameStart: Int32
        var nameLength: Int32
        var node: Int32
    }

    private(set) var nodes: [Node] = []
    private(set) var fields: [Field] = []
    private(set) var fieldNames: [String] = []
    /// Every member name and enumeration value, back to back; `Field` and `enumValues` point into it, so that
    /// matching a key reads one buffer instead of an array per name.
    private(set) var namePool: [UInt8] = []
    /// Allowed values of enumerations: where their bytes are in `namePool`.
    private(set) var enumValues: [(start: Int32, length: Int32)] = []
    private(set) var enumNames: [[String]] = []
    private(set) var classes: [DataClass] = []
    /// The root node (the body object).
    private(set) var root: Int32 = 0

    init(_ schema: ObjectSchema) {
        root = add(.object(schema))
    }

    private mutating func add(_ type: FieldType) -> Int32 {
        let index = Int32(nodes.count)
        nodes.append(Node(kind: .string))
        var node: Node
        switch type {
        case .string(let maxBytes): node = Node(kind: .string, limit: maxBytes)
        case .enumeration(let values):
            node = Node(kind: .enumeration, first: Int32(enumValues.count), count: Int32(values.count))
            node.dataClass = Int32(enumNames.count)
            enumNames.append(values)
            for value in values {
                enumValues.append((Int32(namePool.count), Int32(value.utf8.count)))
                namePool.append(contentsOf: value.utf8)
            }
        case .integer(let range): node = Node(kind: .integer, integerRange: range)
        case .number(let range): node = Node(kind: .number, numberRange: range)
        case .boolean: node = Node(kind: .boolean)
        case .timestamp: node = Node(kind: .timestamp)
        case .sha256: node = Node(kind: .sha256)
        case .bytes(let maxBytes): node = Node(kind: .bytes, limit: maxBytes)
        case .piiKind: node = Node(kind: .piiKind)
        case .scalar(let maxBytes): node = Node(kind: .scalar, limit: maxBytes)
        case .array(let element, let maxCount):
            node = Node(kind: .array, limit: maxCount)
            node.child = add(element)
        case .map(let value, let maxCount):
            node = Node(kind: .map, limit: maxCount)
            node.child = add(value)
        case .stringOr(let string, let other):
            node = Node(kind: .stringOr)
            node.child = add(string)
            node.other = add(other)
        case .sealed(let dataClass, let inner):
            node = Node(kind: .sealed)
            node.child = add(inner)
            if let existing = classes.firstIndex(of: dataClass) {
                node.dataClass = Int32(existing)
            } else {
                node.dataClass = Int32(classes.count)
                classes.append(dataClass)
            }
        case .sealedText(let inner):
            node = Node(kind: .sealedText)
            node.child = add(inner)
        case .object(let schema):
            node = Node(kind: .object, allowsPII: schema.allowsPIIAnnotation, requiredMask: schema.requiredMask)
            let children = schema.fields.map { add($0.type) }
            node.first = Int32(fields.count)
            node.count = Int32(schema.fields.count)
            for (field, child) in zip(schema.fields, children) {
                fields.append(
                    Field(nameStart: Int32(namePool.count), nameLength: Int32(field.name.utf8.count), node: child))
                namePool.append(contentsOf: field.name.utf8)
                fieldNames.append(field.name)
            }
        }
        nodes[Int(index)] = node
        return index
    }

    /// The compiled schema of every event type, by type.
    static let byType: [EventType: CompiledSchema] = Dictionary(
        uniqueKeysWithValues: EventType.allCases.map { ($0, CompiledSchema($0.schema)) })
}
