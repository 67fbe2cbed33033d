// Ingest as an operation: one vendor input (a file, standard input or bytes already in memory, as an HTTP body)
// read by an adapter into events and handed to a sink (IngestSink: a ledger writer, or in `serve --cluster` the
// shard streams), in memory bounded by the input's bytes plus a fixed amount. Below, "appended" is "taken by the
// sink".
// Pass 1 streams the whole input through the adapter and the event decoder, keeping at most one frame of events:
// an input that is rejected appends nothing, and an input of at most `IngestRequest.batchEvents` events is
// appended from pass 1 as one frame, all or nothing. A larger input is streamed again in pass 2 and appended in
// frames of at most `batchEvents`, each durable before the next is built: a process killed in pass 2 leaves a
// prefix of the input's events, and ingesting the same input again appends the rest (the events already appended
// are duplicates by their idempotency keys).
public import Foundation
public import LedgerAdapters
import LedgerCore
public import LedgerStore

/// Where an ingest's input comes from.
public enum IngestSource: Sendable {
    /// A file, by path.
    case file(String)
    /// The process's standard input.
    case standardInput
    /// Bytes already in memory (such as a request body), with the name errors give them.
    case bytes(Data, name: String)

    /// The name errors and warnings give the input: the path, `-` for standard input, or the given name.
    public var name: String {
        switch self {
        case .file(let path): path
        case .standardInput: "-"
        case .bytes(_, let name): name
        }
    }
}

/// What to ingest, and how.
public struct IngestRequest: Sendable {
    /// The adapter's `--from` name (`InputAdapters.all`).
    public var kind: String
    /// The input.
    public var source: IngestSource
    /// The call id, overriding the one the input carries.
    public var call: String?
    /// The tenant of the events.
    public var tenant: String
    /// Role per channel or speaker number.
    public var roles: [Int: String]
    /// The audio track the input describes (kvs-fragments).
    public var track: AudioTrack?
    /// The media stream, overriding the one the input names (kvs-fragments).
    public var stream: String?
    /// Audio bytes to digest and seal (kvs-fragments).
    public var audio: [AudioInput]
    /// Reject the input when an optional enrichment cannot be read, instead of leaving it out.
    public var strict: Bool
    /// Reject the whole input when one of its records is rejected, instead of appending the others.
    public var atomic: Bool
    /// The most events appended as one frame: an input of at most this many events is appended all or nothing.
    public var batchEvents: Int

    /// The frame size `ingest` uses: large enough that most vendor files are one frame, small enough that a frame
    /// of events takes a few MB.
    public static let defaultBatchEvents = 1000

    /// A request to ingest `source` with the adapter `kind`.
    public init(
        kind: String, source: IngestSource, call: String? = nil, tenant: String = "default", roles: [Int: String] = [:],
        track: AudioTrack? = nil, stream: String? = nil, audio: [AudioInput] = [], strict: Bool = false,
        atomic: Bool = false, batchEvents: Int = defaultBatchEvents
    ) {
        self.kind = kind
        self.source = source
        self.call = call
        self.tenant = tenant
        self.roles = roles
        self.track = track
        self.stream = stream
        self.audio = audio
        self.strict = strict
        self.atomic = atomic
        self.batchEvents = max(1, batchEvents)
    }
}

/// What an ingest did.
public struct IngestResult: Sendable, Equatable {
    /// Events appended.
    public var appended = 0
    /// Events already in the ledger (by idempotency key).
    public var duplicate = 0
    /// Optional enrichments left out.
    public var warnings: [AdapterError] = []
    /// Records of a stream of independent records that were rejected; the others were appended.
    public var rejected: [AdapterError] = []
}

/// What an ingest reports while it runs, so that a caller can show it in order; `Acknowledgement` is the sink's
/// (`AppendResult` for a ledger writer).
public enum IngestProgress<Acknowledgement> {
    /// Pass 1 read the whole input, before anything is appended: the enrichments left out and the records
    /// rejected.
    case read(warnings: [AdapterError], rejected: [AdapterError])
    /// A frame of events was taken by the sink (for a ledger: became durable or was found duplicate), in input
    /// order.
    case appended([Acknowledgement])
}

