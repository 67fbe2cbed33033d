// Keeps projections in step with the log: catching up from each projection's checkpoint, rebuilding from seq 0,
// and answering reads (transcripts, call lists) as of any seq.
import Dispatch
import LedgerCore
public import LedgerStore

/// What one catch-up or rebuild of a projection did, and where its time went.
public struct ProjectionRun: Sendable, Equatable, Codable {
    /// The projection.
    public var projection: String
    /// Whether the state was rebuilt from seq 0 (asked for, missing, or of another version).
    public var rebuilt: Bool
    /// The first seq folded.
    public var fromSeq: UInt64
    /// The seq after the last one folded: the new checkpoint.
    public var toSeq: UInt64
    /// Events read from the log.
    public var events: UInt64
    /// Calls whose state changed.
    public var calls: Int
    /// Wall-clock time.
    public var seconds: Double
    /// Time the reading threads spent reading and decompressing frames, summed over them (it overlaps the rest).
    public var readSeconds: Double
    /// Time spent parsing records (on the reading threads, to pick the ones the fold wants) and decoding the
    /// bodies the fold uses.
    public var decodeSeconds: Double
    /// Time spent updating state: copying records, writing SQLite, committing.
    public var applySeconds: Double
    /// Events per second of wall-clock time.
    public var eventsPerSecond: Double
    /// The worker threads the run was allowed (`CALL_LEDGER_WORKERS`, else the cores); 1 means it ran on the
    /// calling thread (a catch-up still reads ahead on a second one).
    public var workers = 1
}

/// The projections of one ledger, whose state lives in `<ledger>/projections/`.
public final class ProjectionEngine {
    /// The projections this engine maintains.
    public static let projections = folds.map { $0.projection } + [QAState.projection]

    static let folds: [any ProjectionFold.Type] = [TranscriptFold.self, RetentionFold.self, CRMFold.self]

    /// The ledger this engine reads.
    public let reader: LedgerReader
    /// Where the projections' state is kept: the ledger's `projections/`, or for a ledger this process cannot
    /// write (a read-only copy, a full disk) a private copy of it in the temporary directory, caught up there and
    /// removed with the engine.
    let directory: String
    private let privateCopy: String?

    /// The QA scorecards `catchUp` and `rebuild` score calls with; the log must record each one's digest
    /// (`projection.definition.changed`, projection `qa`) before it is used.
    public var scorecards: [QAScorecard] = []

    /// How many threads per-call work (QA scoring, CRM plans) uses; the results do not depend on it.
    public var workers = WorkerThreads.count

    /// An engine over `reader`'s ledger.
    public init(reader: LedgerReader) {
        self.reader = reader
        let stored = reader.layout.projections
        let home = FileSystem.exists(stored) ? stored : reader.layout.directory
        let writable =
            FileSystem.isWritableDirectory(home) && (FileSystem.availableBytes(home) ?? .max) >= Self.minimumFreeBytes
        guard !writable, let copy = try? Self.privateCopy(of: stored) else {
            directory = stored
            privateCopy = nil
            return
        }
        directory = copy
        privateCopy = copy
    }

    deinit {
        if let privateCopy { FileSystem.removeTree(privateCopy) }
    }

    /// Below this many free bytes on the ledger's file system, projections are caught up in a private copy.
    static let minimumFreeBytes: UInt64 = 16 << 20

    /// A new temporary directory holding a copy of the state files in `stored`, if there are any.
    private static func privateCopy(of stored: String) throws(LedgerError) -> String {
        let copy = try FileSystem.temporaryDirectory(prefix: "call-ledger-projections")
        do {
            if FileSystem.exists(stored) {
                for name in try FileSystem.contents(of: stored)
                where name.hasSuffix(".sqlite") || name.hasSuffix(".sqlite-wal") {
                    try FileSystem.copy(FileSystem.join(stored, name), to: FileSystem.join(copy, name))
                }
            }
            return copy
        } catch {
            FileSystem.removeTree(copy)
            throw error
        }
    }

    /// The folds of the projections named (all when `names` is empty); an unknown name is an error.
    private static func folds(named names: [String]) throws(LedgerError) -> [any ProjectionFold.Type] {
        for name in names where !projections.contains(name) {
            throw .invalidRequest("unknown projection '\(name)'; known: \(projections.joined(separator: ", "))")
        }
        return folds.filter { names.isEmpty || names.contains($0.projection) }
    }

