// POST /v1/events: interchange JSON lines in (the format `call-ledger append` reads, decoded by the same
// EventDecoder), one line out per input line: an acknowledgement once the event is durable (or, in cluster mode,
// replicated), or the reason the line was rejected. Lines are handled as they arrive, so acknowledgements stream
// while the body still comes.
import Foundation
import Hummingbird
import LedgerCluster
import LedgerCore
import LedgerStore
import Logging
import Metrics

/// Splits a request body into numbered lines as its buffers arrive.
struct LineSplitter {
    private var pending: [UInt8] = []
    private(set) var lineNumber = 0

    /// The complete lines in `buffer` (with what was pending before it), numbered from 1, without `\n`/`\r\n`.
    mutating func append(_ buffer: ByteBuffer) -> [(number: Int, bytes: [UInt8])] {
        var lines: [(number: Int, bytes: [UInt8])] = []
        forEachLine(in: buffer) { lines.append(($0, Array($1))) }
        return lines
    }

    /// Calls `body` with each complete line of `buffer` (with what was pending before it), numbered from 1,
    /// without `\n`/`\r\n`; a line within the buffer is passed in place, not copied.
    mutating func forEachLine(in buffer: ByteBuffer, _ body: (Int, UnsafeRawBufferPointer) -> Void) {
        buffer.withUnsafeReadableBytes { bytes in
            var start = 0
            if !pending.isEmpty {
                guard let newline = bytes.firstIndex(of: 0x0A) else {
                    pending.append(contentsOf: bytes)
                    return
                }
                pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[..<newline]))
                let line = pending
                pending = []
                line.withUnsafeBytes { emit($0, body) }
                start = newline + 1
            }
            while let newline = bytes[start...].firstIndex(of: 0x0A) {
                emit(UnsafeRawBufferPointer(rebasing: bytes[start..<newline]), body)
                start = newline + 1
            }
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start...]))
        }
    }

    /// The bytes held while waiting for a line's end.
    var pendingBytes: Int { pending.count }

    /// The last line, if the body did not end with a newline.
    mutating func finish() -> [(number: Int, bytes: [UInt8])] {
        var lines: [(number: Int, bytes: [UInt8])] = []
        forEachFinalLine { lines.append(($0, Array($1))) }
        return lines
    }

    /// Calls `body` with the last line, if the body did not end with a newline.
    mutating func forEachFinalLine(_ body: (Int, UnsafeRawBufferPointer) -> Void) {
        guard !pending.isEmpty else { return }
        let line = pending
        pending = []
        line.withUnsafeBytes { emit($0, body) }
    }

    private mutating func emit(_ line: UnsafeRawBufferPointer, _ body: (Int, UnsafeRawBufferPointer) -> Void) {
        lineNumber += 1
        body(lineNumber, line.last == 0x0D ? UnsafeRawBufferPointer(rebasing: line.dropLast()) : line)
    }
}

/// One input line's outcome, as the response writes it.
enum LineOutcome {
    case acknowledged(AppendResult)
    case rejected(EventDecodingError)

    /// The response line (with newline).
    var json: [UInt8] {
        var out: [UInt8] = []
        switch self {
        case .acknowledged(let result):
            out.appendASCII("{\"seq\":")
            out.appendJSONInteger(result.seq)
            out.appendASCII(",\"idempotency\":")
            out.appendJSONString(result.idempotency)
            out.appendASCII(",\"status\":\"")
            out.append(contentsOf: result.status.rawValue.utf8)
            out.appendASCII("\"}\n")
        case .rejected(let error):
            out.appendASCII("{\"line\":")
            out.appendJSONInteger(error.line)
            out.appendASCII(",\"field\":")
            out.appendJSONString(error.field)
            out.appendASCII(",\"reason\":")
            out.appendJSONString(error.reason)
            out.appendASCII(",\"status\":\"rejected\"}\n")
        }
        return out
    }
}

