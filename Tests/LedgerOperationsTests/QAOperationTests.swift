// The QA operations driven directly, beside the CLI on a copy of the same ledger: a call scored on the spot, the QA
// projection's stored results and its report are what `qa score`, `qa results` and `qa report` print as JSON, byte
// for byte, and recording the scorecard appends the same projection.definition.changed.
import Foundation
import LedgerOperations
import LedgerProjections
import LedgerTestSupport
import Testing

private let scorecardFile = Repository.root.appendingPathComponent("Projections/qa/support-call-basics.yaml").path

/// `value` as the CLI prints JSON: sorted keys, snake case, unescaped slashes, one line.
private func cliJSON(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
}

@Suite struct QAOperationTests {
    @Test func scoreResultsAndReportMatchTheCLI() throws {
        let twins = try Twins(calls: 5, seed: 21, callSeconds: 20...60)
        let ledger = LedgerLocation(directory: twins.operations)
        let scorecard = try QAScorecard.parse(
            Array(try Data(contentsOf: URL(fileURLWithPath: scorecardFile))), file: scorecardFile)
        let scorecards = [QAScorecardFile(file: scorecardFile, scorecard: scorecard)]
        let call = try #require(try ProjectionEngine(reader: try ledger.reader()).calls().first?.call)

        let score = try twins.run(["qa", "score", call, "--scorecard", scorecardFile, "--json"])
        try #require(score.status == 0, "\(score.stderr)")
        let evaluations = try QAScoreOperation(ledger: ledger, call: call, scorecards: [scorecard], asOf: nil).run()
        #expect(!evaluations.isEmpty)
        #expect(try cliJSON(evaluations) == score.stdout)

        let results = try twins.run(["qa", "results", call, "--scorecard", scorecardFile, "--json"])
        try #require(results.status == 0, "\(results.stderr)")
        #expect(
            try cliJSON(QAResultsOperation(ledger: ledger, call: call, scorecards: scorecards).run()) == results.stdout)

        let report = try twins.run(["qa", "report", "--scorecard", scorecardFile, "--json"])
        try #require(report.status == 0, "\(report.stderr)")
        let reports = try QAReportOperation(
            ledger: ledger, scorecards: scorecards, scorecardName: nil, version: nil, started: nil
        ).run()
        #expect(try cliJSON(reports) == report.stdout)
        #expect(try twins.events(twins.cli) == twins.events(twins.operations))

        // A call the log does not know is an error naming it.
        #expect {
            try QAScoreOperation(ledger: ledger, call: "no-such-call", scorecards: [scorecard], asOf: nil).run()
        } throws: { error in
            "\(error)".contains("no transcript events for call 'no-such-call'")
        }
    }
}