    /// Whether a run over projections `names` includes QA: when asked for by name, or for all projections when
    /// scorecards are set.
    private func includesQA(_ names: [String]) -> Bool {
        names.contains(QAState.projection) || (names.isEmpty && !scorecards.isEmpty)
    }

    /// Folds, for each projection named (all when `names` is empty), the events appended since its checkpoint;
    /// rebuilds one that has no state yet or state of another version. `progress` is called with the
    /// projection, events done and events to do.
    public func catchUp(
        _ names: [String] = [], progress: (String, UInt64, UInt64) -> Void = { _, _, _ in }
    ) throws(LedgerError) -> [ProjectionRun] {
        var runs: [ProjectionRun] = []
        for fold in try Self.folds(named: names) { runs.append(try catchUp(fold, progress: progress).run) }
        if includesQA(names) { runs.append(try scoreQA(fresh: false, progress: progress)) }
        return runs
    }

    /// Drops the state of each projection named (all when `names` is empty) and folds the whole log into a new
    /// generation of it, which replaces the old one only once complete; the folds share one pass over the log.
    public func rebuild(
        _ names: [String] = [], progress: (String, UInt64, UInt64) -> Void = { _, _, _ in }
    ) throws(LedgerError) -> [ProjectionRun] {
        var runs = try rebuildTogether(try Self.folds(named: names), progress: progress)
        if includesQA(names) { runs.append(try scoreQA(fresh: true, progress: progress)) }
        return runs
    }

    /// Catches projection `Fold` up; returns the run and its state, open for reading.
    private func catchUp<Fold: ProjectionFold>(
        _: Fold.Type, progress: (String, UInt64, UInt64) -> Void
    )
        throws(LedgerError) -> (run: ProjectionRun, file: ProjectionStateFile)
    {
        guard let file = try ProjectionStateFile.openCurrent(name: Fold.projection, in: directory),
            try file.meta("version") == Fold.version,
            let checkpoint = try file.meta("seq").map(UInt64.init), checkpoint <= reader.size
        else {
            let run = try rebuild(Fold.self, progress: progress)
            guard let rebuilt = try ProjectionStateFile.openCurrent(name: Fold.projection, in: directory) else {
                throw .invalidRequest("the \(Fold.projection) projection has no state in \(directory)")
            }
            return (run, rebuilt)
        }
        guard checkpoint < reader.size else {
            // Up to date: nothing to fold, and nothing written (a read stays a read).
            let run = ProjectionRun(
                projection: Fold.projection, rebuilt: false, fromSeq: checkpoint, toSeq: checkpoint, events: 0,
                calls: 0, seconds: 0, readSeconds: 0, decodeSeconds: 0, applySeconds: 0, eventsPerSecond: 0,
                workers: workers)
            return (run, file)
        }
        let run = try file.database.transaction { () throws(LedgerError) -> ProjectionRun in
            let from = UInt64(try file.meta("seq") ?? 0)
            return try fold(Fold.self, into: file, from: from, progress: progress)
        }
        return (run, file)
    }

    private func rebuild<Fold: ProjectionFold>(
        _: Fold.Type, progress: (String, UInt64, UInt64) -> Void
    )
        throws(LedgerError) -> ProjectionRun
    {
        let file = try ProjectionStateFile.createForRebuild(
            name: Fold.projection, version: Fold.version, schema: Fold.schema, in: directory)
        let run = try file.database.transaction { () throws(LedgerError) -> ProjectionRun in
            try fold(Fold.self, into: file, from: 0, progress: progress)
        }
        try file.publish(in: directory)
        return run
    }