/// Decodes lines into events the principal may write, or the reasons they are rejected.
struct EventLineDecoder {
    var decoder: EventDecoder
    let principal: Principal

    /// Each non-blank line decoded (an event in one of the principal's tenants), or its rejection.
    mutating func decode(_ lines: [(number: Int, bytes: [UInt8])]) -> [Result<DecodedEvent, EventDecodingError>] {
        decodeKeepingLines(lines).map(\.result)
    }

    /// `decode(_:)`, each result with the line it came from.
    mutating func decodeKeepingLines(_ lines: [(number: Int, bytes: [UInt8])]) -> [DecodedLine] {
        var results: [DecodedLine] = []
        for (number, bytes) in lines {
            guard let decoded = bytes.withUnsafeBytes({ decode($0, number: number) }) else { continue }
            results.append(DecodedLine(bytes: bytes, result: decoded))
        }
        return results
    }

    /// Decodes the lines `splitter` finds in `buffer` (its last line when `buffer` is nil) in place, without
    /// copying them: the events, and per non-blank line in order nil for an event or why it was rejected.
    mutating func decodeEvents(
        of buffer: ByteBuffer?, splitter: inout LineSplitter
    ) -> (events: [DecodedEvent], rejections: [EventDecodingError?]) {
        var events: [DecodedEvent] = []
        var rejections: [EventDecodingError?] = []
        func take(_ number: Int, _ line: UnsafeRawBufferPointer) {
            switch decode(line, number: number) {
            case .success(let event)?:
                events.append(event)
                rejections.append(nil)
            case .failure(let error)?: rejections.append(error)
            case nil: break
            }
        }
        if let buffer { splitter.forEachLine(in: buffer, take) } else { splitter.forEachFinalLine(take) }
        return (events, rejections)
    }

    /// Line `number` decoded (an event in one of the principal's tenants) or rejected; nil when it is blank.
    private mutating func decode(
        _ line: UnsafeRawBufferPointer, number: Int
    ) -> Result<DecodedEvent, EventDecodingError>? {
        guard !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) else { return nil }
        let decoded = Result { () throws(EventDecodingError) in try decoder.decode(line, lineNumber: number) }
        if case .success(let event) = decoded, !principal.covers(tenant: event.tenant) {
            return .failure(
                EventDecodingError(
                    line: number, field: "tenant", reason: "this token may not write events of that tenant"))
        }
        return decoded
    }
}

/// One non-blank input line and what decoding it gave.
struct DecodedLine {
    /// The line, without its newline.
    var bytes: [UInt8]
    /// The event, or why the line is rejected.
    var result: Result<DecodedEvent, EventDecodingError>
}

/// Where a node's accepted events go: its ledger, or (cluster mode) the shard streams of a NATS cluster.
enum EventSink: Sendable {
    case ledger(LedgerService)
    case cluster(ClusterPublisher)

    /// The largest event accepted, in bytes.
    var maximumEventBytes: Int {
        switch self {
        case .ledger(let service): service.maximumEventBytes
        case .cluster: ClusterPublisher.maximumEventBytes
        }
    }
}

/// The acknowledgement a producer waits for (`?ack=`): `replicated` (in JetStream) or `durable` (fsynced in a
/// ledger). In ledger mode every acknowledgement is durable, whichever is asked.
enum AcknowledgementLevel: String {
    case replicated, durable

    /// The request's `ack` (default `replicated`) and `ack_timeout` (seconds waited for `durable`, default 30).
    static func parse(_ request: Request) throws -> (level: Self, timeout: Double) {
        let query = request.uri.queryParameters
        return try parse(ack: query.get("ack"), timeout: query.get("ack_timeout"))
    }

