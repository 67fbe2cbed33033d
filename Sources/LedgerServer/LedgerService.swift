// The service's one ledger writer and its reads: a request's events are staged on a dispatch thread and made
// durable by the group committer (one thread writing and fsyncing everything staged), so concurrent requests
// share frames and fsyncs; atomic appends run on threads of their own; reads open a fresh reader, so
// they see every event acknowledged before them, and are serialised because catching projections up writes
// their state. Read-only (`serve --read-only`), the service holds no writer and never takes the lock: each read's
// fresh reader sees every frame another process wrote before it (FORMAT.md §2), and appends are refused.
import Dispatch
import Foundation
public import LedgerCore
public import LedgerOperations
public import LedgerProjections
public import LedgerStore

/// The ledger as the service holds it: the writer, and reads brought up to date with it; or, read-only, reads
/// of a ledger another process may be writing.
public final class LedgerService: Sendable {
    /// The ledger directory.
    public let directory: String
    /// The key file, if not DIR.key.
    public let keyFile: String?
    /// The largest event the ledger accepts, in bytes.
    public let maximumEventBytes: Int
    /// Signals the calls of every append once it is durable (the live streams listen).
    public let appended = AppendSignal()
    /// The writer; nil when the ledger is served read-only.
    let writer: LedgerWriter?
    let appendQueue = DispatchQueue(label: "call-ledger.serve.append", attributes: .concurrent)
    private let committer: GroupCommitter?
    private let readQueue = DispatchQueue(label: "call-ledger.serve.read")

    /// Opens the ledger for writing (waiting up to `lockWait` seconds for another writer's lock).
    public init(directory: String, keyFile: String?, lockWait: Double) throws(LedgerError) {
        self.directory = directory
        self.keyFile = keyFile
        let writer = try LedgerWriter(directory: directory, keyFilePath: keyFile, lockWait: lockWait)
        self.writer = writer
        maximumEventBytes = writer.configuration.maximumEventBytes
        committer = GroupCommitter(writer: writer)
    }

    /// Opens the ledger for reading only: no writer, and the writer lock is never taken, so another process may
    /// hold it and append meanwhile. Fails when `directory` is not a readable ledger.
    public init(readingOnly directory: String, keyFile: String?) throws(LedgerError) {
        self.directory = directory
        self.keyFile = keyFile
        let reader = try LedgerReader(directory: directory, keyFilePath: keyFile)
        maximumEventBytes = reader.configuration.maximumEventBytes
        writer = nil
        committer = nil
    }

    /// Whether the service holds no writer (`serve --read-only`).
    public var isReadOnly: Bool { writer == nil }

    /// What recovery did when the writer opened the ledger, for the start-up log (nil when read-only).
    public var recovery: RecoveryReport? { writer?.recovery }

    /// The writer, or the refusal a read-only service answers an append with.
    func requireWriter() throws(LedgerError) -> (LedgerWriter, GroupCommitter) {
        guard let writer, let committer else {
            throw .invalidRequest("the ledger \(directory) is served read-only: this service appends nothing")
        }
        return (writer, committer)
    }

    /// Appends `events`; returns once every one is durable (or a known duplicate), in order. The events are
    /// staged here and written by the group committer with whatever other requests staged meanwhile.
    public func append(_ events: [DecodedEvent]) async throws(LedgerError) -> [AppendResult] {
        let staged = try await stage(events)
        try await awaitDurable(staged)
        return staged.results
    }

    /// Events staged for the group committer, not yet known durable.
    struct StagedEvents: Sendable {
        /// Each event's result, in order.
        var results: [AppendResult]
        /// The calls of the events appended (not of known duplicates), for the live feed.
        var calls: Set<String>
    }

    /// Stages `events` for the group committer without waiting for them to become durable: a request can read
    /// and stage its next lines while these are written. Pass the result to `awaitDurable` before acknowledging.
    func stage(_ events: [DecodedEvent]) async throws(LedgerError) -> StagedEvents {
        guard !events.isEmpty else { return StagedEvents(results: [], calls: []) }
        let (writer, committer) = try requireWriter()
        let batchLimit = writer.configuration.maximumBatchEvents
        // Staged on the calling task's thread: staging is CPU work under the writer's staging lock, held for one
        // event at a time, and never waits for a disk.
        var results: [AppendResult] = []
        results.reserveCapacity(events.count)
        for (index, event) in events.enumerated() {
            results.append(try writer.stage(event))
            if (index + 1) % batchLimit == 0 { committer.nudge() }
        }
        return StagedEvents(results: results, calls: Self.appendedCalls(events, results))
    }

    /// Returns once every event of `staged` is durable, then tells `appended`'s listener their calls.
    func awaitDurable(_ staged: StagedEvents) async throws(LedgerError) {
        guard let last = staged.results.map(\.seq).max() else { return }
        let (_, committer) = try requireWriter()
        try await committer.waitDurable(through: last)
        appended.send(staged.calls)
    }

    /// Appends `events` as one frame: all durable together, or none.
    public func appendAtomically(_ events: [DecodedEvent]) async throws(LedgerError) -> [AppendResult] {
        guard !events.isEmpty else { return [] }
        let (writer, _) = try requireWriter()
        let results = try await run(on: appendQueue) { () throws(LedgerError) in
            try writer.appendAtomically(events)
        }
        signal(events, results)
        return results
    }

