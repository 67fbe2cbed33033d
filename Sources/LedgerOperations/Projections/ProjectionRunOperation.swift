// Bringing projections up to date with the log (catch up) or folding the whole log again (rebuild), with the QA
// projection's scorecards recorded in the log first.
public import LedgerProjections
import LedgerStore

/// Catches up or rebuilds projections.
public struct ProjectionRunOperation: Sendable {
    /// What to do.
    public enum Mode: Sendable, Equatable {
        /// Fold only the events appended since each projection's checkpoint (rebuilding one with no or stale state).
        case catchUp
        /// Drop the state and fold the whole log into a new generation, which replaces the old one once complete.
        case rebuild
    }

    /// The ledger.
    public var ledger: LedgerLocation
    /// The projections (all when empty).
    public var names: [String]
    /// The QA scorecards (recorded in the log first when their digest is new), if any.
    public var scorecards: [QAScorecardFile]
    /// Catch up or rebuild.
    public var mode: Mode

    /// `mode` of projections `names` (all when empty) with `scorecards`.
    public init(ledger: LedgerLocation, names: [String], scorecards: [QAScorecardFile], mode: Mode) {
        self.ledger = ledger
        self.names = names
        self.scorecards = scorecards
        self.mode = mode
    }

    /// One run per projection; `progress` hears each projection as a stage, in turn.
    public func run(progress: any OperationProgress = NoProgress()) throws -> [ProjectionRun] {
        let engine = try QAScorecardRecording.engine(recording: scorecards, ledger: ledger)
        var stage: String?
        let report = { (projection: String, done: UInt64, total: UInt64) in
            if stage != projection {
                if let stage { progress.finish(stage) }
                stage = projection
            }
            progress.update(projection, done: done, total: total)
        }
        let runs =
            switch mode {
            case .catchUp: try engine.catchUp(names, progress: report)
            case .rebuild: try engine.rebuild(names, progress: report)
            }
        if let stage { progress.finish(stage) }
        return runs
    }
}
