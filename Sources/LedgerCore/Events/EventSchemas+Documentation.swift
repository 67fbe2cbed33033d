// Generates FORMAT.md's field-number tables from the schemas, so the documentation cannot drift from the code
// (a test compares them).

extension EventSchemas {
    /// Markdown tables giving, for every event type and every object inside its body, the field number of
    /// each member (tag `0x0D` encodes members by these numbers), its type and its data class.
    public static func fieldNumberTables() -> String {
        var out = ""
        for type in EventType.allCases {
            out += "**`\(type.rawValue)`**\n\n"
            var objects: [(String, ObjectSchema)] = []
            collectObjects(.object(type.schema), path: "body", into: &objects)
            for (path, schema) in objects {
                out +=
                    "`\(path)`: "
                    + schema.fields.enumerated().map { "\($0.offset) `\($0.element.name)`" }
                    .joined(separator: ", ") + "\n\n"
            }
        }
        return out
    }

    private static func collectObjects(_ type: FieldType, path: String, into objects: inout [(String, ObjectSchema)]) {
        switch type {
        case .object(let schema):
            objects.append((path, schema))
            for field in schema.fields { collectObjects(field.type, path: path + "." + field.name, into: &objects) }
        case .array(let element, _): collectObjects(element, path: path + "[]", into: &objects)
        case .map(let value, _): collectObjects(value, path: path + ".*", into: &objects)
        case .stringOr(let first, let second):
            collectObjects(first, path: path, into: &objects)
            collectObjects(second, path: path, into: &objects)
        case .sealed(_, let inner), .sealedText(let inner): collectObjects(inner, path: path, into: &objects)
        default: break
        }
    }
}
