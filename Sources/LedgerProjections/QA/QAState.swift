// The QA projection's state file: per scorecard version (by file digest) its questions and the seq through which
// calls were scored; per call and scorecard version the score, each answer and every section with its evidence
// (zstd-compressed JSON: utterance ids, seqs and times, never text). Results of older versions stay beside the
// newer ones, so a changed scorecard never hides what the previous one said.
import Foundation
import LedgerCore
import LedgerStore

/// The QA projection's tables, in one generation of its state file.
struct QAState {
    /// The projection's name.
    static let projection = "qa"
    /// The version of the schema; a state of another version is rebuilt.
    static let version: Int64 = 2
    /// The tables.
    static let schema = """
        CREATE TABLE scorecards(
            digest TEXT PRIMARY KEY, name TEXT NOT NULL, version TEXT NOT NULL, ordinal INTEGER NOT NULL,
            scored_through INTEGER NOT NULL, questions BLOB NOT NULL) WITHOUT ROWID;
        CREATE TABLE evaluations(
            digest TEXT NOT NULL, call TEXT NOT NULL, tenant TEXT NOT NULL, agent TEXT, queue TEXT,
            started_at INTEGER, as_of INTEGER NOT NULL, score REAL, automatic_fail INTEGER NOT NULL,
            sections BLOB NOT NULL, PRIMARY KEY(digest, call)) WITHOUT ROWID;
        CREATE INDEX evaluations_by_call ON evaluations(call);
        CREATE TABLE answers(
            digest TEXT NOT NULL, call TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, points INTEGER,
            PRIMARY KEY(digest, call, question)) WITHOUT ROWID;
        """

    let file: ProjectionStateFile
    var database: SQLiteDatabase { file.database }
    private let compressor: ZstdCompressor
    private let decompressor: ZstdDecompressor

    init(file: ProjectionStateFile) throws(LedgerError) {
        self.file = file
        compressor = try QAEncodedEvaluation.compressor()
        do {
            decompressor = try ZstdDecompressor()
        } catch {
            throw .invalidRequest("the QA projection cannot use zstd: \(error)")
        }
    }

    /// Opens the current state in `directory`, creating it when there is none or it has another version.
    static func open(in directory: String) throws(LedgerError) -> QAState {
        if let file = try ProjectionStateFile.openCurrent(name: projection, in: directory),
            try file.meta("version") == version
        {
            return try QAState(file: file)
        }
        try ProjectionStateFile.createForRebuild(name: projection, version: version, schema: schema, in: directory)
            .publish(in: directory)
        guard let file = try ProjectionStateFile.openCurrent(name: projection, in: directory) else {
            throw .invalidRequest("the \(projection) projection has no state in \(directory)")
        }
        return try QAState(file: file)
    }

    /// The seq below which every call was scored with `scorecard`, or nil when it never was; registers the
    /// scorecard (its questions, and an ordinal after every version registered before) when new.
    func register(_ scorecard: QAScorecard) throws(LedgerError) -> UInt64? {
        let existing = try database.statement("SELECT scored_through FROM scorecards WHERE digest = ?1")
            .bind(.text(scorecard.digest.hex))
        if try existing.step() { return try existing.unsignedInteger(0) }
        let questions = scorecard.sections.flatMap { section in
            section.questions.map {
                QAReport.Question(
                    section: section.id, sectionTitle: section.title, question: $0.id, title: $0.title,
                    yes: 0, no: 0, notApplicable: 0, meanPoints: nil)
            }
        }
        try database.statement(
            """
            INSERT INTO scorecards(digest, name, version, ordinal, scored_through, questions)
            VALUES(?1, ?2, ?3, (SELECT COALESCE(MAX(ordinal), 0) + 1 FROM scorecards), 0, ?4)
            """
        ).bind(
            .text(scorecard.digest.hex), .text(scorecard.name), .text(scorecard.version), .blob(try encode(questions))
        )
        .run()
        return nil
    }

