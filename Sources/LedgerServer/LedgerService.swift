// The service's one ledger writer and its reads: a request's events are staged on a dispatch thread and made
// durable by the group committer (one thread writing and fsyncing everything staged), so concurrent requests
// share frames and fsyncs; atomic appends run on threads of their own; reads open a fresh reader, so
// they see every event acknowledged before them, and are serialised because catching projections up writes
// their state.
import Dispatch
import Foundation
public import LedgerCore
public import LedgerOperations
public import LedgerProjections
public import LedgerStore

/// The ledger as the service holds it: the writer, and reads brought up to date with it.
public final class LedgerService: Sendable {
    /// The ledger directory.
    public let directory: String
    /// The key file, if not DIR.key.
    public let keyFile: String?
    /// The largest event the ledger accepts, in bytes.
    public let maximumEventBytes: Int
    /// Signals the calls of every append once it is durable (the live streams listen).
    public let appended = AppendSignal()
    let writer: LedgerWriter
    let appendQueue = DispatchQueue(label: "call-ledger.serve.append", attributes: .concurrent)
    private let committer: GroupCommitter
    private let readQueue = DispatchQueue(label: "call-ledger.serve.read")

    /// Opens the ledger for writing (waiting up to `lockWait` seconds for another writer's lock).
    public init(directory: String, keyFile: String?, lockWait: Double) throws(LedgerError) {
        self.directory = directory
        self.keyFile = keyFile
        writer = try LedgerWriter(directory: directory, keyFilePath: keyFile, lockWait: lockWait)
        maximumEventBytes = writer.configuration.maximumEventBytes
        committer = GroupCommitter(writer: writer)
    }

    /// What recovery did when the writer opened the ledger, for the start-up log.
    public var recovery: RecoveryReport { writer.recovery }

    /// Appends `events`; returns once every one is durable (or a known duplicate), in order. The events are
    /// staged here and written by the group committer with whatever other requests staged meanwhile.
    public func append(_ events: [DecodedEvent]) async throws(LedgerError) -> [AppendResult] {
        guard !events.isEmpty else { return [] }
        let writer = self.writer
        let committer = self.committer
        let batchLimit = writer.configuration.maximumBatchEvents
        let results = try await run(on: appendQueue) { () throws(LedgerError) in
            var results: [AppendResult] = []
            results.reserveCapacity(events.count)
            for (index, event) in events.enumerated() {
                results.append(try writer.stage(event))
                if (index + 1) % batchLimit == 0 { committer.nudge() }
            }
            return results
        }
        if let last = results.map(\.seq).max() { try await committer.waitDurable(through: last) }
        signal(events, results)
        return results
    }

    /// Appends `events` as one frame: all durable together, or none.
    public func appendAtomically(_ events: [DecodedEvent]) async throws(LedgerError) -> [AppendResult] {
        guard !events.isEmpty else { return [] }
        let writer = self.writer
        let results = try await run(on: appendQueue) { () throws(LedgerError) in
            try writer.appendAtomically(events)
        }
        signal(events, results)
        return results
    }

    /// Tells `appended`'s listener the calls of the events just appended (not of known duplicates).
    private func signal(_ events: [DecodedEvent], _ results: [AppendResult]) {
        var calls: Set<String> = []
        for (event, result) in zip(events, results) where result.status == .appended && !event.call.isEmpty {
            calls.insert(event.call)
        }
        appended.send(calls)
    }

    /// The latest signed checkpoint, signing a new one first when events were appended since.
    public func checkpoint() async throws(LedgerError) -> (checkpoint: Checkpoint, note: String) {
        let writer = self.writer
        let directory = self.directory
        let keyFile = self.keyFile
        return try await run(on: readQueue) { () throws(LedgerError) in
            let reader = try LedgerReader(directory: directory, keyFilePath: keyFile)
            if let latest = try reader.checkpoints().last, latest.checkpoint.treeSize >= writer.durableSize {
                return latest
            }
            return try writer.checkpoint()
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
        committer.stop()
        try writer.close()
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