    /// The level of query value `ack` and the wait of `ack_timeout` (nil when not given).
    static func parse(ack: String?, timeout: String?) throws -> (level: Self, timeout: Double) {
        guard let level = Self(rawValue: ack ?? "replicated") else {
            throw APIError.badRequest("ack must be replicated or durable")
        }
        let waitText = timeout ?? "30"
        guard let wait = Double(waitText), wait.isFinite, wait > 0, wait <= 300 else {
            throw APIError.badRequest("ack_timeout must be a number of seconds above 0 and at most 300")
        }
        return (level, wait)
    }
}

/// Handles a request's decoded lines as they arrive and writes their response lines.
protocol EventLineConsumer {
    /// Handles `decoded` and writes the lines it can answer now; false when the request must stop (the reason is
    /// then in `outcome.failure`).
    mutating func consume(
        _ decoded: [DecodedLine], writer: inout any ResponseBodyWriter, outcome: inout EventsRoute.StreamOutcome
    ) async throws -> Bool
    /// Writes what was held back until the body ended.
    mutating func finish(writer: inout any ResponseBodyWriter, outcome: inout EventsRoute.StreamOutcome) async throws
}

/// The handler of `POST /v1/events`.
struct EventsRoute: Sendable {
    static let contentTypes: Set<String> = ["application/x-ndjson", "application/jsonl", "application/json-lines"]

    let sink: EventSink
    let maxBodyBytes: Int
    let appended = Counter(label: "ledger_events_appended_total")
    let duplicates = Counter(label: "ledger_events_duplicate_total")
    let rejected = Counter(label: "ledger_events_rejected_total")
    let appendLatency = Metrics.Timer(label: "ledger_append_seconds", preferredDisplayUnit: .seconds)
    /// Cluster mode: events JetStream stored (not duplicates) and the time each batch took to publish.
    let published = Counter(label: "ledger_events_published_total")
    let publishLatency = Metrics.Timer(label: "ledger_publish_seconds", preferredDisplayUnit: .seconds)

    func handle(_ request: Request, principal: Principal, logger: Logger) async throws -> Response {
        let mediaType = request.headers[.contentType]?.split(separator: ";").first
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let mediaType, Self.contentTypes.contains(mediaType) else {
            throw HTTPError(
                .unsupportedMediaType, message: "send the events as application/x-ndjson (one JSON event per line)")
        }
        let atomic: Bool
        switch request.uri.queryParameters.get("atomic") {
        case nil, "false": atomic = false
        case "true": atomic = true
        default: throw APIError.badRequest("atomic must be true or false")
        }
        let (level, wait) = try AcknowledgementLevel.parse(request)
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes {
            throw HTTPError(.contentTooLarge, message: "the body is over the \(maxBodyBytes)-byte limit")
        }
        switch sink {
        case .ledger(let service):
            if atomic { return try await appendAtomically(request, service: service, principal: principal) }
            return streamedToLedger(request, principal: principal, logger: logger, service: service)
        case .cluster(let publisher):
            guard !atomic else {
                throw APIError.badRequest(
                    "atomic=true is not available in cluster mode: the events of one request may go to several "
                        + "shards, each appended by its own writer")
            }
            let publishing = ClusterPublishing(
                route: self, publisher: publisher, level: level, ackTimeout: wait,
                started: Int64(Date().timeIntervalSince1970 * 1_000_000_000))
            return streamed(request, principal: principal, logger: logger, into: publishing)
        }
    }