/// Why an ingest appended nothing (or, for `ledger`, stopped).
public enum IngestError: Error, CustomStringConvertible {
    /// No adapter has this name.
    case unknownAdapter(String)
    /// The input cannot be read (a missing file, a permission).
    case unreadable(input: String, reason: String)
    /// The input is larger than `IngestOperation.maximumInputBytes`; nothing of it was parsed.
    case tooLarge(input: String, limit: Int)
    /// The adapter cannot read the input; `suggestion` names the adapter the input looks written for.
    case rejected(AdapterError, suggestion: String?)
    /// The input was read but is refused whole (`--strict` with enrichments left out, `--atomic` with records
    /// rejected, or no record readable).
    case refused(
        input: String, reason: String, warnings: [AdapterError], rejected: [AdapterError], suggestion: String?)
    /// Event `number` of `count` that the adapter made is not a valid interchange event.
    case invalidEvent(input: String, kind: String, number: Int, count: Int, reason: String)
    /// The ledger failed: when it happens in pass 2, the frames acknowledged before stay appended.
    case ledger(LedgerError)
    /// Opening the writer failed with an error of the caller's `openWriter`.
    case openingWriter(any Error)
    /// A sink other than a ledger failed to take a frame (the frames it acknowledged before stay taken).
    case delivery(any Error)

    /// The exit code of the README's table: 2 for rejected input, 1 for the rest.
    public var exitCode: Int32 {
        switch self {
        case .tooLarge, .rejected, .refused, .invalidEvent: 2
        case .unknownAdapter, .unreadable, .ledger, .openingWriter, .delivery: 1
        }
    }

    /// A message a person can act on.
    public var description: String {
        switch self {
        case .unknownAdapter(let kind):
            "unknown adapter \"\(kind)\"; known: \(InputAdapters.all.keys.sorted().joined(separator: ", "))"
        case .unreadable(let input, let reason): "cannot read \(input): \(reason)"
        case .tooLarge(let input, let limit):
            "\(input): the input is larger than \(limit) bytes, the most ingest reads; split it (JSON lines by lines, "
                + "a batch output per call)"
        case .rejected(let error, let suggestion): "\(error)\(Self.hint(suggestion))"
        case .refused(let input, let reason, _, _, let suggestion):
            "\(input): \(reason); nothing appended\(Self.hint(suggestion))"
        case .invalidEvent(let input, let kind, let number, let count, let reason):
            "\(input): event \(number) of \(count) from the \(kind) adapter: \(reason)"
        case .ledger(let error): "\(error)"
        case .openingWriter(let error): "\(error)"
        case .delivery(let error): "\(error)"
        }
    }

    /// The sentence that suggests another adapter, if any.
    private static func hint(_ suggestion: String?) -> String {
        suggestion.map { "; the file looks like \($0) input: try --from \($0)" } ?? ""
    }
}

/// Ingests one vendor input into a ledger.
public struct IngestOperation: Sendable {
    /// The largest input read, in bytes. Measured on a Gladia result of 179 MB, ingest peaks at 0.24 GB (the
    /// input's size plus about 60 MB); the limit keeps one ingest within a few hundred MB and minutes.
    public static let maximumInputBytes = 200_000_000

    /// The ledger's directory.
    public var directory: String
    /// The key file, when not the ledger's default.
    public var keyFilePath: String?

    /// An operation on the ledger in `directory`.
    public init(directory: String, keyFilePath: String? = nil) {
        self.directory = directory
        self.keyFilePath = keyFilePath
    }

    /// Ingests `request` through a writer that `openWriter` opens (with the caller's retention policies), reporting
    /// to `progress` as it goes; see the file's header for the two passes and what a crash leaves.
    public func run(
        _ request: IngestRequest, openWriter: () throws -> LedgerWriter,
        progress: (IngestProgress<AppendResult>) -> Void
    ) throws(IngestError) -> IngestResult {
        let (adapter, data) = try Self.prepare(request)
        let writer: LedgerWriter
        do { writer = try openWriter() } catch let error as LedgerError { throw .ledger(error) } catch {
            throw .openingWriter(error)
        }
        let result: IngestResult
        do throws(IngestError) {
            result = try Self.ingest(data, adapter: adapter, request, into: sink(writer), progress)
        } catch {
            try? writer.close()
            throw error
        }
        do { try writer.close() } catch { throw .ledger(error) }
        return result
    }

