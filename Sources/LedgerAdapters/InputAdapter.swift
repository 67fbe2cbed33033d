// The adapter interface: a pure function from one input file's bytes to interchange events, and the
// registry that `call-ledger ingest --from KIND` looks adapters up in.
public import Foundation
public import LedgerCore

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
    /// The audio track the input describes, for inputs of one track.
    public var track: AudioTrack?
    /// The media stream, overriding the one the input names.
    public var stream: String?
    /// Audio bytes to digest and seal, each belonging to one fragment of the input.
    public var audio: [AudioInput]
    /// When the call started, if the ledger already knows (for adapters that read it).
    public var callStart: Timestamp?

    /// Options for `file`.
    public init(
        call: String? = nil, tenant: String = "default", roles: [Int: String] = [:], file: String,
        track: AudioTrack? = nil, stream: String? = nil, audio: [AudioInput] = [], callStart: Timestamp? = nil
    ) {
        self.call = call
        self.tenant = tenant
        self.roles = roles
        self.file = file
        self.track = track
        self.stream = stream
        self.audio = audio
        self.callStart = callStart
    }
}

/// One audio track of a contact, as Amazon Connect names the tracks of its Kinesis Video Streams media.
public enum AudioTrack: String, CaseIterable, Sendable {
    /// What the customer says.
    case fromCustomer = "AUDIO_FROM_CUSTOMER"
    /// What the customer hears: the agent, prompts, hold music.
    case toCustomer = "AUDIO_TO_CUSTOMER"
}

/// The bytes of one fragment's audio.
public struct AudioInput: Sendable {
    /// The fragment number they belong to; nil when the input lists exactly one fragment.
    public var fragment: String?
    /// The bytes.
    public var data: Data
    /// The file they were read from, for errors.
    public var file: String

    /// Audio bytes read from `file`, for `fragment`.
    public init(fragment: String?, data: Data, file: String) {
        self.fragment = fragment
        self.data = data
        self.file = file
    }
}

/// The `ingest` options that only some adapters read.
public enum IngestOption: String, CaseIterable, Sendable {
    /// `--call`.
    case call
    /// `--track`.
    case track
    /// `--stream`.
    case stream
    /// `--audio`.
    case audio
}

/// Turns one vendor input into interchange events (JSON lines, FORMAT.md §10).
public protocol InputAdapter {
    /// The `--from` name.
    static var kind: String { get }
    /// One line on what the adapter reads.
    static var summary: String { get }
    /// The events of `data`, each one interchange JSON object; the same input always gives the same events.
    static func events(from data: Data, options: IngestOptions) throws(AdapterError) -> [[UInt8]]
    /// The options among `--track`, `--stream` and `--audio` that the adapter reads.
    static var mediaOptions: Set<IngestOption> { get }
    /// The options the adapter cannot do without.
    static var requiredOptions: Set<IngestOption> { get }
    /// Whether the adapter uses `IngestOptions.callStart`, which `ingest` then looks up in the ledger.
    static var readsCallStart: Bool { get }
}

extension InputAdapter {
    /// None: most inputs carry everything themselves.
    public static var mediaOptions: Set<IngestOption> { [] }
    /// None.
    public static var requiredOptions: Set<IngestOption> { [] }
    /// No.
    public static var readsCallStart: Bool { false }
}

/// The available adapters.
public enum InputAdapters {
    /// Every adapter, by `--from` name.
    public static var all: [String: any InputAdapter.Type] {
        let adapters: [any InputAdapter.Type] = [
            GladiaAdapter.self, GladiaLiveAdapter.self, TranscribeCallAnalyticsAdapter.self, TranscribeAdapter.self,
            TranscribeStreamAdapter.self, ContactLensAdapter.self, ConnectCTRAdapter.self, KVSFragmentsAdapter.self,
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
