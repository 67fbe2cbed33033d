// CRM mappings: the versioned YAML files under Projections/crm/ that say which CRM records a call becomes (the
// object, the external id field and its value) and which fact fills each field, marking the fields that hold
// personal data (`crm.values`). Parsing checks every member, refuses unknown ones, and names the file, the
// member's path and the reason for anything it refuses; a template naming an unknown fact is refused then, not
// when a call is mapped.
public import LedgerCore

/// A parsed, validated CRM mapping.
public struct CRMMapping: Sendable, Equatable {
    /// The mapping's stable name.
    public var name: String
    /// Its version, bumped on every change of content.
    public var version: String
    /// What it is for.
    public var description: String
    /// The CRM it writes to (`salesforce`).
    public var system: String
    /// The records each call becomes, in file order.
    public var records: [Record]
    /// SHA-256 of the file's bytes, recorded with every write made under it.
    public var digest: SHA256Digest

    /// One CRM record per call.
    public struct Record: Sendable, Equatable {
        /// The CRM object (`VoiceCall`, `Task`).
        public var object: String
        /// The field the record is upserted by (`VendorCallKey`).
        public var externalIdField: String
        /// The external id's template; never reads personal data.
        public var externalId: CRMTemplate
        /// The fields, by name.
        public var fields: [Field]
    }

    /// One field of a record.
    public struct Field: Sendable, Equatable {
        /// The CRM field's name.
        public var name: String
        /// Its template.
        public var template: CRMTemplate
        /// Whether its value is personal data (`crm.values`).
        public var personal: Bool
    }

    /// Parses and validates the mapping in `bytes`, read from `file` (named in errors).
    public static func parse(_ bytes: [UInt8], file: String) throws(DefinitionError) -> CRMMapping {
        let raw = try DefinitionFile.decode(RawMapping.self, from: bytes, file: file, kind: "mapping")
        func fail(_ path: String, _ reason: String) -> DefinitionError {
            DefinitionError(file: file, path: path, reason: reason)
        }
        guard !raw.version.isEmpty else { throw fail("version", "must not be empty") }
        guard DefinitionFile.isName(raw.system) else {
            throw fail("system", "must be 1 to 64 lowercase letters, digits, '-' or '.', starting with a letter")
        }
        guard !raw.records.isEmpty else { throw fail("records", "a mapping needs at least one record") }
        var keys: Set<String> = []
        var records: [Record] = []
        for (index, rawRecord) in raw.records.enumerated() {
            let path = "records[\(index)]"
            guard isFieldName(rawRecord.object) else {
                throw fail(path + ".object", "'\(rawRecord.object)' is not an object name: \(fieldNameRule)")
            }
            let idField = rawRecord.externalId.field
            guard isFieldName(idField) else {
                throw fail(path + ".external_id.field", "'\(idField)' is not a field name: \(fieldNameRule)")
            }
            guard keys.insert(rawRecord.object + "\u{0}" + idField).inserted else {
                throw fail(path, "another record already upserts \(rawRecord.object) by \(idField)")
            }
            let externalId: CRMTemplate
            do {
                externalId = try CRMTemplate.parse(rawRecord.externalId.value)
            } catch {
                throw fail(path + ".external_id.value", error.description)
            }
            guard !externalId.readsPersonalData else {
                throw fail(
                    path + ".external_id.value",
                    "reads personal data (\(externalId.facts.joined(separator: ", "))); external ids are kept in clear")
            }
            guard !rawRecord.fields.isEmpty else { throw fail(path + ".fields", "a record needs at least one field") }
            var personal: Set<String> = []
            for (number, name) in (rawRecord.personal ?? []).enumerated() {
                guard rawRecord.fields.contains(where: { $0.name == name }) else {
                    throw fail(path + ".personal[\(number)]", "'\(name)' is not a field of the record")
                }
                guard personal.insert(name).inserted else {
                    throw fail(path + ".personal[\(number)]", "'\(name)' is listed twice")
                }
            }
            var fields: [Field] = []
            for (name, text) in rawRecord.fields {
                let fieldPath = path + ".fields." + name
                guard isFieldName(name) else { throw fail(fieldPath, "not a field name: \(fieldNameRule)") }
                guard name != idField else {
                    throw fail(fieldPath, "is the external id field; its value comes from external_id.value")
                }
                let template: CRMTemplate
                do {
                    template = try CRMTemplate.parse(text)
                } catch {
                    throw fail(fieldPath, error.description)
                }
                if template.readsPersonalData && !personal.contains(name) {
                    throw fail(
                        fieldPath,
                        "reads personal data (\(template.facts.joined(separator: ", "))); list the field under personal"
                    )
                }
                fields.append(Field(name: name, template: template, personal: personal.contains(name)))
            }
            records.append(
                Record(
                    object: rawRecord.object, externalIdField: idField, externalId: externalId,
                    fields: fields.sorted { $0.name < $1.name }))
        }
        return CRMMapping(
            name: raw.name, version: raw.version, description: raw.description ?? "", system: raw.system,
            records: records, digest: SHA256.hash(bytes))
    }

    /// What each record would write for the call `facts` describes, in the mapping's record order.
    public func records(for facts: CRMFacts) -> [CRMRecordValues] {
        records.map { record in
            var values = CRMRecordValues(
                object: record.object, externalIdField: record.externalIdField, externalId: nil, fields: [:],
                personalFields: record.fields.filter(\.personal).map(\.name), unavailable: [:])
            switch record.externalId.evaluate(facts) {
            case .known(let value): values.externalId = value.description
            case .unavailable(let reason): values.unavailable[record.externalIdField] = reason
            }
            for field in record.fields {
                switch field.template.evaluate(facts) {
                case .known(let value): values.fields[field.name] = value
                case .unavailable(let reason): values.unavailable[field.name] = reason
                }
            }
            return values
        }
    }

