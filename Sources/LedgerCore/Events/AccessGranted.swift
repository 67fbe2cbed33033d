// access.granted: the ledger's own record that a reader was given a view of a call's data, appended and durable
// before the answer leaves the service, so that who saw what is itself in the tamper-evident log.

/// A reader was granted a view of a call: who (principal, role), why (purpose), which call and which data classes
/// the answer opened, and the request it answered. Every field is `meta`: the event survives the erasure of the
/// data it names.
public struct AccessGranted: Sendable, Equatable {
    /// The views a reader can be granted.
    public static let views = ["summary", "redacted", "raw"]
    /// The roles a principal can hold (README's roles table).
    public static let roles = ["ingest", "agent", "qa", "supervisor", "compliance", "auditor", "admin"]

    /// The call whose data was read.
    public var call: String
    /// The call's tenant.
    public var tenant: String
    /// The principal (token subject or API key name) that read it.
    public var principal: String
    /// The principal's role (one of `roles`).
    public var role: String
    /// The purpose the reader stated.
    public var purpose: String
    /// The view answered (one of `views`).
    public var view: String
    /// The data classes the answer opened (`pii.name`...), sorted.
    public var classes: [String]
    /// The id of the request answered; also the event's idempotency key (`access:<request>`).
    public var request: String
    /// The component appending the event (the envelope's `source`).
    public var source: String

    /// A grant of `view` of `call` to `principal`.
    public init(
        call: String, tenant: String, principal: String, role: String, purpose: String, view: String,
        classes: [String], request: String, source: String = "call-ledger/serve"
    ) {
        self.call = call
        self.tenant = tenant
        self.principal = principal
        self.role = role
        self.purpose = purpose
        self.view = view
        self.classes = classes.sorted()
        self.request = request
        self.source = source
    }

    /// The event as one interchange JSON line (without newline), in the format `call-ledger append` reads.
    public func interchangeLine() -> [UInt8] {
        var out: [UInt8] = []
        out.appendASCII("{\"type\":\"access.granted\",\"call\":")
        out.appendJSONString(call)
        out.appendASCII(",\"tenant\":")
        out.appendJSONString(tenant)
        out.appendASCII(",\"source\":")
        out.appendJSONString(source)
        out.appendASCII(",\"idempotency\":")
        out.appendJSONString("access:" + request)
        out.appendASCII(",\"body\":{\"principal\":")
        out.appendJSONString(principal)
        out.appendASCII(",\"role\":")
        out.appendJSONString(role)
        out.appendASCII(",\"purpose\":")
        out.appendJSONString(purpose)
        out.appendASCII(",\"view\":")
        out.appendJSONString(view)
        out.appendASCII(",\"classes\":[")
        for (index, name) in classes.enumerated() {
            if index > 0 { out.append(0x2C) }
            out.appendJSONString(name)
        }
        out.appendASCII("],\"request\":")
        out.appendJSONString(request)
        out.appendASCII("}}")
        return out
    }

    /// The event, validated against its schema as any appended line is.
    public func event(maximumEventBytes: Int = 1 << 20) throws(EventDecodingError) -> DecodedEvent {
        var decoder = EventDecoder(maximumEventBytes: maximumEventBytes)
        let line = interchangeLine()
        let decoded = line.withUnsafeBytes { raw in
            Result { () throws(EventDecodingError) in try decoder.decode(raw, lineNumber: 1) }
        }
        return try decoded.get()
    }
}

extension EventSchemas {
    /// The body of `access.granted` (FORMAT.md §6): every field `meta`.
    public static let accessGranted = ObjectSchema([
        FieldSchema("principal", shortText, required: true),
        FieldSchema("role", .enumeration(AccessGranted.roles), required: true),
        FieldSchema("purpose", .string(maxBytes: 1024), required: true),
        FieldSchema("view", .enumeration(AccessGranted.views), required: true),
        FieldSchema("classes", .array(shortText, maxCount: 256), required: true),
        FieldSchema("request", identifier, required: true),
    ])
}
