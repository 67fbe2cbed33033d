// IngestSink: where the events an ingest accepted go, once its first pass checked every one. Two sinks exist: a
// ledger writer (LedgerWriterSink, here: each frame appended atomically and durable) and, in `serve --cluster`, the
// shard streams of a NATS cluster (LedgerServer's ClusterIngestSink). The adapters' conversion and checks stay in
// IngestOperation; a sink only takes frames of events that passed them.
public import LedgerCore
public import LedgerStore

/// One event an ingest accepted: the interchange line the adapter made and the event decoded from it.
public struct AcceptedEvent: Sendable {
    /// The interchange JSON line, without its newline.
    public var line: [UInt8]
    /// The event decoded from `line`.
    public var event: DecodedEvent

    /// An accepted event.
    public init(line: [UInt8], event: DecodedEvent) {
        self.line = line
        self.event = event
    }
}

/// Takes the frames of events an ingest accepted and answers one acknowledgement per event.
public protocol IngestSink {
    /// What the sink answers for each event.
    associatedtype Acknowledgement: Sendable

    /// The largest event the sink takes, in bytes (events over it reject the input in the first pass).
    var maximumEventBytes: Int { get }

    /// Takes `frame` (in input order); returns one acknowledgement per event, in order, or throws. What a failure
    /// leaves is the sink's to say (a ledger appends a frame all or nothing); events taken before stay taken.
    func take(_ frame: [AcceptedEvent]) throws(IngestError) -> [Acknowledgement]

    /// Whether `acknowledgement` is of an event taken now (not a duplicate of one taken before).
    func isNew(_ acknowledgement: Acknowledgement) -> Bool

    /// When `call` started as the sink knows it, for the adapters that place events on the call's timeline
    /// (`InputAdapter.readsCallStart`); nil when unknown.
    func callStart(of call: String) throws(IngestError) -> Timestamp?
}

/// A ledger writer as an ingest's sink: each frame appended as one atomic, durable frame.
public struct LedgerWriterSink: IngestSink {
    /// The writer, owned by the caller.
    public let writer: LedgerWriter
    /// The ledger's directory (read for a call's start).
    public let directory: String
    /// The key file, when not the ledger's default.
    public let keyFilePath: String?

    /// A sink appending through `writer` to the ledger in `directory`.
    public init(writer: LedgerWriter, directory: String, keyFilePath: String?) {
        self.writer = writer
        self.directory = directory
        self.keyFilePath = keyFilePath
    }

    /// The ledger's event size limit.
    public var maximumEventBytes: Int { writer.configuration.maximumEventBytes }

    /// Appends `frame` all or nothing.
    public func take(_ frame: [AcceptedEvent]) throws(IngestError) -> [AppendResult] {
        do { return try writer.appendAtomically(frame.map(\.event)) } catch { throw .ledger(error) }
    }

    /// Appended, not a duplicate.
    public func isNew(_ acknowledgement: AppendResult) -> Bool { acknowledgement.status == .appended }

    /// The `initiated_at` of the call's newest `call.started` in the ledger.
    public func callStart(of call: String) throws(IngestError) -> Timestamp? {
        do { return try IngestOperation.start(of: call, directory: directory, keyFilePath: keyFilePath) } catch {
            throw .ledger(error)
        }
    }
}
