// call-ledger qa: a call scored against QA scorecards, each answer with its evidence; the QA projection's stored
// results per call and scorecard version; per-agent and per-question reports.
import ArgumentParser
import Foundation
import LedgerCore
import LedgerOperations
import LedgerProjections
import LedgerStore

/// Where scorecards come from: `--scorecard FILE`..., else every `*.yaml` in `$CALL_LEDGER_SCORECARDS`, else in
/// `Projections/qa`.
struct ScorecardOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "A QA scorecard file (repeatable; default: every *.yaml in $CALL_LEDGER_SCORECARDS, else Projections/qa).",
            valueName: "file"))
    var scorecard: [String] = []

    /// The scorecards with their files, or exit 2 naming the file, member and reason of the first bad one (or a
    /// name two files share). Without `--scorecard`, a missing directory is an error when `required`, else gives
    /// none.
    func load(required: Bool = true) throws -> [QAScorecardFile] {
        var files = scorecard
        if files.isEmpty {
            let folder = ProcessInfo.processInfo.environment["CALL_LEDGER_SCORECARDS"] ?? "Projections/qa"
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
                guard required else { return [] }
                Output.error("call-ledger: error: cannot read the scorecard directory \(folder): pass --scorecard FILE")
                throw ExitCode(1)
            }
            files = names.filter { $0.hasSuffix(".yaml") }.sorted().map {
                (folder as NSString).appendingPathComponent($0)
            }
        }
        do {
            var loaded: [QAScorecardFile] = []
            for file in files {
                let parsed = try QAScorecard.parse(Array(try InputFile.read(file)), file: file)
                if loaded.contains(where: { $0.scorecard.name == parsed.name }) {
                    throw DefinitionError(
                        file: file, path: "name", reason: "scorecard name '\(parsed.name)' is used by another file")
                }
                loaded.append(QAScorecardFile(file: file, scorecard: parsed))
            }
            return loaded
        } catch let error as DefinitionError {
            Output.error("call-ledger: rejected \(error)")
            throw ExitCode(2)
        }
    }
}