    /// Drops the results of scorecard `digest`, keeping its registration (and so its place among the versions),
    /// so that it scores every call again.
    func forget(digest: String) throws(LedgerError) {
        for sql in [
            "DELETE FROM evaluations WHERE digest = ?1", "DELETE FROM answers WHERE digest = ?1",
            "UPDATE scorecards SET scored_through = 0 WHERE digest = ?1",
        ] {
            try database.statement(sql).bind(.text(digest)).run()
        }
    }

    /// Records that every call with an event below `seq` is scored with scorecard `digest`.
    func setScoredThrough(_ seq: UInt64, digest: String) throws(LedgerError) {
        try database.statement("UPDATE scorecards SET scored_through = ?1 WHERE digest = ?2")
            .bind(.integer(Int64(seq)), .text(digest)).run()
    }

    /// Stores `evaluation` of the call `summary` describes, replacing an earlier one under the same scorecard.
    func store(_ evaluation: QAEvaluation, summary: CallSummary) throws(LedgerError) {
        try store(try QAEncodedEvaluation(evaluation, compressor: compressor), summary: summary)
    }

    /// Stores an evaluation encoded beforehand (on a worker thread) of the call `summary` describes, replacing an
    /// earlier one under the same scorecard.
    func store(_ encoded: QAEncodedEvaluation, summary: CallSummary) throws(LedgerError) {
        func optional(_ value: String?) -> SQLiteValue { value.map { .text($0) } ?? .null }
        let evaluation = encoded.evaluation
        try database.statement(
            """
            INSERT OR REPLACE INTO evaluations(
                digest, call, tenant, agent, queue, started_at, as_of, score, automatic_fail, sections)
            VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
            """
        ).bind(
            .text(evaluation.scorecardDigest), .text(evaluation.call), .text(summary.tenant), optional(summary.agent),
            optional(summary.queue), summary.startedAt.map { .integer($0) } ?? .null,
            .integer(Int64(evaluation.asOf)), evaluation.score.map { .real($0) } ?? .null,
            .integer(evaluation.automaticFail ? 1 : 0), .blob(encoded.sections)
        ).run()
        let answer = try database.statement(
            "INSERT OR REPLACE INTO answers(digest, call, question, answer, points) VALUES(?1, ?2, ?3, ?4, ?5)")
        for section in evaluation.sections {
            for item in section.answers {
                answer.rewind()
                try answer.bind(
                    .text(evaluation.scorecardDigest), .text(evaluation.call), .text(item.question), .text(item.answer),
                    item.points.map { .integer(Int64($0)) } ?? .null
                ).run()
            }
        }
    }

    /// Every scorecard version scored, oldest first.
    func versions() throws(LedgerError) -> [QAScorecardVersion] {
        let statement = try database.statement(
            """
            SELECT s.name, s.version, s.digest, s.ordinal, s.scored_through,
                (SELECT COUNT(*) FROM evaluations e WHERE e.digest = s.digest)
            FROM scorecards s ORDER BY s.ordinal
            """)
        var result: [QAScorecardVersion] = []
        while try statement.step() {
            result.append(
                try QAScorecardVersion(
                    name: statement.text(0), version: statement.text(1), digest: statement.text(2),
                    ordinal: Int(statement.integer(3)), scoredThrough: statement.unsignedInteger(4),
                    calls: Int(statement.integer(5))))
        }
        return result
    }

    /// The stored evaluations of `call`, one per scorecard version, oldest version first.
    func evaluations(call: String) throws(LedgerError) -> [QAEvaluation] {
        let statement = try database.statement(
            """
            SELECT s.name, s.version, s.digest, e.as_of, e.score, e.automatic_fail, e.sections
            FROM evaluations e JOIN scorecards s ON s.digest = e.digest WHERE e.call = ?1 ORDER BY s.ordinal
            """
        ).bind(.text(call))
        var result: [QAEvaluation] = []
        while try statement.step() {
            result.append(
                try QAEvaluation(
                    scorecard: statement.text(0), scorecardVersion: statement.text(1),
                    scorecardDigest: statement.text(2), call: call, asOf: statement.unsignedInteger(3),
                    score: statement.isNull(4) ? nil : statement.real(4), automaticFail: statement.integer(5) != 0,
                    sections: decode([QAEvaluation.SectionResult].self, statement.blob(6))))
        }
        return result
    }

