// QA: scoring a call against scorecards on the spot, the QA projection's stored results, and its reports; the
// scorecards in use are recorded in the log (projection.definition.changed) before the projection uses them.
import LedgerCore
public import LedgerProjections
import LedgerStore

/// Keeping the QA projection's scorecards recorded in the log.
public enum QAScorecardRecording {
    /// Appends one `projection.definition.changed` (projection `qa`, tenant `*`) per scorecard whose digest is not
    /// the one the log last recorded for its name, then returns an engine whose reader sees them, set up to score
    /// with `scorecards` (each with the file it was read from).
    public static func engine(
        recording scorecards: [QAScorecardFile], ledger: LedgerLocation
    ) throws -> ProjectionEngine {
        var engine = ProjectionEngine(reader: try ledger.reader())
        var events: [DefinitionChangedEvent] = []
        for (file, scorecard) in scorecards.map({ ($0.file, $0.scorecard) })
        where try engine.recordedScorecardDigest(scorecard.name) != scorecard.digest.hex {
            events.append(
                DefinitionChangedEvent(
                    projection: "qa",
                    definition: DefinitionReference(
                        name: scorecard.name, version: scorecard.version, digest: scorecard.digest.hex),
                    path: file, tenant: "*", logSize: engine.reader.size))
        }
        if !events.isEmpty {
            let writer = try ledger.writer()
            defer { try? writer.close() }
            _ = try OwnEventLog.append(events, with: writer)
            try writer.close()
            engine = ProjectionEngine(reader: try ledger.reader())
        }
        engine.scorecards = scorecards.map(\.scorecard)
        return engine
    }
}

/// Scores a call against scorecards on the spot: nothing is stored or appended, so a point in the past and
/// scorecards not yet in use work too.
public struct QAScoreOperation: Sendable {
    /// The ledger.
    public var ledger: LedgerLocation
    /// The call.
    public var call: String
    /// The scorecards.
    public var scorecards: [QAScorecard]
    /// Score the call as known then (now when nil).
    public var asOf: PointInTime?

    /// Scoring `call` with `scorecards` as of `asOf`.
    public init(ledger: LedgerLocation, call: String, scorecards: [QAScorecard], asOf: PointInTime?) {
        self.ledger = ledger
        self.call = call
        self.scorecards = scorecards
        self.asOf = asOf
    }

    /// One evaluation per scorecard; a call without transcript events is an error naming it.
    public func run() throws -> [QAEvaluation] {
        let reader = try ledger.reader()
        let engine = ProjectionEngine(reader: reader)
        guard let transcript = try engine.transcript(call: call, asOf: try asOf?.seqBound(reader)) else {
            throw LedgerError.invalidRequest("the log holds no transcript events for call '\(call)'")
        }
        return scorecards.map { $0.evaluate(transcript) }
    }
}

/// A call's stored QA results, one evaluation per scorecard version that scored it, after bringing the QA
/// projection up to date with `scorecards`.
public struct QAResultsOperation: Sendable {
    /// The ledger.
    public var ledger: LedgerLocation
    /// The call.
    public var call: String
    /// The scorecards in use, with their files.
    public var scorecards: [QAScorecardFile]

    /// The results of `call`.
    public init(ledger: LedgerLocation, call: String, scorecards: [QAScorecardFile]) {
        self.ledger = ledger
        self.call = call
        self.scorecards = scorecards
    }

    /// The evaluations, oldest scorecard version first; none is an error naming the call.
    public func run() throws -> [QAEvaluation] {
        let engine = try QAScorecardRecording.engine(recording: scorecards, ledger: ledger)
        _ = try engine.catchUp(["qa"])
        let evaluations = try engine.qaEvaluations(call: call)
        guard !evaluations.isEmpty else {
            throw LedgerError.invalidRequest("the qa projection holds no results for call '\(call)'")
        }
        return evaluations
    }
}

/// Per-agent and per-question aggregates of the QA projection's results, after bringing it up to date.
public struct QAReportOperation: Sendable {
    /// The ledger.
    public var ledger: LedgerLocation
    /// The scorecards in use, with their files.
    public var scorecards: [QAScorecardFile]
    /// Only this scorecard (by name).
    public var scorecardName: String?
    /// This version instead of the newest.
    public var version: String?
    /// Only calls started in this range (UTC µs).
    public var started: Range<Int64>?

    /// The report of `scorecardName` (all when nil) at `version` (newest when nil) over calls started in `started`.
    public init(
        ledger: LedgerLocation, scorecards: [QAScorecardFile], scorecardName: String?, version: String?,
        started: Range<Int64>?
    ) {
        self.ledger = ledger
        self.scorecards = scorecards
        self.scorecardName = scorecardName
        self.version = version
        self.started = started
    }

    /// One report per scorecard.
    public func run() throws -> [QAReport] {
        let engine = try QAScorecardRecording.engine(recording: scorecards, ledger: ledger)
        _ = try engine.catchUp(["qa"])
        return try engine.qaReports(name: scorecardName, version: version, started: started)
    }
}

/// A scorecard and the file it was read from.
public struct QAScorecardFile: Sendable {
    /// The file.
    public var file: String
    /// The scorecard.
    public var scorecard: QAScorecard

    /// `scorecard`, read from `file`.
    public init(file: String, scorecard: QAScorecard) {
        self.file = file
        self.scorecard = scorecard
    }
}