    /// Tells `appended`'s listener the calls of the events just appended (not of known duplicates).
    private func signal(_ events: [DecodedEvent], _ results: [AppendResult]) {
        appended.send(Self.appendedCalls(events, results))
    }

    /// The calls of `events` that were appended (not known duplicates), as the live feed is told them.
    private static func appendedCalls(_ events: [DecodedEvent], _ results: [AppendResult]) -> Set<String> {
        var calls: Set<String> = []
        for (event, result) in zip(events, results) where result.status == .appended && !event.call.isEmpty {
            calls.insert(event.call)
        }
        return calls
    }

    /// The latest signed checkpoint, signing a new one first when events were appended since. Read-only, the
    /// latest one stored (the writer's), never a new one; `invalidRequest` when none is stored yet.
    public func checkpoint() async throws(LedgerError) -> (checkpoint: Checkpoint, note: String) {
        let writer = self.writer
        let directory = self.directory
        let keyFile = self.keyFile
        return try await run(on: readQueue) { () throws(LedgerError) in
            let reader = try LedgerReader(directory: directory, keyFilePath: keyFile)
            guard let writer else {
                guard let latest = try reader.latestCheckpoint() else {
                    throw .invalidRequest(Self.noCheckpointYet)
                }
                return latest
            }
            if let latest = try reader.checkpoints().last, latest.checkpoint.treeSize >= writer.durableSize {
                return latest
            }
            return try writer.checkpoint()
        }
    }

    /// Why a read-only service has no checkpoint to show.
    static let noCheckpointYet =
        "the ledger holds no signed checkpoint yet and this service is read-only (it signs none): its writer "
        + "signs one every checkpoint_every_events events or checkpoint_every_seconds seconds (ledger.json), or "
        + "run `call-ledger checkpoint` when no writer holds the ledger"

    /// The log's size now and the calls of the events from `seq` on, read by a fresh reader (the read-only
    /// service's follower of the log another process writes).
    func changes(since seq: UInt64) async throws(LedgerError) -> (size: UInt64, calls: Set<String>) {
        let directory = self.directory
        let keyFile = self.keyFile
        return try await run(on: readQueue) { () throws(LedgerError) in
            let reader = try LedgerReader(directory: directory, keyFilePath: keyFile)
            var calls: Set<String> = []
            if reader.size > seq {
                _ = try reader.scan(seq..<reader.size) { record in
                    let call = record.call
                    if !call.isEmpty { calls.insert(call) }
                }
            }
            return (reader.size, calls)
        }
    }

    /// Whether an event with idempotency key `key` is in the log at or after `seq`; with the log's size now.
    func contains(idempotency key: String, from seq: UInt64) async throws(LedgerError) -> (found: Bool, size: UInt64) {
        let directory = self.directory
        let keyFile = self.keyFile
        return try await run(on: readQueue) { () throws(LedgerError) in
            let reader = try LedgerReader(directory: directory, keyFilePath: keyFile)
            var found = false
            if reader.size > seq {
                _ = try reader.scan(seq..<reader.size) { record in
                    if !found, record.idempotency == key { found = true }
                }
            }
            return (found, reader.size)
        }
    }

    /// The log's size as a reader opened now sees it.
    func size() async throws(LedgerError) -> UInt64 {
        let directory = self.directory
        let keyFile = self.keyFile
        return try await run(on: readQueue) { () throws(LedgerError) in
            try LedgerReader(directory: directory, keyFilePath: keyFile).size
        }
    }

    /// Runs `body` with a reader opened now and a projection engine over it (projections are caught up by the
    /// engine's reads), one read at a time.
    public func read<T: Sendable>(
        _ body: @escaping @Sendable (LedgerReader, ProjectionEngine) throws(LedgerError) -> T
    ) async throws(LedgerError) -> T {
        let directory = self.directory
        let keyFile = self.keyFile
        return try await run(on: readQueue) { () throws(LedgerError) in
            let reader = try LedgerReader(directory: directory, keyFilePath: keyFile)
            return try body(reader, ProjectionEngine(reader: reader))
        }
    }

    /// Runs a LedgerOperations workflow that opens its own reader over `location`, one read at a time (like
    /// `read`: the workflow may catch projections up).
    public func operate<T: Sendable>(
        _ body: @escaping @Sendable (LedgerLocation) throws -> T
    ) async throws -> T {
        let location = LedgerLocation(directory: directory, keyFilePath: keyFile)
        let result: Result<T, any Error> = await withCheckedContinuation { continuation in
            readQueue.async { continuation.resume(returning: Result { try body(location) }) }
        }
        return try result.get()
    }

    /// Commits what is staged, writes a checkpoint if one is due and releases the writer lock.
    public func close() throws(LedgerError) {
        committer?.stop()
        try writer?.close()
    }

    private func run<T: Sendable>(
        on queue: DispatchQueue, _ body: @escaping @Sendable () throws(LedgerError) -> T
    ) async throws(LedgerError) -> T {
        let result: Result<T, LedgerError> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: Result { () throws(LedgerError) in try body() }) }
        }
        return try result.get()
    }
}