    /// The aggregates of `version`'s evaluations of calls started in `started` (UTC µs; every call when nil;
    /// calls without a start time only then).
    func report(_ version: QAScorecardVersion, started: Range<Int64>?) throws(LedgerError) -> QAReport {
        let filter = started == nil ? "" : " AND e.started_at >= ?2 AND e.started_at < ?3"
        func bound(_ statement: SQLiteStatement) throws(LedgerError) -> SQLiteStatement {
            guard let started else { return try statement.bind(.text(version.digest)) }
            return try statement.bind(.text(version.digest), .integer(started.lowerBound), .integer(started.upperBound))
        }
        let agents = try bound(
            try database.statement(
                """
                SELECT e.agent, COUNT(*), COUNT(e.score), AVG(e.score), MIN(e.score), MAX(e.score),
                    SUM(e.automatic_fail)
                FROM evaluations e WHERE e.digest = ?1\(filter) GROUP BY e.agent ORDER BY e.agent
                """))
        var agentRows: [QAReport.Agent] = []
        var overall = QAReport.Agent(agent: nil, calls: 0, scored: 0, automaticFails: 0)
        var total = 0.0
        while try agents.step() {
            let row = QAReport.Agent(
                agent: agents.isNull(0) ? nil : agents.text(0), calls: Int(agents.integer(1)),
                scored: Int(agents.integer(2)), meanScore: agents.isNull(3) ? nil : agents.real(3),
                minimumScore: agents.isNull(4) ? nil : agents.real(4),
                maximumScore: agents.isNull(5) ? nil : agents.real(5), automaticFails: Int(agents.integer(6)))
            agentRows.append(row)
            overall.calls += row.calls
            overall.scored += row.scored
            overall.automaticFails += row.automaticFails
            total += (row.meanScore ?? 0) * Double(row.scored)
            overall.minimumScore = [overall.minimumScore, row.minimumScore].compactMap { $0 }.min()
            overall.maximumScore = [overall.maximumScore, row.maximumScore].compactMap { $0 }.max()
        }
        overall.meanScore = overall.scored > 0 ? total / Double(overall.scored) : nil
        let statement = try database.statement("SELECT questions FROM scorecards WHERE digest = ?1")
            .bind(.text(version.digest))
        var questions = try statement.step() ? try decode([QAReport.Question].self, statement.blob(0)) : []
        let answers = try bound(
            try database.statement(
                """
                SELECT a.question, SUM(a.answer = 'yes'), SUM(a.answer = 'no'), SUM(a.answer = 'not_applicable'),
                    AVG(a.points)
                FROM answers a JOIN evaluations e ON e.digest = a.digest AND e.call = a.call
                WHERE a.digest = ?1\(filter) GROUP BY a.question
                """))
        while try answers.step() {
            guard let index = questions.firstIndex(where: { $0.question == answers.text(0) }) else { continue }
            questions[index].yes = Int(answers.integer(1))
            questions[index].no = Int(answers.integer(2))
            questions[index].notApplicable = Int(answers.integer(3))
            questions[index].meanPoints = answers.isNull(4) ? nil : answers.real(4)
        }
        return QAReport(
            scorecard: version, startedFrom: started?.lowerBound, startedBefore: started?.upperBound,
            overall: overall, agents: agentRows, questions: questions)
    }

    private func encode<Value: Encodable>(_ value: Value) throws(LedgerError) -> [UInt8] {
        try QAEncodedEvaluation.encode(value, compressor: compressor)
    }

