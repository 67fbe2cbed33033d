// call-ledger hold and retention through the CLI on a simulated day and the shipped policies: assignment with
// digests, what the plan says is due and why, holds that suspend erasure, a run that destroys exactly the due
// keys and records them, and a second run that finds nothing left to do.
import Foundation
import LedgerTestSupport
import Testing

/// The shipped policies' directory.
private let policies = Repository.root.appendingPathComponent("Projections/retention").path

/// A JSON array of objects.
private func objects(_ text: String) throws -> [[String: Any]] {
    try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [[String: Any]]
}

/// The (call, class) rows of a ledger's key store.
private func keyRows(_ ledger: CLILedger) throws -> Set<String> {
    let result = try LedgerTestSupport.run(
        "/usr/bin/sqlite3", [ledger.directory + "/keys.sqlite", "SELECT call || ' ' || class FROM data_keys"])
    return Set(result.stdout.split(separator: "\n").map(String.init))
}

@Suite struct RetentionTests {
    /// A ledger with a simulated day of calls of three tenants, GDPR assigned to acme-bank.
    private func ledger() throws -> (CLILedger, calls: [[String: Any]]) {
        let ledger = try CLILedger()
        let day = simulatedLines(calls: 6, seed: 3).joined(separator: "\n") + "\n"
        try #require(try ledger.callLedger("append", input: day).status == 0)
        let assigned = try ledger.callLedger(
            "retention", "assign", "--policy", policies + "/gdpr-storage-limitation.yaml", "--tenant", "acme-bank")
        try #require(assigned.status == 0, "\(assigned.stderr)")
        return (ledger, try objects(try ledger.callLedger("calls", "--json").stdout))
    }

