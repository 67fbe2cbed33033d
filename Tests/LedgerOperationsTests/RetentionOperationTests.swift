// The retention operations driven directly, beside the CLI on a copy of the same ledger: a legal hold, an
// assignment and a retention run through LedgerOperations append the same events (apart from acceptance times and
// the checkpoint roots those times change), give the same summary and status, and report their progress; a refused
// request appends nothing.
import Foundation
import LedgerCore
import LedgerOperations
import LedgerProjections
import LedgerStore
import LedgerTestSupport
import Testing

/// The shipped policies' directory.
private let policyDirectory = Repository.root.appendingPathComponent("Projections/retention").path

/// The shipped policies, parsed.
private func shippedPolicies() throws -> [RetentionPolicy] {
    try FileManager.default.contentsOfDirectory(atPath: policyDirectory).filter { $0.hasSuffix(".yaml") }.sorted()
        .map { name in
            let path = policyDirectory + "/" + name
            return try RetentionPolicy.parse(Array(try Data(contentsOf: URL(fileURLWithPath: path))), file: path)
        }
}

/// Progress kept for inspection.
private final class RecordedProgress: OperationProgress {
    var updates: [String: (done: UInt64, total: UInt64)] = [:]
    var finished: [String] = []

    func update(_ stage: String, done: UInt64, total: UInt64) { updates[stage] = (done, total) }
    func finish(_ stage: String) { finished.append(stage) }
}

@Suite struct RetentionOperationTests {
    @Test func holdAssignAndRunMatchTheCLI() throws {
        let twins = try Twins()
        let ledger = LedgerLocation(directory: twins.operations)
        let policies = try shippedPolicies()
        let gdpr = try #require(policies.first { $0.name == "gdpr-storage-limitation" })
        let gdprPath = policyDirectory + "/gdpr-storage-limitation.yaml"

        let assigned = try twins.run(["retention", "assign", "--policy", gdprPath, "--tenant", "acme-bank"])
        try #require(assigned.status == 0, "\(assigned.stderr)")
        let assignment = try RetentionAssignOperation(
            ledger: ledger, policy: gdpr, path: gdprPath, target: .tenant("acme-bank")
        ).run()
        #expect(
            assignment.map { "\($0.seq) \($0.idempotency) \($0.status.rawValue)" }
                == (try Twins.acknowledged(assigned.stdout)))

        let engine = ProjectionEngine(reader: try ledger.reader())
        let acme = try engine.calls().filter { $0.tenant == "acme-bank" }.map(\.call)
        try #require(acme.count >= 2)
        let placed = try twins.run(["hold", "place", "--call", acme[0], "--hold", "case-1", "--reason", "Dispute"])
        try #require(placed.status == 0, "\(placed.stderr)")
        let hold = try LegalHoldOperation(
            ledger: ledger, selection: .calls([acme[0]]), action: .placed, hold: "case-1", reason: "Dispute", by: nil
        ).run()
        #expect(
            hold.map { "\($0.seq) \($0.idempotency) \($0.status.rawValue)" } == (try Twins.acknowledged(placed.stdout)))

        let now = "2027-03-01T00:00:00Z"
        let cliRun = try twins.run(["retention", "run", "--policies", policyDirectory, "--now", now, "--json"])
        try #require(cliRun.status == 0, "\(cliRun.stderr)")
        let expected = try jsonObject(cliRun.stdout)
        let progress = RecordedProgress()
        let summary = try RetentionRunOperation(
            ledger: ledger, policies: policies, now: try #require(Timestamp.parse(now)).micros
        ).run(progress: progress)
        #expect(summary.classes > 0 && summary.calls > 0)
        #expect(expected["classes"] as? Int == summary.classes)
        #expect(expected["calls"] as? Int == summary.calls)
        #expect(expected["purged_events"] as? Int == summary.purgedEvents)
        #expect(expected["recovered_purges"] as? Int == summary.recoveredPurges)
        #expect(expected["definitions_changed"] as? [String] == summary.definitionsChanged)
        #expect(expected["checkpoint_tree_size"] as? Int == summary.checkpointTreeSize.flatMap { Int(exactly: $0) })
        #expect(
            expected["final_checkpoint_tree_size"] as? Int
                == summary.finalCheckpointTreeSize.flatMap { Int(exactly: $0) })
        let compaction = try #require(expected["compaction"] as? [String: Any])
        #expect(compaction["parts_compacted"] as? Int == summary.compaction.partsCompacted)
        #expect(compaction["segments"] as? Int == summary.compaction.segments)
        #expect(summary.compaction.partsCompacted > 0)

        // The same events, in the same order, with the same bodies and keys.
        #expect(try twins.events(twins.cli) == twins.events(twins.operations))

        // Progress: every purge and every compacted segment reported, each stage finished.
        #expect(progress.updates["retention"].map { $0.done == $0.total && $0.total > 0 } == true)
        #expect(progress.updates["compaction"].map { $0.done == $0.total && $0.total > 0 } == true)
        #expect(progress.finished == ["retention", "compaction"])

        // Status agrees with the CLI's, apart from acceptance times.
        let cliStatus = try twins.run(["retention", "status", "--policies", policyDirectory, "--now", now, "--json"])
        let rows = try RetentionStatusOperation(
            ledger: ledger, policies: policies, now: try #require(Timestamp.parse(now)).micros, calls: []
        ).run()
        let cliRows = try #require(
            try JSONSerialization.jsonObject(with: Data(cliStatus.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == cliRows.count)
        for (row, cliRow) in zip(rows, cliRows) {
            #expect(row.call == cliRow["call"] as? String && row.dataClass == cliRow["data_class"] as? String)
            #expect(row.status == cliRow["status"] as? String && row.policy == cliRow["policy"] as? String)
            #expect(row.purgedSeq.flatMap { Int(exactly: $0) } == cliRow["purged_seq"] as? Int)
            #expect(row.compactedSeq.flatMap { Int(exactly: $0) } == cliRow["compacted_seq"] as? Int)
        }
        #expect(rows.contains { $0.status == "compacted" })

        // A second run finds nothing to do and appends nothing.
        let size = try ledger.reader().size
        let again = try RetentionRunOperation(
            ledger: ledger, policies: policies, now: try #require(Timestamp.parse(now)).micros
        ).run()
        #expect(again.classes == 0 && again.purgedEvents == 0 && again.finalCheckpointTreeSize == nil)
        #expect(try ledger.reader().size == size)
    }

    @Test func refusedSelectionsAppendNothingAndSayWhy() throws {
        let twins = try Twins()
        let ledger = LedgerLocation(directory: twins.operations)
        let size = try ledger.reader().size
        #expect(throws: OperationError.unknownCall("no-such-call")) {
            try LegalHoldOperation(
                ledger: ledger, selection: .calls(["no-such-call"]), action: .placed, hold: "h", reason: "r", by: nil
            ).run()
        }
        #expect(throws: OperationError.noCallSelected(query: "queue=nowhere")) {
            try LegalHoldOperation(
                ledger: ledger, selection: .query("queue=nowhere"), action: .placed, hold: "h", reason: "r", by: nil
            ).run()
        }
        #expect(throws: OperationError.invalidQuery(pair: "colour=red")) {
            try LegalHoldOperation(
                ledger: ledger, selection: .query("colour=red"), action: .placed, hold: "h", reason: "r", by: nil
            ).run()
        }
        #expect(try ledger.reader().size == size)
    }
}
