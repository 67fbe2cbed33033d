// Projection runs driven directly, beside the CLI on a copy of the same ledger: catching up and rebuilding fold the
// same events into the same calls as `project` and `rebuild` report, and progress arrives projection by projection,
// each stage finished before the next begins.
import Foundation
import LedgerOperations
import LedgerProjections
import LedgerTestSupport
import Testing

/// Stages in the order they were reported and finished.
private final class StageLog: OperationProgress {
    var events: [String] = []

    func update(_ stage: String, done: UInt64, total: UInt64) {
        if events.last != "update \(stage)" { events.append("update \(stage)") }
    }

    func finish(_ stage: String) { events.append("finish \(stage)") }
}

@Suite struct ProjectionOperationTests {
    @Test func catchUpAndRebuildMatchTheCLIAndReportEachProjection() throws {
        let twins = try Twins(calls: 5, seed: 8)
        let ledger = LedgerLocation(directory: twins.operations)
        let names = ["transcript", "retention", "crm"]
        for (command, mode) in [("project", ProjectionRunOperation.Mode.catchUp), ("rebuild", .rebuild)] {
            let cli = try twins.run([command, "--json"] + names)
            try #require(cli.status == 0, "\(cli.stderr)")
            let expected = try #require(
                try JSONSerialization.jsonObject(with: Data(cli.stdout.utf8)) as? [[String: Any]])
            let log = StageLog()
            let runs = try ProjectionRunOperation(ledger: ledger, names: names, scorecards: [], mode: mode).run(
                progress: log)
            #expect(runs.map(\.projection) == expected.map { $0["projection"] as? String })
            #expect(runs.map(\.rebuilt) == expected.map { $0["rebuilt"] as? Bool })
            #expect(runs.map { Int(exactly: $0.events) } == expected.map { $0["events"] as? Int })
            #expect(runs.map(\.calls) == expected.map { $0["calls"] as? Int })
            if mode == .rebuild {
                #expect(runs.allSatisfy { $0.rebuilt && $0.events > 0 })
                let reported = names.flatMap { ["update \($0)", "finish \($0)"] }
                #expect(log.events == reported)
            }
        }
    }
}
