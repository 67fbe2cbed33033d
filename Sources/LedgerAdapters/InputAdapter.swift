// The adapter interface: a pure function from one input file's bytes to interchange events, and the
// registry that `call-ledger ingest --from KIND` looks adapters up in.
public import Foundation

/// Settings an adapter applies to every event it makes.
public struct IngestOptions: Sendable {
    /// The call id to use, overriding the one in the input.
    public var call: String?
    /// The tenant the events belong to.
    public var tenant: String
    /// Role per channel or speaker number (`0` → `agent`); unknown ones become `unknown`.
    public var roles: [Int: String]
    /// The input's name, for errors.
    public var file: String

    /// Options for `file`.
    public init(call: String? = nil, tenant: String = "default", roles: [Int: String] = [:], file: String) {
        self.call = call
        self.tenant = tenant
        self.roles = roles
        self.file = file
    }
}

/// Turns one vendor input into interchange events (JSON lines, FORMAT.md §10).
public protocol InputAdapter {
    /// The `--from` name.
    static var kind: String { get }
    /// One line on what the adapter reads.
    static var summary: String { get }
    /// The events of `data`, each one interchange JSON object; the same input always gives the same events.
    static func events(from data: Data, options: IngestOptions) throws(AdapterError) -> [[UInt8]]
}

/// The available adapters.
public enum InputAdapters {
    /// Every adapter, by `--from` name.
    public static var all: [String: any InputAdapter.Type] {
        let adapters: [any InputAdapter.Type] = [
            GladiaAdapter.self, GladiaLiveAdapter.self, TranscribeCallAnalyticsAdapter.self, TranscribeAdapter.self,
            TranscribeStreamAdapter.self, ContactLensAdapter.self,
        ]
        return Dictionary(uniqueKeysWithValues: adapters.map { ($0.kind, $0) })
    }
}

/// Builds interchange events.
enum InterchangeEvent {
    /// One event as a JSON object with the envelope of FORMAT.md §10.
    static func make(
        type: String, call: String, tenant: String, source: String, idempotency: String, occurred: String? = nil,
        body: [String: Any]
    ) -> [UInt8] {
        var object: [String: Any] = [
            "type": type, "call": call, "tenant": tenant, "source": source, "idempotency": idempotency, "body": body,
        ]
        if let occurred { object["occurred"] = occurred }
        // Only values built by the adapters reach here, all of them JSON types.
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return Array(data)
    }
}