    /// Folds the events `from..<end` (default: to the end of the log) into `file`.
    func fold<Fold: ProjectionFold>(
        _: Fold.Type, into file: ProjectionStateFile, from: UInt64, to limit: UInt64? = nil,
        progress: (String, UInt64, UInt64) -> Void
    ) throws(LedgerError) -> ProjectionRun {
        let start = DispatchTime.now().uptimeNanoseconds
        let end = min(limit ?? reader.size, reader.size)
        var fold = Fold(into: file, restoring: from > 0)
        let total = end - from
        progress(Fold.projection, 0, total)
        var nextReport = from
        let apply = { (record: RecordView) throws(LedgerError) in
            try fold.apply(record)
            if record.seq >= nextReport {
                progress(Fold.projection, record.seq - from, total)
                nextReport = record.seq + 16_384
            }
        }
        let timings = try reader.scan(from..<end, where: { Fold.wants($0) }, apply)
        let applyInScan = fold.applyNanos
        try fold.finish(checkpoint: end)
        progress(Fold.projection, total, total)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return ProjectionRun(
            projection: Fold.projection, rebuilt: from == 0, fromSeq: from, toSeq: end, events: total,
            calls: fold.callCount, seconds: seconds, readSeconds: Double(timings.readNanos) / 1e9,
            decodeSeconds: Double(timings.filterNanos + timings.bodyNanos - min(applyInScan, timings.bodyNanos)) / 1e9,
            applySeconds: Double(fold.applyNanos) / 1e9, eventsPerSecond: seconds > 0 ? Double(total) / seconds : 0)
    }

    /// The state of projection `Fold`, caught up with the log.
    func current<Fold: ProjectionFold>(_: Fold.Type) throws(LedgerError) -> ProjectionStateFile {
        try catchUp(Fold.self) { _, _, _ in }.file
    }

    /// The transcript state, caught up with the log.
    func currentState() throws(LedgerError) -> TranscriptState {
        TranscriptState(file: try current(TranscriptFold.self))
    }

    /// The seq bound of a read: events with seq below it are included.
    private func bound(asOf: UInt64?) -> UInt64 {
        min(asOf ?? reader.size, reader.size)
    }

    /// The summary of every call with an event below `asOf` (a seq bound; nil for the whole log), in order of
    /// first event.
    public func calls(asOf: UInt64? = nil) throws(LedgerError) -> [CallSummary] {
        let state = try currentState()
        let bound = bound(asOf: asOf)
        let stored = try state.summaries()
        guard bound < reader.size else { return stored }
        var result: [CallSummary] = []
        for summary in stored where summary.firstSeq < bound {
            if summary.lastSeq < bound {
                result.append(summary)
            } else if let folded = try summaryOf(call: summary.call, state: state, bound: bound) {
                result.append(folded)
            }
        }
        return result
    }

    /// The table `call-ledger calls` prints (`TranscriptRenderer.callTable`) of every call as known once every
    /// event below `asOf` was appended. Read from the caught-up projection's stored rows when `asOf` is the whole
    /// log, else rendered from the summaries folded up to it.
    public func callTable(asOf: UInt64? = nil) throws(LedgerError) -> [UInt8] {
        guard bound(asOf: asOf) < reader.size else { return try currentState().callTable() }
        return TranscriptRenderer.callTable(try calls(asOf: asOf))
    }

    /// The summary of `call` as known now (nil for a call the log does not name): one lookup in the caught-up
    /// projection, where `calls()` reads every call's.
    public func summary(call: String) throws(LedgerError) -> CallSummary? {
        try currentState().summary(call: call)
    }

    private func summaryOf(call: String, state: TranscriptState, bound: UInt64) throws(LedgerError) -> CallSummary? {
        var summary: CallSummary?
        var partials: [PartialPointer] = []
        for row in try state.rows(call: call, lastBucket: (bound - 1) / TranscriptState.bucketSize) {
            try RecordCopies.forEach(in: row.records) { record throws(LedgerError) in
                guard record.seq < bound, let kind = TranscriptRecordKind(record) else { return }
                var folded = summary ?? CallSummary(first: record)
                do {
                    try folded.apply(record, kind: kind, head: nil)
                } catch {
                    throw .invalidRequest("event \(record.seq) cannot be folded: \(error)")
                }
                summary = folded
            }
            try RecordCopies.forEachPartial(in: row.partials) { pointer throws(LedgerError) in
                if pointer.seq < bound { partials.append(pointer) }
            }
        }
        if summary == nil, let first = partials.first {
            try reader.withRecord(seq: first.seq) { record throws(LedgerError) in summary = CallSummary(first: record) }
        }
        for pointer in partials { summary?.count(pointer) }
        return summary
    }

    /// The transcript of `call` as known once every event below `asOf` (a seq bound; nil for the whole log) was
    /// appended, or nil when the call had no transcript event by then.
    public func transcript(call: String, asOf: UInt64? = nil) throws(LedgerError) -> CallTranscript? {
        try transcript(call: call, bound: bound(asOf: asOf), state: try currentState())
    }