    /// Ingests `request` through `writer`, which the caller owns and which stays open (a service's one writer,
    /// shared with its other requests); the same passes, results and errors as `run(_:openWriter:progress:)`.
    public func run(
        _ request: IngestRequest, writer: LedgerWriter, progress: (IngestProgress<AppendResult>) -> Void
    ) throws(IngestError) -> IngestResult {
        try Self.run(request, into: sink(writer), progress: progress)
    }

    /// Ingests `request` into `sink`: the same adapters, checks, passes, results and errors as the runs into a
    /// ledger writer, the first pass checking every event before the sink takes any.
    public static func run<Sink: IngestSink>(
        _ request: IngestRequest, into sink: Sink, progress: (IngestProgress<Sink.Acknowledgement>) -> Void
    ) throws(IngestError) -> IngestResult {
        let (adapter, data) = try prepare(request)
        return try ingest(data, adapter: adapter, request, into: sink, progress)
    }

    /// The ledger writer `writer` of this operation's ledger as a sink.
    private func sink(_ writer: LedgerWriter) -> LedgerWriterSink {
        LedgerWriterSink(writer: writer, directory: directory, keyFilePath: keyFilePath)
    }

    /// The adapter and the input's bytes of `request`.
    private static func prepare(
        _ request: IngestRequest
    ) throws(IngestError) -> (adapter: any InputAdapter.Type, data: Data) {
        guard let adapter = InputAdapters.all[request.kind] else { throw .unknownAdapter(request.kind) }
        return (adapter, try read(request.source))
    }

    /// The two passes over `data`.
    private static func ingest<Sink: IngestSink>(
        _ data: Data, adapter: any InputAdapter.Type, _ request: IngestRequest, into sink: Sink,
        _ progress: (IngestProgress<Sink.Acknowledgement>) -> Void
    ) throws(IngestError) -> IngestResult {
        var callStart: Timestamp?
        if adapter.readsCallStart, let call = request.call { callStart = try sink.callStart(of: call) }
        let options = IngestOptions(
            call: request.call, tenant: request.tenant, roles: request.roles, file: request.source.name,
            track: request.track, stream: request.stream, audio: request.audio, callStart: callStart)
        let file = options.file
        // Pass 1: every event made and decoded; kept only while they fit in one frame, so that an input of one
        // frame is appended without a second pass.
        var decoder = EventDecoder(maximumEventBytes: sink.maximumEventBytes)
        var count = 0
        var invalid: (number: Int, reason: String)?
        var kept: [AcceptedEvent] = []
        let report: AdapterReport
        do {
            report = try adapter.stream(data, options: options) { event throws(AdapterError) in
                count += 1
                if count > request.batchEvents { kept = [] }
                guard invalid == nil else { return }
                let number = count
                let decoded = event.withUnsafeBytes { raw in
                    Result { () throws(EventDecodingError) in try decoder.decode(raw, lineNumber: number) }
                }
                switch decoded {
                case .success(let decoded):
                    if count <= request.batchEvents { kept.append(AcceptedEvent(line: event, event: decoded)) }
                case .failure(let error): invalid = (number, "\(error)")
                }
            }
        } catch {
            throw .rejected(error, suggestion: suggestion(for: data, kind: request.kind))
        }
        progress(.read(warnings: report.warnings, rejected: report.rejected))
        let refusal =
            request.strict && !report.warnings.isEmpty
            ? "--strict: \(report.warnings.count) enrichment(s) could not be read"
            : request.atomic && !report.rejected.isEmpty
                ? "--atomic: \(report.rejected.count) record(s) were rejected"
                : count == 0 && !report.rejected.isEmpty ? "no record could be read" : nil
        if let refusal {
            throw .refused(
                input: file, reason: refusal, warnings: report.warnings, rejected: report.rejected,
                suggestion: suggestion(for: data, kind: request.kind))
        }
        if let invalid {
            throw .invalidEvent(
                input: file, kind: request.kind, number: invalid.number, count: count, reason: invalid.reason)
        }
        var result = IngestResult(warnings: report.warnings, rejected: report.rejected)
        var batch = kept
        kept = []
        func flush() throws(IngestError) {
            let results = try sink.take(batch)
            batch.removeAll(keepingCapacity: true)
            let appended = results.count { sink.isNew($0) }
            result.appended += appended
            result.duplicate += results.count - appended
            progress(.appended(results))
        }
        if count <= request.batchEvents {
            if !batch.isEmpty { try flush() }
            return result
        }
        // Pass 2: the same events again, appended a frame at a time.
        batch = []
        batch.reserveCapacity(request.batchEvents)
        var failure: IngestError?
        var number = 0
        do {
            _ = try adapter.stream(data, options: options) { event throws(AdapterError) in
                number += 1
                let current = number
                let decoded = event.withUnsafeBytes { raw in
                    Result { () throws(EventDecodingError) in try decoder.decode(raw, lineNumber: current) }
                }
                do throws(IngestError) {
                    switch decoded {
                    case .success(let decoded): batch.append(AcceptedEvent(line: event, event: decoded))
                    case .failure(let error):
                        // Pass 1 decoded the same event: only an adapter that is not deterministic gets here.
                        throw IngestError.invalidEvent(
                            input: file, kind: request.kind, number: current, count: count, reason: "\(error)")
                    }
                    if batch.count >= request.batchEvents { try flush() }
                } catch {
                    failure = error
                    throw AdapterError(file: file, path: "", reason: "ingest stopped: \(error)")
                }
            }
            if !batch.isEmpty { try flush() }
        } catch let error as IngestError {
            throw error
        } catch let error as AdapterError {
            throw failure ?? .rejected(error, suggestion: nil)
        } catch {
            throw failure ?? .rejected(AdapterError(file: file, path: "", reason: "\(error)"), suggestion: nil)
        }
        return result
    }

