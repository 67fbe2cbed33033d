// call-ledger qa: a call scored against QA scorecards, each answer with its evidence.
import ArgumentParser
import Foundation
import LedgerCore
import LedgerProjections
import LedgerStore

struct QACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qa",
        abstract: "Score a call against QA scorecards: every answer with its reason and evidence.",
        discussion: """
            Each question of a scorecard (Projections/qa/README.md) is answered yes, no or not applicable by a \
            check on the call's final transcript lines; evidence names utterances, seqs and times, never text. \
            Scores follow Amazon Connect evaluation forms: an option's score as a share of the question's best, \
            weights of not-applicable items shared out among the others, and any automatic-fail answer making \
            the evaluation 0.
            """)

    @OptionGroup var options: LedgerOptions

    @Argument(help: "The call id.")
    var call: String

    @Option(
        help: ArgumentHelp(
            "A scorecard file (repeatable; default: every *.yaml in $CALL_LEDGER_SCORECARDS, else Projections/qa).",
            valueName: "file"))
    var scorecard: [String] = []

    @Option(help: ArgumentHelp("Score the call as of this seq or RFC 3339 time.", valueName: "seq|time"))
    var asOf: AsOf?

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let directory = try options.directory()
        let scorecards = try loadScorecards()
        try reportingErrors {
            let reader = try LedgerReader(directory: directory, keyFilePath: options.keyFilePath)
            let engine = ProjectionEngine(reader: reader)
            guard let transcript = try engine.transcript(call: call, asOf: try seqBound(asOf, reader: reader)) else {
                throw LedgerError.invalidRequest("the log holds no transcript events for call '\(call)'")
            }
            let evaluations = scorecards.map { $0.evaluate(transcript) }
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
    }

    /// The scorecards to apply, or exit 2 naming the file, member and reason of the first bad one.
    private func loadScorecards() throws -> [QAScorecard] {
        var files = scorecard
        if files.isEmpty {
            let folder = ProcessInfo.processInfo.environment["CALL_LEDGER_SCORECARDS"] ?? "Projections/qa"
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
                Output.error("call-ledger: error: cannot read the scorecard directory \(folder): pass --scorecard FILE")
                throw ExitCode(1)
            }
            files = names.filter { $0.hasSuffix(".yaml") }.sorted().map {
                (folder as NSString).appendingPathComponent($0)
            }
        }
        do {
            return try files.map { file in
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw DefinitionError(file: file, path: "", reason: "cannot be read")
                }
                return try QAScorecard.parse(Array(data), file: file)
            }
        } catch let error as DefinitionError {
            Output.error("call-ledger: rejected \(error)")
            throw ExitCode(2)
        }
    }
}