    /// The transcripts of `calls` as known now, reading the projection caught up once for all of them: each call's
    /// transcript (nil when it has none yet) or the error reading it. A failure to catch the projection up throws.
    public func transcripts(calls: Set<String>) throws(LedgerError) -> [String: Result<CallTranscript?, LedgerError>] {
        let state = try currentState()
        let bound = bound(asOf: nil)
        var result: [String: Result<CallTranscript?, LedgerError>] = [:]
        for call in calls {
            result[call] = Result { () throws(LedgerError) in try transcript(call: call, bound: bound, state: state) }
        }
        return result
    }

    /// The transcript of `call` from the events below `bound`, read from `state`.
    func transcript(call: String, bound: UInt64, state: TranscriptState) throws(LedgerError) -> CallTranscript? {
        guard bound > 0 else { return nil }
        let rows = try state.rows(call: call, lastBucket: (bound - 1) / TranscriptState.bucketSize)
        var builder = CallTranscript.Builder(asOf: bound)
        let source = CopiedRecords(rows.map(\.records))
        for row in rows {
            try RecordCopies.forEach(in: row.records) { record throws(LedgerError) in
                guard record.seq < bound, let kind = TranscriptRecordKind(record) else { return }
                let opensParts = kind == .segment || kind == .enrichment
                let parts = opensParts ? try reader.openParts(of: record, lookup: source) : []
                do {
                    try builder.apply(record, kind: kind, parts: parts)
                } catch {
                    throw .invalidRequest("event \(record.seq) (\(record.typeName)) cannot be read: \(error)")
                }
            }
            try RecordCopies.forEachPartial(in: row.partials) { pointer throws(LedgerError) in
                if pointer.seq < bound { builder.note(pointer) }
            }
        }
        for seq in builder.partialsToRead {
            try reader.withRecord(seq: seq) { record throws(LedgerError) in
                let parts = try reader.openParts(of: record, lookup: source)
                do {
                    try builder.addPartial(record, parts: parts)
                } catch {
                    throw .invalidRequest("event \(record.seq) (\(record.typeName)) cannot be read: \(error)")
                }
            }
        }
        return builder.transcript()
    }

    /// Every projection's whole state as text lines, for comparing two states.
    public func stateDump() throws(LedgerError) -> [String] {
        var lines: [String] = []
        for fold in Self.folds {
            guard let file = try ProjectionStateFile.openCurrent(name: fold.projection, in: directory) else { continue }
            lines.append(contentsOf: try file.dump().map { fold.projection + " " + $0 })
        }
        return lines
    }
}

/// The record copies of one call, found by seq: where a delta part's base usually is. The seq index is built
/// on the first lookup (most reads need none: the opener keeps the latest part of each class).
private final class CopiedRecords: RecordSource {
    let blobs: [[UInt8]]
    private var locations: [UInt64: (blob: Int, range: Range<Int>)]?

    init(_ blobs: [[UInt8]]) {
        self.blobs = blobs
    }

    func withRecord(seq: UInt64, _ body: (RecordView) throws(LedgerError) -> Void) throws(LedgerError) {
        if locations == nil {
            var found: [UInt64: (blob: Int, range: Range<Int>)] = [:]
            var failure: LedgerError?
            for (index, blob) in blobs.enumerated() {
                blob.withUnsafeBytes { raw in
                    do throws(LedgerError) {
                        try RecordCopies.forEach(in: raw) { record throws(LedgerError) in
                            let start = record.bytes.baseAddress! - raw.baseAddress!
                            found[record.seq] = (index, start..<start + record.bytes.count)
                        }
                    } catch {
                        failure = error
                    }
                }
                if let failure { throw failure }
            }
            locations = found
        }
        guard let location = locations?[seq] else { return }
        var failure: LedgerError?
        blobs[location.blob].withUnsafeBytes { raw in
            do throws(LedgerError) {
                let record: RecordView
                do { record = try RecordView(UnsafeRawBufferPointer(rebasing: raw[location.range])) } catch {
                    throw .invalidRequest("a copied record no longer parses: \(error); run `call-ledger rebuild`")
                }
                try body(record)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }
}