    /// The bytes of `source`, at most `maximumInputBytes`: a file larger than that is refused before it is read,
    /// standard input after reading one byte more than the limit (never more).
    public static func read(_ source: IngestSource) throws(IngestError) -> Data {
        let data: Data
        switch source {
        case .bytes(let bytes, _):
            data = bytes
        case .standardInput:
            var status = stat()
            if fstat(0, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_size > maximumInputBytes {
                throw .tooLarge(input: source.name, limit: maximumInputBytes)
            }
            do { data = try FileHandle.standardInput.read(upToCount: maximumInputBytes + 1) ?? Data() } catch {
                throw .unreadable(input: source.name, reason: error.localizedDescription)
            }
        case .file(let path):
            do {
                let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
                if size > maximumInputBytes { throw IngestError.tooLarge(input: path, limit: maximumInputBytes) }
                data = try Data(contentsOf: URL(fileURLWithPath: path))
            } catch let error as IngestError {
                throw error
            } catch {
                throw .unreadable(input: path, reason: error.localizedDescription)
            }
        }
        guard data.count <= maximumInputBytes else { throw .tooLarge(input: source.name, limit: maximumInputBytes) }
        return data
    }

    /// The adapter `data` looks written for, when it is not `kind`.
    static func suggestion(for data: Data, kind: String) -> String? {
        guard let likely = InputAdapters.likelyKind(of: data), likely != kind else { return nil }
        return likely
    }

    /// When `call` started as the ledger knows it: the `initiated_at` of its newest `call.started` (the latest
    /// `updated_at`, the last appended among equal ones, events without `updated_at` before all others).
    static func start(of call: String, directory: String, keyFilePath: String?) throws(LedgerError) -> Timestamp? {
        let reader = try LedgerReader(directory: directory, keyFilePath: keyFilePath)
        var newest: (updated: Int64, start: Timestamp?)?
        try reader.events(EventSelection(call: call)) { line in
            guard let event = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                event["type"] as? String == EventType.callStarted.rawValue,
                let body = event["body"] as? [String: Any]
            else { return }
            let updated = (body["updated_at"] as? String).flatMap(Timestamp.parse)?.micros ?? .min
            if updated >= newest?.updated ?? .min {
                newest = (updated, (body["initiated_at"] as? String).flatMap(Timestamp.parse))
            }
        }
        return newest?.start
    }
}
