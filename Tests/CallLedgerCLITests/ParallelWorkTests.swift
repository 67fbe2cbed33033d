// Work spread over two worker threads gives exactly what one thread gives: the QA projection's state file byte
// for byte (dumped by the sqlite3 CLI), the CRM plan's JSON, every projection's state after a rebuild, and the
// retention plan's JSON, on copies of one ledger.
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

    /// The SQL text of every projection state file in `directory` whose name starts with `prefix`.
    private func stateDump(_ directory: String, _ prefix: String) throws -> String {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory + "/projections")
            .filter { $0.hasPrefix(prefix + "-") && $0.hasSuffix(".sqlite") }
        let file = try #require(files.count == 1 ? files.first : nil, "\(files)")
        let dump = try run("/usr/bin/env", ["sqlite3", directory + "/projections/" + file, ".dump"])
        try #require(dump.status == 0, "\(dump.stderr)")
        return dump.stdout
    }

    @Test func rebuildOnTwoWorkersBuildsWhatOneWorkerBuilds() throws {
        let ledger = try ledger()
        let one = ScratchDirectory()
        let two = ScratchDirectory()
        let single = try copy(of: ledger, into: one)
        let parallel = try copy(of: ledger, into: two)
        let singleRuns = try objects(try callLedger(["rebuild", "--json"], ledger: single, workers: 1).stdout)
        let parallelRuns = try objects(try callLedger(["rebuild", "--json"], ledger: parallel, workers: 2).stdout)
        // Every projection is rebuilt (the folds in one pass, then QA), and the report says how many workers it had.
        #expect(singleRuns.prefix(3).map { $0["projection"] as? String } == ["transcript", "retention", "crm"])
        #expect(singleRuns.allSatisfy { $0["workers"] as? Int == 1 })
        #expect(parallelRuns.allSatisfy { $0["workers"] as? Int == 2 })
        for projection in ["transcript", "retention", "crm"] {
            let singleDump = try stateDump(single, projection)
            #expect(singleDump.contains("INSERT INTO"), "\(projection)")
            #expect(try stateDump(parallel, projection) == singleDump, "\(projection)")
        }
        // And the rebuilt state is what catching up from nothing builds.
        let fresh = ScratchDirectory()
        let caughtUp = try copy(of: ledger, into: fresh)
        try FileManager.default.removeItem(atPath: caughtUp + "/projections")
        _ = try callLedger(["project"], ledger: caughtUp, workers: 1)
        for projection in ["transcript", "retention", "crm"] {
            #expect(try stateDump(caughtUp, projection) == stateDump(parallel, projection), "\(projection)")
        }
    }

    @Test func retentionPlanOnTwoWorkersEqualsThePlanOfOneWorker() throws {
        let ledger = try ledger()
        let policies = Repository.root.appendingPathComponent("Projections/retention").path
        let assigned = try ledger.callLedger(
            "retention", "assign", "--policy", policies + "/gdpr-storage-limitation.yaml", "--tenant", "acme-bank")
        try #require(assigned.status == 0, "\(assigned.stderr)")
        // With a tenant assigned only, the workers' key ranges are cut at quantiles of all calls.
        let tenantOnly = ["retention", "plan", "--policies", policies, "--now", "2030-01-01T00:00:00Z", "--json"]
        let tenantPlan = try callLedger(tenantOnly, ledger: ledger.directory, workers: 1).stdout
        #expect(try objects(tenantPlan).count > 20)
        #expect(try callLedger(tenantOnly, ledger: ledger.directory, workers: 2).stdout == tenantPlan)
        // Calls assigned the policy themselves as well (the ranges then cut at quantiles of those calls): one of the tenant's (governed twice) and one of another
        // tenant that the policy's rule selects.
        let calls = try objects(try ledger.callLedger("calls", "--json").stdout)
        func firstCall(ofTenant tenant: String) -> String? {
            calls.first { $0["tenant"] as? String == tenant && $0["channel"] as? String == "VOICE" }?["call"]
                as? String
        }
        let chosen = [firstCall(ofTenant: "acme-bank"), firstCall(ofTenant: "globex-telco")].compactMap { $0 }
        try #require(chosen.count == 2, "\(calls)")
        let byCall = try ledger.callLedger(
            arguments: ["retention", "assign", "--policy", policies + "/gdpr-storage-limitation.yaml"]
                + chosen.flatMap { ["--call", $0] })
        try #require(byCall.status == 0, "\(byCall.stderr)")
        for arguments in [["--json"], ["--all", "--json"]] {
            let command = ["retention", "plan", "--policies", policies, "--now", "2030-01-01T00:00:00Z"] + arguments
            let single = try callLedger(command, ledger: ledger.directory, workers: 1).stdout
            let parallel = try callLedger(command, ledger: ledger.directory, workers: 2).stdout
            let items = try objects(single)
            #expect(items.count > 20, "\(arguments)")
            #expect(parallel == single, "\(arguments)")
            // Each (call, class) once, however many assignments govern it, and the calls assigned alone listed.
            let keys = items.map { "\($0["call"] as? String ?? "")/\($0["data_class"] as? String ?? "")" }
            #expect(Set(keys).count == keys.count, "\(arguments)")
            for call in chosen { #expect(items.contains { $0["call"] as? String == call }, "\(call) \(arguments)") }
        }
    }
}