struct QACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qa",
        abstract: "Score calls against QA scorecards; read the QA projection's results and reports.",
        discussion: """
            Scorecards and their format: Projections/qa/README.md. `call-ledger qa CALL` is `qa score CALL`.
            """,
        subcommands: [Score.self, Results.self, Report.self],
        defaultSubcommand: Score.self)

    struct Score: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "score",
            abstract: "Score a call against QA scorecards: every answer with its reason and evidence.",
            discussion: """
                Each question of a scorecard is answered yes, no or not applicable by a check on the call's final \
                transcript lines; evidence names utterances, seqs and times, never text. Scores follow Amazon \
                Connect evaluation forms: an option's score as a share of the question's best, weights of \
                not-applicable items shared out among the others, and any automatic-fail answer making the \
                evaluation 0. Computed on the spot (nothing is stored or appended), so --as-of and scorecard files \
                not yet in use work too.
                """)

        @OptionGroup var options: LedgerOptions

        @Argument(help: "The call id.")
        var call: String

        @OptionGroup var scorecards: ScorecardOptions

        @Option(
            help: ArgumentHelp("Score the call as of this seq or RFC 3339 time.", valueName: "seq|time"),
            transform: AsOf.parse)
        var asOf: AsOf?

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let directory = try options.directory()
            let scorecards = try scorecards.load()
            try reportingErrors {
                let evaluations = try QAScoreOperation(
                    ledger: LedgerLocation(directory: directory, keyFilePath: options.keyFilePath), call: call,
                    scorecards: scorecards.map(\.scorecard), asOf: asOf?.pointInTime
                ).run()
                try printEvaluations(evaluations, json: json)
            }
        }
    }

    struct Results: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "results",
            abstract: "A call's stored QA results: one evaluation per scorecard version that scored it.",
            discussion: """
                Brings the QA projection up to date first (as `call-ledger project qa` does: a scorecard whose \
                digest the log does not record gets a projection.definition.changed, and the calls it has not \
                scored are scored). Results of earlier versions of a scorecard stay, oldest first.
                """)

        @OptionGroup var options: LedgerOptions

        @Argument(help: "The call id.")
        var call: String

        @OptionGroup var scorecards: ScorecardOptions

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let directory = try options.directory()
            let loaded = try scorecards.load()
            try reportingErrors {
                let evaluations = try QAResultsOperation(
                    ledger: LedgerLocation(directory: directory, keyFilePath: options.keyFilePath), call: call,
                    scorecards: loaded
                ).run()
                try printEvaluations(evaluations, json: json)
            }
        }
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract: "Per-agent and per-question aggregates of the QA projection's results.",
            discussion: """
                Brings the QA projection up to date first, then reports the newest version of each scorecard \
                (or --scorecard-name and --version) over the calls started in [--since, --until) (calls without \
                a call.started count only when neither is given). Per agent: calls, calls scored, mean, lowest \
                and highest score, automatic fails (calls whose log names no agent, such as a transcript ingested without \
                its contact record, are grouped as "(no agent recorded)"); per question: yes, no and \
                not-applicable counts and mean points.
                """)

        @OptionGroup var options: LedgerOptions
        @OptionGroup var scorecards: ScorecardOptions

        @Option(help: "Report only this scorecard (by name).")
        var scorecardName: String?

        @Option(help: "Report this version of the scorecard(s) instead of the newest.")
        var version: String?

        @Option(help: ArgumentHelp("Only calls started at or after this RFC 3339 time.", valueName: "time"))
        var since: String?

        @Option(help: ArgumentHelp("Only calls started before this RFC 3339 time.", valueName: "time"))
        var until: String?

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let directory = try options.directory()
            let started = try startedRange()
            let loaded = try scorecards.load()
            try reportingErrors {
                let reports = try QAReportOperation(
                    ledger: LedgerLocation(directory: directory, keyFilePath: options.keyFilePath), scorecards: loaded,
                    scorecardName: scorecardName, version: version, started: started
                ).run()
                if json {
                    try Output.json(reports, snakeCase: true)
                    return
                }
                for report in reports { printReport(report) }
            }
        }

        private func startedRange() throws -> Range<Int64>? {
            guard since != nil || until != nil else { return nil }
            func parse(_ text: String?, _ name: String) throws -> Int64? {
                guard let text else { return nil }
                guard let time = Timestamp.parse(text) else {
                    throw ValidationError("--\(name) '\(text)' is not an RFC 3339 date-time (2026-11-26T09:00:00Z)")
                }
                return time.micros
            }
            let from = try parse(since, "since") ?? .min
            let to = try parse(until, "until") ?? .max
            guard from < to else { throw ValidationError("--since must be before --until") }
            return from..<to
        }

        private func printReport(_ report: QAReport) {
            func score(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "-" }
            let overall = report.overall
            Output.line(
                "\(report.scorecard.name)@\(report.scorecard.version) (digest \(report.scorecard.digest.prefix(12))): "
                    + "\(overall.calls) calls, mean \(score(overall.meanScore)), "
                    + "\(overall.automaticFails) automatic fails")
            Output.line("AGENT\tCALLS\tSCORED\tMEAN\tMIN\tMAX\tAUTO-FAIL")
            for agent in report.agents {
                Output.line(
                    [
                        agent.agent ?? "(no agent recorded)", "\(agent.calls)", "\(agent.scored)",
                        score(agent.meanScore),
                        score(agent.minimumScore), score(agent.maximumScore), "\(agent.automaticFails)",
                    ].joined(separator: "\t"))
            }
            Output.line("SECTION\tQUESTION\tYES\tNO\tN/A\tMEAN POINTS")
            for question in report.questions {
                Output.line(
                    [
                        question.section, question.question, "\(question.yes)", "\(question.no)",
                        "\(question.notApplicable)", score(question.meanPoints),
                    ].joined(separator: "\t"))
            }
        }
    }
}

/// Prints evaluations as JSON, or per scorecard its score, each section's and every answer with its reason.
private func printEvaluations(_ evaluations: [QAEvaluation], json: Bool) throws {
    if json {
        try Output.json(evaluations, snakeCase: true)
        return
    }
    for evaluation in evaluations {
        let score = evaluation.score.map { String(format: "%.1f", $0) } ?? "n/a"
        Output.line(
            "\(evaluation.scorecard)@\(evaluation.scorecardVersion): \(score)"
                + (evaluation.automaticFail ? " (automatic fail)" : ""))
        for section in evaluation.sections {
            Output.line("  \(section.title): \(section.score.map { String(format: "%.1f", $0) } ?? "n/a")")
            for answer in section.answers {
                Output.line("    \(answer.answer)\t\(answer.title): \(answer.reason)")
            }
        }
    }
}
