// Per-call work spread over two worker threads gives exactly what one thread gives: the QA projection's state file
// byte for byte (dumped by the sqlite3 CLI) and the CRM plan's JSON, on copies of one ledger.
import Foundation
import LedgerTestSupport
import Testing

@Suite struct ParallelWorkTests {
    private static let scorecard = Repository.root.appendingPathComponent("Projections/qa/support-call-basics.yaml")
        .path

    /// A ledger of simulated calls (their CRM writes included), with the transcript projection caught up.
    private func ledger() throws -> CLILedger {
        let ledger = try CLILedger()
        let lines = simulatedLines(calls: 90, seed: 77, callSeconds: 10...30)
        try #require(try ledger.callLedger("append", input: lines.joined(separator: "\n") + "\n").status == 0)
        try #require(try ledger.callLedger("project").status == 0)
        return ledger
    }

    /// A copy of `ledger`'s directory and key file in a new scratch directory.
    private func copy(of ledger: CLILedger, into scratch: ScratchDirectory) throws -> String {
        let directory = scratch.file("ledger")
        try FileManager.default.copyItem(atPath: ledger.directory, toPath: directory)
        try FileManager.default.copyItem(atPath: ledger.directory + ".key", toPath: directory + ".key")
        return directory
    }

    /// The SQL text of the QA projection's state file in `directory`.
    private func qaDump(_ directory: String) throws -> String {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory + "/projections")
            .filter { $0.hasPrefix("qa") && $0.hasSuffix(".sqlite") }
        let file = try #require(files.count == 1 ? files.first : nil, "\(files)")
        let dump = try run("/usr/bin/env", ["sqlite3", directory + "/projections/" + file, ".dump"])
        try #require(dump.status == 0, "\(dump.stderr)")
        return dump.stdout
    }

    private func callLedger(_ arguments: [String], ledger directory: String, workers: Int) throws -> ProcessResult {
        let result = try LedgerTestSupport.callLedger(
            arguments: arguments + ["--ledger", directory], environment: ["CALL_LEDGER_WORKERS": "\(workers)"])
        try #require(result.status == 0, "\(arguments): \(result.stderr)")
        return result
    }

    @Test func qaScoringOnTwoWorkersStoresWhatOneWorkerStores() throws {
        let ledger = try ledger()
        let one = ScratchDirectory()
        let two = ScratchDirectory()
        let single = try copy(of: ledger, into: one)
        let parallel = try copy(of: ledger, into: two)
        _ = try callLedger(["project", "qa", "--scorecard", Self.scorecard], ledger: single, workers: 1)
        _ = try callLedger(["project", "qa", "--scorecard", Self.scorecard], ledger: parallel, workers: 2)
        let singleDump = try qaDump(single)
        #expect(singleDump.components(separatedBy: "INSERT INTO evaluations").count - 1 == 90)
        #expect(try qaDump(parallel) == singleDump)
    }

    @Test func crmPlanOnTwoWorkersEqualsThePlanOfOneWorker() throws {
        let ledger = try ledger()
        _ = try callLedger(["project", "qa", "--scorecard", Self.scorecard], ledger: ledger.directory, workers: 1)
        func plan(_ mapping: String, workers: Int) throws -> [String: Any] {
            let file = Repository.root.appendingPathComponent("Projections/crm/\(mapping).yaml").path
            let output = try callLedger(
                ["crm", "plan", "--mapping", file, "--json"], ledger: ledger.directory, workers: workers)
            var plan = try jsonObject(output.stdout)
            plan["seconds"] = nil
            return plan
        }
        for mapping in ["voicecall-v1", "voicecall-v2"] {
            let single = try plan(mapping, workers: 1)
            let parallel = try plan(mapping, workers: 2)
            #expect((single["writes"] as? [Any])?.isEmpty == false)
            #expect(NSDictionary(dictionary: parallel) == NSDictionary(dictionary: single), "\(mapping)")
        }
    }
}