    @Test func planListsDueClassesWithPolicyRuleAndTrigger() throws {
        let (ledger, calls) = try ledger()
        let acme = calls.filter { $0["tenant"] as? String == "acme-bank" }
        try #require(!acme.isEmpty)
        // Before any period ends nothing is due; 31 days after the calls, names are (P30D from the CRM write).
        let early = try objects(
            try ledger.callLedger(
                "retention", "plan", "--policies", policies, "--now", "2026-11-27T00:00:00Z", "--json"
            ).stdout)
        #expect(early.isEmpty)
        let plan = try objects(
            try ledger.callLedger(
                "retention", "plan", "--policies", policies, "--now", "2026-12-28T00:00:00Z", "--json"
            ).stdout)
        #expect(!plan.isEmpty && plan.allSatisfy { $0["status"] as? String == "due" })
        #expect(Set(plan.map { $0["call"] as! String }).isSubset(of: Set(acme.map { $0["call"] as! String })))
        #expect(
            Set(plan.map { $0["data_class"] as! String }).isSubset(of: [
                "pii.name", "pii.phone_number", "pii.person", "pii.address", "pii.email",
            ]))
        #expect(
            plan.allSatisfy {
                $0["policy"] as? String == "gdpr-storage-limitation"
                    && $0["trigger"] as? String == "crm_write_confirmed"
            })
        let all = try objects(
            try ledger.callLedger(
                "retention", "plan", "--policies", policies, "--now", "2026-12-28T00:00:00Z", "--all", "--json"
            ).stdout)
        #expect(
            all.contains {
                $0["data_class"] as? String == "content" && $0["status"] as? String == "scheduled"
                    && $0["retain"] as? String == "P1Y"
            })
    }

    @Test func runDestroysExactlyTheDueKeysRecordsThemAndSparesHeldCalls() throws {
        let (ledger, calls) = try ledger()
        let acme = calls.filter { $0["tenant"] as? String == "acme-bank" }.map { $0["call"] as! String }
        try #require(acme.count >= 2)
        let held = acme[0]
        let placed = try ledger.callLedger("hold", "place", "--call", held, "--hold", "case-1", "--reason", "Dispute")
        #expect(placed.status == 0, "\(placed.stderr)")
        let now = "2027-03-01T00:00:00Z"
        let plan = try objects(
            try ledger.callLedger("retention", "plan", "--policies", policies, "--now", now, "--json").stdout)
        let due = plan.filter { $0["status"] as? String == "due" }
        #expect(plan.filter { $0["call"] as? String == held }.allSatisfy { $0["status"] as? String == "held" })
        #expect(!due.isEmpty && !due.contains { $0["call"] as? String == held })
        let before = try keyRows(ledger)
        let verifiedBefore = try ledger.verified()

        let run = try ledger.callLedger("retention", "run", "--policies", policies, "--now", now, "--json")
        #expect(run.status == 0, "\(run.stderr)")
        let summary = try jsonObject(run.stdout)
        #expect(summary["classes"] as? Int == due.count)
        let erased = Set(due.map { "\($0["call"]!) \($0["data_class"]!)" })
        #expect(try keyRows(ledger) == before.subtracting(erased))
        #expect(before.filter { $0.hasPrefix(held + " ") }.isSubset(of: try keyRows(ledger)))

        // One retention.purged per call, naming its classes, the policy digest and a checkpoint from before.
        let purged = try catted(ledger).filter { $0["type"] as? String == "retention.purged" }
        #expect(purged.count == Set(due.map { $0["call"] as! String }).count)
        for event in purged {
            let body = event["body"] as! [String: Any]
            let classes = Set((body["classes"] as! [String]).map { "\(event["call"]!) \($0)" })
            #expect(classes.isSubset(of: erased))
            #expect((body["policy"] as! [String: Any])["digest"] as? String == due[0]["policy_digest"] as? String)
            let checkpoint = body["checkpoint"] as! [String: Any]
            #expect((checkpoint["tree_size"] as! Int) >= verifiedBefore.events)
            #expect((checkpoint["tree_size"] as! Int) < (event["seq"] as! Int) + 1)
        }
        #expect(try ledger.verified().events == verifiedBefore.events + purged.count)

        // The erased spans read as redacted; the held call's still open.
        let erasedCall = due[0]["call"] as! String
        let text = try ledger.callLedger("transcript", erasedCall).stdout
        #expect(text.contains("[REDACTED:name]"))
        let heldText = try ledger.callLedger("transcript", held).stdout
        #expect(!heldText.contains("[REDACTED:name]"))

        // A second run finds nothing due.
        let again = try jsonObject(
            try ledger.callLedger("retention", "run", "--policies", policies, "--now", now, "--json").stdout)
        #expect(again["classes"] as? Int == 0 && again["purged_events"] as? Int == 0)

        // Released, the held call is erased by the next run.
        #expect(
            try ledger.callLedger("hold", "release", "--call", held, "--hold", "case-1", "--reason", "Closed").status
                == 0)
        let released = try jsonObject(
            try ledger.callLedger("retention", "run", "--policies", policies, "--now", now, "--json").stdout)
        #expect((released["classes"] as? Int ?? 0) > 0)
        #expect(try keyRows(ledger).filter { $0.hasPrefix(held + " pii.name") }.isEmpty)
    }

    @Test func holdsAndAssignmentsRefuseBadRequestsAndAppendNothing() throws {
        let (ledger, _) = try ledger()
        let before = try ledger.verified()
        let unknownCall = try ledger.callLedger("hold", "place", "--call", "nope", "--hold", "h", "--reason", "r")
        #expect(unknownCall.status == 1 && unknownCall.stderr.contains("call 'nope' is not in the ledger"))
        let emptyQuery = try ledger.callLedger(
            "hold", "place", "--query", "queue=Nowhere", "--hold", "h", "--reason", "r")
        #expect(emptyQuery.status == 1 && emptyQuery.stderr.contains("selects no call"))
        let badQuery = try ledger.callLedger("hold", "place", "--query", "colour=red", "--hold", "h", "--reason", "r")
        #expect(badQuery.status != 0 && badQuery.stderr.contains("colour=red"))
        let badPolicy = ledger.scratch.file("bad.yaml")
        try
            "format: 1\nname: p\nversion: \"1\"\nrules: [{name: r, classes: {content: {retain: soon, from: call_end}}}]\n"
            .write(toFile: badPolicy, atomically: true, encoding: .utf8)
        let rejected = try ledger.callLedger("retention", "assign", "--policy", badPolicy, "--tenant", "acme-bank")
        #expect(
            rejected.status == 2 && rejected.stderr.contains("rules[0].classes.content.retain: 'soon' is not a period"))
        let after = try ledger.verified()
        #expect(after.events == before.events && after.root == before.root)

        // A policy assigned in the log but absent from the directory stops the plan with its name.
        let elsewhere = ledger.scratch.file("policies")
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        let missing = try ledger.callLedger("retention", "plan", "--policies", elsewhere)
        #expect(missing.status == 1 && missing.stderr.contains("policy 'gdpr-storage-limitation' is assigned"))
    }
}