    /// Streams the response: the body's lines decoded as they arrive and handed to `consumer`.
    private func streamed(
        _ request: Request, principal: Principal, logger: Logger, into consumer: some EventLineConsumer & Sendable
    ) -> Response {
        let route = self
        let body = request.body
        let maximumEventBytes = sink.maximumEventBytes
        return Response(
            status: .ok, headers: [.contentType: "application/x-ndjson"],
            body: ResponseBody { writer in
                var lines = EventLineDecoder(
                    decoder: EventDecoder(maximumEventBytes: maximumEventBytes), principal: principal)
                var splitter = LineSplitter()
                var received = 0
                var outcome = StreamOutcome()
                var consumer = consumer
                for try await buffer in body {
                    received += buffer.readableBytes
                    guard received <= route.maxBodyBytes else {
                        outcome.failure =
                            "the body is over the \(route.maxBodyBytes)-byte limit; lines after "
                            + "line \(splitter.lineNumber) were not read"
                        break
                    }
                    let decoded = lines.decodeKeepingLines(splitter.append(buffer))
                    guard try await consumer.consume(decoded, writer: &writer, outcome: &outcome) else { break }
                }
                if outcome.failure == nil {
                    let decoded = lines.decodeKeepingLines(splitter.finish())
                    if try await consumer.consume(decoded, writer: &writer, outcome: &outcome) {
                        try await consumer.finish(writer: &writer, outcome: &outcome)
                    }
                }
                try await Self.finish(&writer, outcome: outcome, logger: logger)
            })
    }

    /// Ledger mode: a child task reads the body, decodes its lines and stages their events as each buffer
    /// arrives, without waiting for them to become durable; this task writes each buffer's response lines once
    /// its events are durable. A request whose body arrives in several reads thus waits for about one commit
    /// instead of one per read (before: each read's events were staged, waited for and answered before the next
    /// read was taken), and acknowledgements still stream as events become durable.
    private func streamedToLedger(
        _ request: Request, principal: Principal, logger: Logger, service: LedgerService
    ) -> Response {
        let route = self
        let body = request.body
        return Response(
            status: .ok, headers: [.contentType: "application/x-ndjson"],
            body: ResponseBody { writer in
                var outcome = StreamOutcome()
                let (chunks, staged) = AsyncStream.makeStream(of: StagedLines.self)
                try await withThrowingTaskGroup(of: String?.self) { group in
                    group.addTask {
                        defer { staged.finish() }
                        return try await route.readAndStage(body, principal: principal, service: service) {
                            staged.yield($0)
                        }
                    }
                    for await chunk in chunks where outcome.failure == nil {
                        do { try await service.awaitDurable(chunk.staged) } catch {
                            outcome.failure = "the ledger could not append: \(error)"
                            continue
                        }
                        try await writer.write(ByteBuffer(bytes: route.answer(chunk, outcome: &outcome)))
                    }
                    if let failure = try await group.next() ?? nil, outcome.failure == nil { outcome.failure = failure }
                }
                try await Self.finish(&writer, outcome: outcome, logger: logger)
            })
    }

    /// A body buffer's lines: which were rejected and the results of the events staged from the others.
    struct StagedLines: Sendable {
        /// Per non-blank line in input order: nil for an event (its result is next in `staged`), else why the
        /// line was rejected.
        var rejections: [EventDecodingError?]
        /// The events' results, in order.
        var staged: LedgerService.StagedEvents
    }

    /// Reads `body`, decodes its lines and stages their events buffer by buffer, handing each to `deliver`;
    /// returns why it stopped early (the body is too large, the writer failed), or nil at the body's end.
    private func readAndStage(
        _ body: RequestBody, principal: Principal, service: LedgerService,
        deliver: @Sendable (StagedLines) -> Void
    ) async throws -> String? {
        var lines = EventLineDecoder(
            decoder: EventDecoder(maximumEventBytes: sink.maximumEventBytes), principal: principal)
        var splitter = LineSplitter()
        var received = 0
        func stage(_ buffer: ByteBuffer?) async -> String? {
            let (events, rejections) = lines.decodeEvents(of: buffer, splitter: &splitter)
            guard !rejections.isEmpty else { return nil }
            do {
                deliver(StagedLines(rejections: rejections, staged: try await service.stage(events)))
            } catch {
                return "the ledger could not append: \(error)"
            }
            return nil
        }
        for try await buffer in body {
            received += buffer.readableBytes
            guard received <= maxBodyBytes else {
                return "the body is over the \(maxBodyBytes)-byte limit; lines after line \(splitter.lineNumber) "
                    + "were not read"
            }
            if let failure = await stage(buffer) { return failure }
        }
        return await stage(nil)
    }

