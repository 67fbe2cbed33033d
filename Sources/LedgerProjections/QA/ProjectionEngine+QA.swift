// The QA projection kept in step with the log: each scorecard version scores every call whose transcript
// events arrived since that version last scored, a version met for the first time scores every call, and the
// stored results answer per-call lookups and per-agent and per-question reports.
import Dispatch
import LedgerCore
public import LedgerStore

extension ProjectionEngine {
    /// Scores, with each of `scorecards`, the calls with final transcript lines whose events arrived since the
    /// scorecard version last scored (every such call for a version not met before); with `fresh`, drops their
    /// stored results first and scores every call, keeping the results of other versions (which the log no longer
    /// names as current, so they could not be scored again). One run covers all scorecards; `progress` counts
    /// calls.
    func scoreQA(fresh: Bool, progress: (String, UInt64, UInt64) -> Void) throws(LedgerError) -> ProjectionRun {
        guard !scorecards.isEmpty else {
            throw .invalidRequest(
                "the qa projection needs scorecards: pass --scorecard FILE, set $CALL_LEDGER_SCORECARDS, or run "
                    + "from a directory with Projections/qa")
        }
        let retention = RetentionState(file: try current(RetentionFold.self))
        for scorecard in scorecards {
            let recorded = try retention.recordedDigest(projection: QAState.projection, name: scorecard.name)
            guard recorded == scorecard.digest.hex else {
                throw .invalidRequest(
                    "scorecard \(scorecard.name) version \(scorecard.version) (digest \(scorecard.digest.hex)) is "
                        + "not the one the log records (\(recorded ?? "none")): `call-ledger project qa` appends "
                        + "projection.definition.changed for it first")
            }
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let qa = try QAState.open(in: directory)
        let transcripts = try currentState()
        let end = reader.size
        return try qa.database.transaction { () throws(LedgerError) -> ProjectionRun in
            if fresh { for scorecard in scorecards { try qa.forget(digest: scorecard.digest.hex) } }
            var scoredThrough: [UInt64] = []
            for scorecard in scorecards { scoredThrough.append(try qa.register(scorecard) ?? 0) }
            let from = scoredThrough.min() ?? end
            let due = try transcripts.summaries().filter { $0.finalSegments > 0 && $0.lastSeq >= from }
            progress(QAState.projection, 0, UInt64(due.count))
            var readNanos: UInt64 = 0
            var applyNanos: UInt64 = 0
            var done = 0
            let scorecards = scorecards
            try forEachInOrder(due, contexts: try workerContexts(transcripts)) {
                (worker, summary) throws(LedgerError) -> Scored in
                let readStart = DispatchTime.now().uptimeNanoseconds
                let transcript = try worker.engine.transcript(call: summary.call, bound: end, state: worker.state)
                let scoreStart = DispatchTime.now().uptimeNanoseconds
                var evaluations: [QAEncodedEvaluation] = []
                if let transcript {
                    for (scorecard, since) in zip(scorecards, scoredThrough) where summary.lastSeq >= since {
                        evaluations.append(
                            try QAEncodedEvaluation(scorecard.evaluate(transcript), compressor: worker.compressor))
                    }
                }
                let scoreEnd = DispatchTime.now().uptimeNanoseconds
                return Scored(
                    evaluations: evaluations, readNanos: scoreStart - readStart, scoreNanos: scoreEnd - scoreStart)
            } consume: { (summary, scored) throws(LedgerError) in
                let storeStart = DispatchTime.now().uptimeNanoseconds
                for evaluation in scored.evaluations { try qa.store(evaluation, summary: summary) }
                readNanos += scored.readNanos
                applyNanos += scored.scoreNanos + DispatchTime.now().uptimeNanoseconds - storeStart
                done += 1
                if done % 1024 == 0 { progress(QAState.projection, UInt64(done), UInt64(due.count)) }
            }
            for scorecard in scorecards { try qa.setScoredThrough(end, digest: scorecard.digest.hex) }
            progress(QAState.projection, UInt64(due.count), UInt64(due.count))
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            return ProjectionRun(
                projection: QAState.projection, rebuilt: fresh || scoredThrough.contains(0), fromSeq: from,
                toSeq: end, events: end - from, calls: due.count, seconds: seconds,
                readSeconds: Double(readNanos) / 1e9, decodeSeconds: 0, applySeconds: Double(applyNanos) / 1e9,
                eventsPerSecond: seconds > 0 ? Double(end - from) / seconds : 0, workers: workers)
        }
    }

    /// One reader and transcript state per worker thread: this engine's own for the first, fresh ones for the
    /// rest (`WorkerThreads.count` in all).
    func workerContexts(_ transcripts: TranscriptState) throws(LedgerError) -> [WorkerContext] {
        var contexts = [
            WorkerContext(engine: self, state: transcripts, compressor: try QAEncodedEvaluation.compressor())
        ]
        while contexts.count < workers {
            let engine = ProjectionEngine(reader: try reader.reopened())
            contexts.append(
                WorkerContext(
                    engine: engine, state: try engine.currentState(), compressor: try QAEncodedEvaluation.compressor()))
        }
        return contexts
    }

    /// The digest the log last recorded for QA scorecard `name` through `projection.definition.changed`, hex,
    /// or nil when it never named it.
    public func recordedScorecardDigest(_ name: String) throws(LedgerError) -> String? {
        try recordedDefinitionDigest(projection: QAState.projection, name: name)
    }

    /// The digest the log last recorded for definition `name` of `projection` through
    /// `projection.definition.changed`, hex, or nil when it never named it.
    public func recordedDefinitionDigest(projection: String, name: String) throws(LedgerError) -> String? {
        try RetentionState(file: try current(RetentionFold.self)).recordedDigest(projection: projection, name: name)
    }

    /// Every scorecard version the QA projection holds results of, oldest first (as last scored: run
    /// `catchUp` first for results covering the whole log).
    public func qaScorecardVersions() throws(LedgerError) -> [QAScorecardVersion] {
        try QAState.open(in: directory).versions()
    }

    /// The stored evaluations of `call`, one per scorecard version that scored it, oldest version first.
    public func qaEvaluations(call: String) throws(LedgerError) -> [QAEvaluation] {
        try QAState.open(in: directory).evaluations(call: call)
    }

    /// Per-agent and per-question aggregates of one scorecard version per report: the versions named `version`
    /// (the newest of each scorecard when nil) of the scorecard named `name` (every scorecard when nil), over
    /// the calls started in `started` (UTC µs; every call when nil).
    public func qaReports(
        name: String? = nil, version: String? = nil, started: Range<Int64>? = nil
    ) throws(LedgerError) -> [QAReport] {
        let state = try QAState.open(in: directory)
        let versions = try state.versions().filter { name == nil || $0.name == name }
        var chosen: [String: QAScorecardVersion] = [:]
        for candidate in versions where version == nil || candidate.version == version {
            chosen[candidate.name] = candidate
        }
        guard !chosen.isEmpty else {
            let known = versions.map { "\($0.name)@\($0.version)" }.joined(separator: ", ")
            throw .invalidRequest(
                "the qa projection holds no results for \(name ?? "any scorecard")"
                    + (version.map { " version \($0)" } ?? "") + (known.isEmpty ? "" : "; it holds \(known)"))
        }
        var reports: [QAReport] = []
        for (_, chosenVersion) in chosen.sorted(by: { $0.key < $1.key }) {
            reports.append(try state.report(chosenVersion, started: started))
        }
        return reports
    }
}

/// What a worker thread needs to read transcripts: an engine over its own reader, and its own connection to the
/// transcript state.
struct WorkerContext {
    /// The engine whose reader the worker uses.
    let engine: ProjectionEngine
    /// The worker's connection to the transcript state.
    let state: TranscriptState
    /// The worker's compressor for QA results.
    let compressor: ZstdCompressor
}

/// One call's evaluations, scored on a worker thread, and where that worker's time went.
private struct Scored {
    var evaluations: [QAEncodedEvaluation]
    var readNanos: UInt64
    var scoreNanos: UInt64
}