    private func decode<Value: Decodable>(_: Value.Type, _ bytes: [UInt8]) throws(LedgerError) -> Value {
        var json: [UInt8] = []
        let failure = bytes.withUnsafeBytes { decompressor.decompress($0, into: &json, maximumSize: 1 << 26) }
        do {
            if let failure { throw LedgerError.invalidRequest(failure) }
            return try JSONDecoder().decode(Value.self, from: Data(json))
        } catch {
            throw .invalidRequest("a stored QA result does not decode (\(error)); run `call-ledger rebuild qa`")
        }
    }
}

/// An evaluation with its sections encoded as stored (zstd-compressed JSON): the costly part of storing it,
/// done by the worker thread that scored the call, with that worker's own compressor.
struct QAEncodedEvaluation {
    /// The evaluation.
    let evaluation: QAEvaluation
    /// Its sections as the `sections` column stores them.
    let sections: [UInt8]

    /// Encodes `evaluation`'s sections with `compressor`.
    init(_ evaluation: QAEvaluation, compressor: ZstdCompressor) throws(LedgerError) {
        self.evaluation = evaluation
        sections = try Self.encode(evaluation.sections, compressor: compressor)
    }

    /// `value` as JSON compressed with `compressor`.
    static func encode<Value: Encodable>(_ value: Value, compressor: ZstdCompressor) throws(LedgerError) -> [UInt8] {
        var output: [UInt8] = []
        do {
            try compressor.compress(Array(try JSONEncoder().encode(value)), appendingTo: &output)
        } catch {
            throw .invalidRequest("a QA result cannot be stored: \(error)")
        }
        return output
    }

    /// A compressor for `init(_:compressor:)`, at the level the state uses.
    static func compressor() throws(LedgerError) -> ZstdCompressor {
        do { return try ZstdCompressor(level: 3, checksum: false) } catch {
            throw .invalidRequest("the QA projection cannot use zstd: \(error)")
        }
    }
}

/// A scorecard version the QA projection has scored calls with.
public struct QAScorecardVersion: Sendable, Equatable, Codable {
    /// The scorecard's name.
    public var name: String
    /// Its version.
    public var version: String
    /// Its file's SHA-256, hex.
    public var digest: String
    /// 1 for the first version the projection met, then 2, 3...
    public var ordinal: Int
    /// Calls with events below this seq are scored.
    public var scoredThrough: UInt64
    /// Calls scored.
    public var calls: Int
}

/// Aggregates of one scorecard version's evaluations: overall, per agent and per question.
public struct QAReport: Sendable, Equatable, Codable {
    /// The scorecard version.
    public var scorecard: QAScorecardVersion
    /// Only calls started at or after this time (UTC µs) count, when set.
    public var startedFrom: Int64?
    /// Only calls started before this time (UTC µs) count, when set.
    public var startedBefore: Int64?
    /// Every call counted.
    public var overall: Agent
    /// Per agent, by name; calls without an agent under a nil one.
    public var agents: [Agent]
    /// Per question, in scorecard order.
    public var questions: [Question]

    /// One agent's calls (or all calls, in `overall`).
    public struct Agent: Sendable, Equatable, Codable {
        /// The agent, nil when the log names none.
        public var agent: String?
        /// Calls evaluated.
        public var calls: Int
        /// Calls with a score (some question applied).
        public var scored: Int
        /// Mean score of the scored calls.
        public var meanScore: Double?
        /// Lowest score.
        public var minimumScore: Double?
        /// Highest score.
        public var maximumScore: Double?
        /// Evaluations failed automatically.
        public var automaticFails: Int
    }

    /// One question's answers.
    public struct Question: Sendable, Equatable, Codable {
        /// The section id.
        public var section: String
        /// The section title.
        public var sectionTitle: String
        /// The question id.
        public var question: String
        /// The question title.
        public var title: String
        /// Calls answered yes.
        public var yes: Int
        /// Calls answered no.
        public var no: Int
        /// Calls where it did not apply.
        public var notApplicable: Int
        /// Mean points of the chosen options (0 to 10) where it applied.
        public var meanPoints: Double?
    }
}