    /// The response lines of `chunk`, whose events are durable, one per input line in order; counts them.
    private func answer(_ chunk: StagedLines, outcome: inout StreamOutcome) -> [UInt8] {
        var out: [UInt8] = []
        var next = chunk.staged.results.makeIterator()
        for rejection in chunk.rejections {
            if let rejection {
                outcome.rejected += 1
                out.append(contentsOf: LineOutcome.rejected(rejection).json)
            } else if let result = next.next() {
                if result.status == .appended { outcome.appended += 1 } else { outcome.duplicates += 1 }
                out.append(contentsOf: LineOutcome.acknowledged(result).json)
            }
        }
        let results = chunk.staged.results
        appended.increment(by: results.count { $0.status == .appended })
        duplicates.increment(by: results.count { $0.status == .duplicate })
        rejected.increment(by: chunk.rejections.count - results.count)
        return out
    }

    /// Writes the failure line when there is one, logs the request's counts and ends the response.
    private static func finish(
        _ writer: inout any ResponseBodyWriter, outcome: StreamOutcome, logger: Logger
    ) async throws {
        if let failure = outcome.failure {
            var line: [UInt8] = []
            line.appendASCII("{\"status\":\"failed\",\"reason\":")
            line.appendJSONString(failure)
            line.appendASCII("}\n")
            try await writer.write(ByteBuffer(bytes: line))
        }
        logger.info(
            "events request done",
            metadata: [
                "appended": "\(outcome.appended)", "duplicates": "\(outcome.duplicates)",
                "rejected": "\(outcome.rejected)", "failed": "\(outcome.failure != nil)",
            ])
        try await writer.finish(nil)
    }

    /// Counts for the request's log line.
    struct StreamOutcome {
        var appended = 0
        var duplicates = 0
        var rejected = 0
        var failure: String?
    }

    /// `?atomic=true`: reads the whole body, validates every line, then appends all as one frame, or, when any
    /// line is rejected, nothing (422 listing every rejected line).
    private func appendAtomically(
        _ request: Request, service: LedgerService, principal: Principal
    ) async throws -> Response {
        let body = request.body
        let buffer: ByteBuffer
        do { buffer = try await body.collect(upTo: maxBodyBytes) } catch {
            throw HTTPError(.contentTooLarge, message: "the body is over the \(maxBodyBytes)-byte limit")
        }
        var splitter = LineSplitter()
        var lines = EventLineDecoder(
            decoder: EventDecoder(maximumEventBytes: service.maximumEventBytes), principal: principal)
        let decoded = lines.decode(splitter.append(buffer) + splitter.finish())
        let failures = decoded.compactMap { entry -> EventDecodingError? in
            if case .failure(let error) = entry { return error }
            return nil
        }
        guard failures.isEmpty else {
            rejected.increment(by: failures.count)
            var out: [UInt8] = []
            for failure in failures { out.append(contentsOf: LineOutcome.rejected(failure).json) }
            return Response(
                status: .unprocessableContent, headers: [.contentType: "application/x-ndjson"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: out)))
        }
        let events = decoded.compactMap { try? $0.get() }
        let results: [AppendResult]
        do { results = try await service.appendAtomically(events) } catch {
            throw HTTPError(.serviceUnavailable, message: "the ledger could not append: \(error)")
        }
        appended.increment(by: results.count { $0.status == .appended })
        duplicates.increment(by: results.count { $0.status == .duplicate })
        var out: [UInt8] = []
        for result in results { out.append(contentsOf: LineOutcome.acknowledged(result).json) }
        return Response(
            status: .ok, headers: [.contentType: "application/x-ndjson"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: out)))
    }
}