    private static let fieldNameRule = "1 to 80 ASCII letters, digits or '_', starting with a letter"

    /// Whether `name` is a CRM object or field name (Salesforce API names): 1 to 80 of `A-Z`, `a-z`, `0-9`,
    /// `_`, starting with a letter.
    private static func isFieldName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        func isLetter(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
        }
        guard (1...80).contains(bytes.count), isLetter(bytes[0]) else { return false }
        return bytes.allSatisfy {
            isLetter($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "_")
        }
    }
}

/// A coding key for any member name.
private struct MemberKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }

    init(_ name: String) {
        stringValue = name
    }

    init(stringValue: String) {
        self.stringValue = stringValue
    }

    init?(intValue: Int) {
        nil
    }
}

extension Decoder {
    /// The object's members, refusing any not in `known`.
    fileprivate func members(_ known: [String]) throws -> KeyedDecodingContainer<MemberKey> {
        let container = try container(keyedBy: MemberKey.self)
        for key in container.allKeys where !known.contains(key.stringValue) {
            throw Swift.DecodingError.dataCorrupted(
                .init(
                    codingPath: codingPath + [key],
                    debugDescription: "unknown member; expected \(known.joined(separator: ", "))"))
        }
        return container
    }
}

extension KeyedDecodingContainer<MemberKey> {
    fileprivate func value<T: Decodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        try decode(T.self, forKey: MemberKey(name))
    }

    fileprivate func optional<T: Decodable>(_ name: String, as type: T.Type = T.self) throws -> T? {
        try decodeIfPresent(T.self, forKey: MemberKey(name))
    }
}

/// The file as written, before validation.
private struct RawMapping: DefinitionHeader {
    var format: Int
    var name: String
    var version: String
    var description: String?
    var system: String
    var records: [RawRecord]

    init(from decoder: any Decoder) throws {
        let members = try decoder.members(["format", "name", "version", "description", "system", "records"])
        format = try members.value("format")
        name = try members.value("name")
        version = try members.value("version")
        description = try members.optional("description")
        system = try members.value("system")
        records = try members.value("records")
    }

    struct RawRecord: Decodable {
        var object: String
        var externalId: RawExternalID
        var fields: [(name: String, template: String)]
        var personal: [String]?

        init(from decoder: any Decoder) throws {
            let members = try decoder.members(["object", "external_id", "fields", "personal"])
            object = try members.value("object")
            externalId = try members.value("external_id")
            fields = try members.value("fields", as: RawFields.self).fields
            personal = try members.optional("personal")
        }
    }

    struct RawExternalID: Decodable {
        var field: String
        var value: String

        init(from decoder: any Decoder) throws {
            let members = try decoder.members(["field", "value"])
            field = try members.value("field")
            value = try members.value("value")
        }
    }

    /// A map of field name to template.
    struct RawFields: Decodable {
        var fields: [(name: String, template: String)]

        init(from decoder: any Decoder) throws {
            let members = try decoder.container(keyedBy: MemberKey.self)
            fields = try members.allKeys.map { key in (key.stringValue, try members.decode(String.self, forKey: key)) }
        }
    }
}

/// How one field's definition differs between two versions of a mapping.
public struct CRMFieldChange: Sendable, Equatable, Encodable {
    /// What happened to the field.
    public enum Kind: String, Sendable, Equatable, Encodable {
        /// Only the new version has it.
        case added
        /// Only the old version has it.
        case removed
        /// Both have it, with another template or personal flag.
        case changed
    }

    /// The record's CRM object.
    public var object: String
    /// The field the record is upserted by.
    public var externalIdField: String
    /// The field (the external id field when its template changed).
    public var field: String
    /// What happened to it.
    public var kind: Kind

    private enum CodingKeys: String, CodingKey {
        case object, field, kind
        case externalIdField = "external_id_field"
    }
}

extension CRMMapping {
    /// The field definitions that differ from `old`'s, records matched by object and external id field: every
    /// field of a record only one version has, each field added, removed or given another template or personal
    /// flag, and the external id field when its template changed. In this mapping's record order (then the
    /// removed records'), fields by name.
    public func changes(from old: CRMMapping) -> [CRMFieldChange] {
        func key(_ record: Record) -> String { record.object + "\u{0}" + record.externalIdField }
        let before = Dictionary(old.records.map { (key($0), $0) }) { first, _ in first }
        let after = Set(records.map(key))
        var changes: [CRMFieldChange] = []
        for record in records + old.records.filter({ !after.contains(key($0)) }) {
            func change(_ field: String, _ kind: CRMFieldChange.Kind) {
                changes.append(
                    CRMFieldChange(
                        object: record.object, externalIdField: record.externalIdField, field: field, kind: kind))
            }
            guard let previous = before[key(record)] else {
                for field in record.fields { change(field.name, .added) }
                continue
            }
            guard after.contains(key(record)) else {
                for field in record.fields { change(field.name, .removed) }
                continue
            }
            if previous.externalId != record.externalId { change(record.externalIdField, .changed) }
            let oldFields = Dictionary(previous.fields.map { ($0.name, $0) }) { first, _ in first }
            let newFields = Dictionary(record.fields.map { ($0.name, $0) }) { first, _ in first }
            for name in Set(oldFields.keys).union(newFields.keys).sorted() {
                switch (oldFields[name], newFields[name]) {
                case (nil, _?): change(name, .added)
                case (_?, nil): change(name, .removed)
                case (let was?, let now?) where was.template != now.template || was.personal != now.personal:
                    change(name, .changed)
                default: break
                }
            }
        }
        return changes
    }
}
