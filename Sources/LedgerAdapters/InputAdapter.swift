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

/// What an adapter read from one input: the events, and what it had to leave out.
public struct AdapterOutput {
    /// The events, each one interchange JSON object.
    public var events: [[UInt8]]
    /// Optional enrichments (issues, categories, loudness, members of a newer schema...) that could not be read
    /// and were left out; the rest of the input was read. `--strict` rejects the input instead.
    public var warnings: [AdapterError]
    /// Records of a stream of independent records (JSON lines) that were rejected; `events` holds the events of
    /// the other records only. `--atomic` rejects the whole input instead.
    public var rejected: [AdapterError]

    /// An output of `events`, with the enrichments left out and the records rejected.
    public init(events: [[UInt8]] = [], warnings: [AdapterError] = [], rejected: [AdapterError] = []) {
        self.events = events
        self.warnings = warnings
        self.rejected = rejected
    }
}

/// What an adapter that streamed its events reports besides them.
public struct AdapterReport {
    /// Optional enrichments that could not be read and were left out (see `AdapterOutput.warnings`).
    public var warnings: [AdapterError]
    /// Records of a stream of independent records that were rejected (see `AdapterOutput.rejected`).
    public var rejected: [AdapterError]

    /// A report of the enrichments left out and the records rejected.
    public init(warnings: [AdapterError] = [], rejected: [AdapterError] = []) {
        self.warnings = warnings
        self.rejected = rejected
    }
}

/// Turns one vendor input into interchange events (JSON lines, FORMAT.md §10).
public protocol InputAdapter {
    /// The `--from` name.
    static var kind: String { get }
    /// One line on what the adapter reads.
    static var summary: String { get }
    /// The events of `data`, the enrichments it could not read (as warnings) and, for a stream of independent
    /// records, the records it rejected; the same input always gives the same output. An input that cannot be
    /// read at all throws.
    static func read(_ data: Data, options: IngestOptions) throws(AdapterError) -> AdapterOutput
    /// The events of `data` handed to `emit` one at a time, in the order `read` gives them, and what was left
    /// out or rejected; an error `emit` throws ends the reading. Adapters of inputs that can be large (Gladia
    /// results, Transcribe and Call Analytics outputs) hold one element of the input's big array at a time and
    /// none of the events already emitted; the others read the whole input first.
    static func stream(
        _ data: Data, options: IngestOptions, emit: (_ event: [UInt8]) throws(AdapterError) -> Void
    ) throws(AdapterError) -> AdapterReport
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

    /// The events of `read`, handed to `emit` once the whole input is read.
    public static func stream(
        _ data: Data, options: IngestOptions, emit: (_ event: [UInt8]) throws(AdapterError) -> Void
    ) throws(AdapterError) -> AdapterReport {
        let output = try read(data, options: options)
        for event in output.events { try emit(event) }
        return AdapterReport(warnings: output.warnings, rejected: output.rejected)
    }

    /// The output of `stream`, its events collected: `read` for adapters that stream.
    static func collected(_ data: Data, options: IngestOptions) throws(AdapterError) -> AdapterOutput {
        var events: [[UInt8]] = []
        let report = try stream(data, options: options) { event throws(AdapterError) in events.append(event) }
        return AdapterOutput(events: events, warnings: report.warnings, rejected: report.rejected)
    }

    /// The events of `data`, all or nothing and strictly: the first enrichment that cannot be read or record
    /// that is rejected is thrown.
    public static func events(from data: Data, options: IngestOptions) throws(AdapterError) -> [[UInt8]] {
        let output = try read(data, options: options)
        if let first = output.rejected.first ?? output.warnings.first { throw first }
        return output.events
    }
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
    /// One event as a JSON object with the envelope of FORMAT.md §10. Adapters only put JSON values in bodies,
    /// and check every number they read to be finite; a value JSON cannot hold is still reported, never trapped on.
    static func make(
        type: String, call: String, tenant: String, source: String, idempotency: String, occurred: String? = nil,
        body: [String: Any], file: String
    ) throws(AdapterError) -> [UInt8] {
        var object: [String: Any] = [
            "type": type, "call": call, "tenant": tenant, "source": source, "idempotency": idempotency, "body": body,
        ]
        if let occurred { object["occurred"] = occurred }
        #if canImport(Darwin)
        // Darwin's Foundation raises an Objective-C exception (a crash) on a value JSON cannot hold: check first.
        let valid = JSONSerialization.isValidJSONObject(object)
        #else
        // swift-corelibs-foundation throws on such a value (the top level being a dictionary): checking first
        // would walk every event twice (a quarter of a large ingest's time).
        let valid = true
        #endif
        guard valid,
            let data = try? JSONSerialization.data(
                withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        else {
            throw AdapterError(
                file: file, path: "",
                reason: "the \(type) event \(idempotency) would hold a value JSON cannot represent")
        }
        return Array(data)
    }
}

extension InterchangeEvent {
    /// The part of an idempotency key that names the source's job (or session, or contact) `source` as ingested
    /// for `call`: the job alone when the call is the job's own id (the default, and the keys written before
    /// `--call` was part of them), else both, so that the same job ingested for another call is not a duplicate.
    static func scope(_ source: String, call: String) -> String {
        source == call ? source : "\(source):call=\(call)"
    }
}

/// A collector of the optional enrichments an adapter could not read.
struct Warnings {
    /// The errors of the enrichments left out.
    var errors: [AdapterError] = []

    /// The value `read` gives, or nil (its error kept as a warning) when it throws: for enrichments that the
    /// transcript does not need.
    mutating func optional<T>(_ read: () throws(AdapterError) -> T) -> T? {
        do { return try read() } catch {
            errors.append(error)
            return nil
        }
    }
}
