// The ledger's own events (legal holds, retention assignments, purges and compactions, definition changes, CRM
// writes) as typed values, each rendered as the interchange JSON line it is appended from. The rendering is
// byte-identical to what Foundation's `JSONSerialization` made of these events with `.sortedKeys` before they were
// typed (escaped slashes, integral doubles without `.0`, members in sorted order), so a record appended through
// them, and its frame's input byte count, is the same as before.

/// A JSON value inside an own event's body.
public indirect enum OwnEventValue: Sendable, Equatable {
    /// A string.
    case string(String)
    /// A signed whole number.
    case integer(Int64)
    /// An unsigned whole number (tree sizes, seqs).
    case unsigned(UInt64)
    /// A number with a fraction; must be finite to be appended.
    case double(Double)
    /// `true` or `false`.
    case bool(Bool)
    /// `null`.
    case null
    /// An array.
    case array([OwnEventValue])
    /// An object: its members in the order they are rendered.
    case object([OwnEventMember])

    /// An array of strings.
    public static func strings(_ values: [String]) -> OwnEventValue { .array(values.map { .string($0) }) }
}

/// One member of a JSON object in an own event.
public struct OwnEventMember: Sendable, Equatable {
    /// The member's name.
    public var key: String
    /// Its value.
    public var value: OwnEventValue

    /// The member `key`: `value`.
    public init(_ key: String, _ value: OwnEventValue) {
        self.key = key
        self.value = value
    }
}

/// An event the ledger itself makes: its envelope and body, ready to be rendered and decoded for appending.
public struct OwnEvent: Sendable, Equatable {
    /// The source of every event the ledger makes itself (CRM writes name their CRM instead).
    public static let ledgerSource = "call-ledger/0.1"

    /// The event type.
    public var type: EventType
    /// The call, nil for a ledger-wide event.
    public var call: String?
    /// The tenant (`*` for every tenant).
    public var tenant: String
    /// Producer and version.
    public var source: String
    /// The idempotency key: appending the same key again appends nothing.
    public var idempotency: String
    /// The body's members, in rendering order (sorted, as the interchange line always had them).
    public var body: [OwnEventMember]

    /// An event of `type` with the given envelope and body members.
    public init(
        type: EventType, call: String?, tenant: String, source: String, idempotency: String, body: [OwnEventMember]
    ) {
        self.type = type
        self.call = call
        self.tenant = tenant
        self.source = source
        self.idempotency = idempotency
        self.body = body
    }

    /// The interchange JSON line (without newline): envelope members `body`, `call`, `idempotency`, `source`,
    /// `tenant`, `type` in that order.
    public var jsonLine: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(UInt8(ascii: "{"))
        Self.appendKey("body", to: &out, first: true)
        Self.append(.object(body), to: &out)
        if let call {
            Self.appendKey("call", to: &out, first: false)
            Self.appendString(call, to: &out)
        }
        Self.appendKey("idempotency", to: &out, first: false)
        Self.appendString(idempotency, to: &out)
        Self.appendKey("source", to: &out, first: false)
        Self.appendString(source, to: &out)
        Self.appendKey("tenant", to: &out, first: false)
        Self.appendString(tenant, to: &out)
        Self.appendKey("type", to: &out, first: false)
        Self.appendString(type.rawValue, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// The event validated and transcoded by `decoder`, as any interchange line is; `lineNumber` names it in
    /// errors. A non-finite number in the body is refused here, naming its field.
    public func decoded(
        with decoder: inout EventDecoder, lineNumber: Int
    ) throws(EventDecodingError) -> DecodedEvent {
        if let path = Self.nonFinitePath(.object(body), path: "body") {
            throw EventDecodingError(
                line: lineNumber, field: path, reason: "is not a finite number, which JSON cannot hold")
        }
        var line = jsonLine
        let result = line.withUnsafeMutableBytes { raw in
            Result { () throws(EventDecodingError) in
                try decoder.decode(UnsafeRawBufferPointer(raw), lineNumber: lineNumber)
            }
        }
        return try result.get()
    }

    // MARK: - Rendering

    private static func appendKey(_ key: String, to out: inout [UInt8], first: Bool) {
        if !first { out.append(UInt8(ascii: ",")) }
        appendString(key, to: &out)
        out.append(UInt8(ascii: ":"))
    }

    private static func append(_ value: OwnEventValue, to out: inout [UInt8]) {
        switch value {
        case .string(let text): appendString(text, to: &out)
        case .integer(let number): out.appendJSONInteger(number)
        case .unsigned(let number): out.appendJSONInteger(number)
        case .double(let number):
            var text = number.description
            if text.hasSuffix(".0") { text.removeLast(2) }
            out.append(contentsOf: text.utf8)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .null: out.append(contentsOf: "null".utf8)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                append(element, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                appendKey(member.key, to: &out, first: index == 0)
                append(member.value, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A JSON string as `JSONSerialization` writes it: `"`, `\` and `/` escaped with a backslash, the usual
    /// short escapes, other control characters as `\u00xx` (lowercase hex), everything else as UTF-8.
    private static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"):
                out.append(UInt8(ascii: "\\"))
                out.append(byte)
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x00..<0x20:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The JSON path of the first non-finite double in `value`, if any.
    private static func nonFinitePath(_ value: OwnEventValue, path: String) -> String? {
        switch value {
        case .double(let number): return number.isFinite ? nil : path
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                if let found = nonFinitePath(element, path: "\(path)[\(index)]") { return found }
            }
            return nil
        case .object(let members):
            for member in members {
                if let found = nonFinitePath(member.value, path: "\(path).\(member.key)") { return found }
            }
            return nil
        default: return nil
        }
    }
}

/// A value that is one of the ledger's own events.
public protocol OwnEventConvertible: Sendable {
    /// The event.
    var ownEvent: OwnEvent { get }
}

/// A definition file as events name it: its name, version and SHA-256 (hex).
public struct DefinitionReference: Sendable, Equatable, Hashable {
    /// The definition's name.
    public var name: String
    /// Its version.
    public var version: String
    /// The SHA-256 of its file, hex.
    public var digest: String

    /// A reference to definition `name` at `version` with file digest `digest`.
    public init(name: String, version: String, digest: String) {
        self.name = name
        self.version = version
        self.digest = digest
    }

    /// `{"digest","name","version"}`.
    var value: OwnEventValue {
        .object([.init("digest", .string(digest)), .init("name", .string(name)), .init("version", .string(version))])
    }
}

/// `projection.definition.changed`: `projection` now uses `definition`, read from `path`. Its idempotency key names
/// the log's size, so returning to an earlier definition is recorded again while a retried run appends nothing twice.
public struct DefinitionChangedEvent: OwnEventConvertible, Equatable {
    /// The projection (`retention`, `crm`, `qa`).
    public var projection: String
    /// The definition now in use.
    public var definition: DefinitionReference
    /// The file it was read from, if recorded.
    public var path: String?
    /// The tenant (`*` for every tenant).
    public var tenant: String
    /// The log's size when the change was noticed.
    public var logSize: UInt64

    /// The change of `projection` to `definition`.
    public init(projection: String, definition: DefinitionReference, path: String?, tenant: String, logSize: UInt64) {
        self.projection = projection
        self.definition = definition
        self.path = path
        self.tenant = tenant
        self.logSize = logSize
    }

    /// The event.
    public var ownEvent: OwnEvent {
        var body = [OwnEventMember("definition", definition.value)]
        if let path { body.append(.init("path", .string(path))) }
        body.append(.init("projection", .string(projection)))
        return OwnEvent(
            type: .projectionDefinitionChanged, call: nil, tenant: tenant, source: OwnEvent.ledgerSource,
            idempotency: "definition:\(projection):\(definition.name):\(definition.digest):\(logSize)", body: body)
    }
}

/// `legal.hold.placed` or `legal.hold.released` on one call.
public struct LegalHoldEvent: OwnEventConvertible, Equatable {
    /// Placing or releasing.
    public enum Action: String, Sendable, Equatable {
        /// `legal.hold.placed`.
        case placed
        /// `legal.hold.released`.
        case released

        /// The event type.
        public var eventType: EventType { self == .placed ? .legalHoldPlaced : .legalHoldReleased }
    }

    /// Placing or releasing.
    public var action: Action
    /// The call.
    public var call: String
    /// Its tenant.
    public var tenant: String
    /// The hold's id (a case or matter number).
    public var hold: String
    /// Why.
    public var reason: String
    /// Who asked, if said.
    public var by: String?

    /// `action` of hold `hold` on `call`.
    public init(action: Action, call: String, tenant: String, hold: String, reason: String, by: String?) {
        self.action = action
        self.call = call
        self.tenant = tenant
        self.hold = hold
        self.reason = reason
        self.by = by
    }

    /// The event.
    public var ownEvent: OwnEvent {
        var body: [OwnEventMember] = []
        if let by { body.append(.init("by", .string(by))) }
        body.append(.init("hold", .string(hold)))
        body.append(.init("reason", .string(reason)))
        return OwnEvent(
            type: action.eventType, call: call, tenant: tenant, source: OwnEvent.ledgerSource,
            idempotency: "hold:\(hold):\(call):\(action.rawValue)", body: body)
    }
}

/// `retention.policy.assigned`: a policy assigned to one call, or to a whole tenant when `call` is nil.
public struct RetentionAssignedEvent: OwnEventConvertible, Equatable {
    /// The call, or nil for every call of `tenant`.
    public var call: String?
    /// The tenant.
    public var tenant: String
    /// The policy.
    public var policy: DefinitionReference

    /// The assignment of `policy` to `call` (or the tenant).
    public init(call: String?, tenant: String, policy: DefinitionReference) {
        self.call = call
        self.tenant = tenant
        self.policy = policy
    }

    /// The event.
    public var ownEvent: OwnEvent {
        OwnEvent(
            type: .retentionPolicyAssigned, call: call, tenant: tenant, source: OwnEvent.ledgerSource,
            idempotency: "retention:\(call ?? "tenant:" + tenant):\(policy.name):\(policy.digest)",
            body: [.init("policy", policy.value)])
    }
}

/// `retention.purged`: data classes of a call erased under a policy, after a signed checkpoint.
public struct RetentionPurgedEvent: OwnEventConvertible, Equatable {
    /// The call.
    public var call: String
    /// Its tenant.
    public var tenant: String
    /// The data classes erased.
    public var classes: [String]
    /// The policy that made it due.
    public var policy: DefinitionReference
    /// `crypto-shred` or `zero-retention`.
    public var method: String
    /// The size of the checkpoint signed just before the erasure.
    public var treeSize: UInt64
    /// Its root hash, hex.
    public var root: String

    /// The purge of `classes` of `call`.
    public init(
        call: String, tenant: String, classes: [String], policy: DefinitionReference, method: String,
        treeSize: UInt64, root: String
    ) {
        self.call = call
        self.tenant = tenant
        self.classes = classes
        self.policy = policy
        self.method = method
        self.treeSize = treeSize
        self.root = root
    }

    /// The event.
    public var ownEvent: OwnEvent {
        OwnEvent(
            type: .retentionPurged, call: call, tenant: tenant, source: OwnEvent.ledgerSource,
            idempotency: "purge:\(call):\(policy.name):\(treeSize)",
            body: [
                .init("checkpoint", .object([.init("root", .string(root)), .init("tree_size", .unsigned(treeSize))])),
                .init("classes", .strings(classes)), .init("method", .string(method)), .init("policy", policy.value),
            ])
    }
}

/// `retention.compacted`: a call's erased ciphertext removed from the segments.
public struct RetentionCompactedEvent: OwnEventConvertible, Equatable {
    /// The call.
    public var call: String
    /// Its tenant.
    public var tenant: String
    /// The seq of the call's latest `retention.purged` event that this compaction completes.
    public var purgeSeq: UInt64
    /// The data classes compacted.
    public var classes: [String]
    /// How many sealed parts lost their ciphertext.
    public var parts: Int
    /// How many segments were rewritten.
    public var segments: Int

    /// The compaction of `call`'s erased classes.
    public init(call: String, tenant: String, purgeSeq: UInt64, classes: [String], parts: Int, segments: Int) {
        self.call = call
        self.tenant = tenant
        self.purgeSeq = purgeSeq
        self.classes = classes
        self.parts = parts
        self.segments = segments
    }

    /// The event.
    public var ownEvent: OwnEvent {
        OwnEvent(
            type: .retentionCompacted, call: call, tenant: tenant, source: OwnEvent.ledgerSource,
            idempotency: "compacted:\(call):\(purgeSeq)",
            body: [
                .init("classes", .strings(classes)), .init("parts", .integer(Int64(parts))),
                .init("segments", .integer(Int64(segments))),
            ])
    }
}

/// The record a CRM write goes to, and the mapping and request that write it.
public struct CRMWriteTarget: Sendable, Equatable {
    /// The CRM system (`salesforce`); the events' source is `crm/<system>`.
    public var system: String
    /// The call the record comes from.
    public var call: String
    /// Its tenant.
    public var tenant: String
    /// The CRM object (`VoiceCall`).
    public var object: String
    /// The external-id field the record is upserted on.
    public var externalIdField: String
    /// The external id.
    public var externalId: String
    /// The mapping.
    public var mapping: DefinitionReference
    /// The request key the write was sent under.
    public var requestKey: String

    /// A write of `object` `externalId` from `call`.
    public init(
        system: String, call: String, tenant: String, object: String, externalIdField: String, externalId: String,
        mapping: DefinitionReference, requestKey: String
    ) {
        self.system = system
        self.call = call
        self.tenant = tenant
        self.object = object
        self.externalIdField = externalIdField
        self.externalId = externalId
        self.mapping = mapping
        self.requestKey = requestKey
    }
}

/// `crm.write.started`: appended durably before a record is sent, so an interrupted write is found again.
public struct CRMWriteStartedEvent: OwnEventConvertible, Equatable {
    /// The record and request.
    public var target: CRMWriteTarget
    /// The fields sent, in plan order.
    public var fieldNames: [String]

    /// The start of the write of `fieldNames` to `target`.
    public init(target: CRMWriteTarget, fieldNames: [String]) {
        self.target = target
        self.fieldNames = fieldNames
    }

    /// The event.
    public var ownEvent: OwnEvent {
        OwnEvent(
            type: .crmWriteStarted, call: target.call, tenant: target.tenant, source: "crm/\(target.system)",
            idempotency: "crm-started:\(target.object):\(target.externalId):\(target.requestKey)",
            body: [
                .init("external_id", .string(target.externalId)),
                .init("external_id_field", .string(target.externalIdField)),
                .init("field_names", .strings(fieldNames)), .init("mapping", target.mapping.value),
                .init("object", .string(target.object)), .init("request_key", .string(target.requestKey)),
                .init("system", .string(target.system)),
            ])
    }
}

/// `crm.write` (the CRM took the values) or `crm.write.failed`: the outcome of one record's write.
public struct CRMWriteOutcomeEvent: OwnEventConvertible, Equatable {
    /// The record and request.
    public var target: CRMWriteTarget
    /// Whether the CRM took the values (`crm.write`) or not (`crm.write.failed`).
    public var succeeded: Bool
    /// The values sent, field by field, in the order they are recorded (the caller's key order).
    public var fields: [OwnEventMember]
    /// The HTTP status (0 when no answer came).
    public var status: Int
    /// How many attempts the request took.
    public var attempts: Int
    /// The CRM's id of the record, if it said.
    public var recordId: String?
    /// The CRM's error, if any.
    public var error: String?
    /// Whether the outcome was read back after an interrupted apply rather than answered.
    public var readBack: Bool

    /// The outcome of the write of `fields` to `target`.
    public init(
        target: CRMWriteTarget, succeeded: Bool, fields: [OwnEventMember], status: Int, attempts: Int,
        recordId: String?, error: String?, readBack: Bool
    ) {
        self.target = target
        self.succeeded = succeeded
        self.fields = fields
        self.status = status
        self.attempts = attempts
        self.recordId = recordId
        self.error = error
        self.readBack = readBack
    }

    /// The event.
    public var ownEvent: OwnEvent {
        var body: [OwnEventMember] = [.init("attempts", .integer(Int64(attempts)))]
        if let error { body.append(.init("error", .string(error))) }
        body.append(.init("external_id", .string(target.externalId)))
        body.append(.init("external_id_field", .string(target.externalIdField)))
        body.append(.init("fields", .object(fields)))
        body.append(.init("mapping", target.mapping.value))
        body.append(.init("object", .string(target.object)))
        if readBack { body.append(.init("read_back", .bool(true))) }
        if let recordId { body.append(.init("record_id", .string(recordId))) }
        body.append(.init("request_key", .string(target.requestKey)))
        body.append(.init("status", .integer(Int64(status))))
        body.append(.init("system", .string(target.system)))
        return OwnEvent(
            type: succeeded ? .crmWrite : .crmWriteFailed, call: target.call, tenant: target.tenant,
            source: "crm/\(target.system)",
            idempotency: "crm:\(target.object):\(target.externalId):\(target.requestKey)", body: body)
    }
}
