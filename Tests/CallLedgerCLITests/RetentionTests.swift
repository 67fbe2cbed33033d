// call-ledger hold and retention through the CLI on a simulated day and the shipped policies: assignment with
// digests, what the plan says is due and why, holds that suspend erasure, a run that destroys exactly the due
// keys and records them, and a second run that finds nothing left to do.
import Foundation
import LedgerTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The shipped policies' directory.
private let policies = Repository.root.appendingPathComponent("Projections/retention").path

/// A JSON array of objects.
func objects(_ text: String) throws -> [[String: Any]] {
    try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [[String: Any]]
}

/// The (call, class) rows of a ledger's key store.
func keyRows(_ ledger: CLILedger) throws -> Set<String> {
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

    /// A rule matching a member of `call.started` (`initiation_method`) selects through the attributes the
    /// retention projection stores as JSON and the plan's workers parse: the simulated calls are all inbound, so
    /// a rule for inbound calls governs every call of the tenant and one for outbound calls none.
    @Test func rulesMatchingAttributesSelectTheCallsThatStartedWithThem() throws {
        let ledger = try CLILedger()
        let day = simulatedLines(calls: 6, seed: 3).joined(separator: "\n") + "\n"
        try #require(try ledger.callLedger("append", input: day).status == 0)
        let directory = ledger.scratch.file("attribute-policies")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for method in ["INBOUND", "OUTBOUND"] {
            let path = directory + "/by-\(method.lowercased()).yaml"
            try """
            format: 1
            name: by-\(method.lowercased())
            version: "1"
            rules:
              - name: \(method.lowercased())
                match: { attributes: { initiation_method: [\(method)] } }
                classes: { content: { retain: P1D, from: call_end } }
            """.write(toFile: path, atomically: true, encoding: .utf8)
            let assigned = try ledger.callLedger("retention", "assign", "--policy", path, "--tenant", "acme-bank")
            try #require(assigned.status == 0, "\(assigned.stderr)")
        }
        let acme = Set(
            try objects(try ledger.callLedger("calls", "--json").stdout)
                .filter { $0["tenant"] as? String == "acme-bank" }.compactMap { $0["call"] as? String })
        try #require(!acme.isEmpty)
        for workers in ["1", "2"] {
            let result = try ledger.callLedger(
                arguments: [
                    "retention", "plan", "--policies", directory, "--now", "2030-01-01T00:00:00Z", "--all", "--json",
                ], environment: ["CALL_LEDGER_WORKERS": workers])
            let plan = try objects(result.stdout)
            #expect(Set(plan.compactMap { $0["call"] as? String }) == acme, "\(workers) workers")
            #expect(plan.allSatisfy { $0["policy"] as? String == "by-inbound" }, "\(workers) workers")
        }
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
        // Then one retention.compacted per purged call: nothing else was appended.
        let compacted = try catted(ledger).filter { $0["type"] as? String == "retention.compacted" }
        #expect(Set(compacted.map { $0["call"] as! String }) == Set(purged.map { $0["call"] as! String }))
        #expect(try ledger.verified().events == verifiedBefore.events + purged.count + compacted.count)

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

/// Every sealed part's ciphertext in the ledger's segments, as "call class hex" lines.
func sealedPayloads(_ ledger: CLILedger) throws -> [String] {
    try sealedPayloads(directory: ledger.directory)
}

@Suite struct CompactionTests {
    @Test func runCompactsTheErasedCiphertextAwayAndEveryRootStaysTheSame() throws {
        let ledger = try CLILedger(["--segment-size", "200000"])
        let day = simulatedLines(calls: 6, seed: 3).joined(separator: "\n") + "\n"
        try #require(try ledger.callLedger("append", input: day).status == 0)
        try #require(try ledger.callLedger("checkpoint").status == 0)
        #expect(
            try ledger.callLedger(
                "retention", "assign", "--policy", policies + "/gdpr-storage-limitation.yaml", "--tenant", "acme-bank"
            ).status == 0)
        let calls = try objects(try ledger.callLedger("calls", "--json").stdout)
        let held = try #require(calls.first { $0["tenant"] as? String == "acme-bank" }?["call"] as? String)
        #expect(try ledger.callLedger("hold", "place", "--call", held, "--hold", "h1", "--reason", "r").status == 0)
        let now = "2027-03-01T00:00:00Z"
        let due = try objects(
            try ledger.callLedger("retention", "plan", "--policies", policies, "--now", now, "--json").stdout
        )
        .filter { $0["status"] as? String == "due" }
        let erased = Set(due.map { "\($0["call"]!) \($0["data_class"]!)" })
        try #require(!erased.isEmpty)
        let before = try sealedPayloads(ledger)
        let erasedPayloads = before.filter {
            erased.contains($0.split(separator: " ").prefix(2).joined(separator: " "))
        }
        let heldPayloads = before.filter { $0.hasPrefix(held + " pii.") }
        #expect(!erasedPayloads.isEmpty && !heldPayloads.isEmpty)
        let treeBefore = try treeFiles(ledger)
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: ledger.directory + "/checkpoints")

        let run = try ledger.callLedger("retention", "run", "--policies", policies, "--now", now, "--json")
        #expect(run.status == 0, "\(run.stderr)")
        let compaction = try jsonObject(run.stdout)["compaction"] as! [String: Any]
        #expect(compaction["parts_compacted"] as? Int == erasedPayloads.count)
        #expect((compaction["segments"] as? Int ?? 0) >= 1)

        // No byte of the erased ciphertext is left in any file of the ledger; the held call's is all there.
        let after = try sealedPayloads(ledger)
        #expect(Set(after) == Set(before).subtracting(erasedPayloads))
        let everything = try allBytes(under: ledger.directory)
        for line in erasedPayloads {
            let hex = String(line.split(separator: " ")[2])
            #expect(!everything.contains(hexBytes(hex).prefix(48)), "ciphertext of \(line.prefix(60)) is still on disk")
        }
        #expect(Set(heldPayloads).isSubset(of: Set(after)))

        // The stored tree only grew, the old checkpoints are untouched, and both verifiers agree.
        let treeAfter = try treeFiles(ledger)
        for (name, bytes) in treeBefore { #expect(treeAfter[name]?.prefix(bytes.count) == bytes[...], "\(name)") }
        #expect(
            Set(checkpoints).isSubset(
                of: Set(try FileManager.default.contentsOfDirectory(atPath: ledger.directory + "/checkpoints"))))
        let verified = try ledger.verified()
        let python = try LedgerTestSupport.run(
            Repository.root.appendingPathComponent("tools/verify").path, ["ledger", ledger.directory, "--json"])
        #expect(python.status == 0, "\(python.stdout) \(python.stderr)")
        #expect(try jsonObject(python.stdout)["root_hash"] as? String == verified.root)

        // The erased parts now read as compacted, and a second run compacts nothing more.
        let states = try catted(ledger).flatMap { event in
            ((event["sealed"] as? [[String: Any]]) ?? []).map { "\(event["call"]!) \($0["class"]!) \($0["state"]!)" }
        }
        #expect(states.filter { $0.hasSuffix(" compacted") }.count == erasedPayloads.count)
        #expect(try classesNamed(by: "retention.compacted", in: ledger) == erased)
        let compactedParts = try catted(ledger).filter { $0["type"] as? String == "retention.compacted" }
            .map { ($0["body"] as! [String: Any])["parts"] as! Int }
        #expect(compactedParts.reduce(0, +) == erasedPayloads.count)

        // retention status shows, per (call, class), the purge and the compaction with their events, and the
        // held call's classes as held.
        let status = try objects(
            try ledger.callLedger("retention", "status", "--policies", policies, "--now", now, "--json").stdout)
        let compactedRows = status.filter { $0["status"] as? String == "compacted" }
        #expect(Set(compactedRows.map { "\($0["call"]!) \($0["data_class"]!)" }) == erased)
        #expect(
            compactedRows.allSatisfy {
                ($0["purged_seq"] as? Int ?? 0) > 0
                    && ($0["compacted_seq"] as? Int ?? 0) > ($0["purged_seq"] as? Int ?? 0)
                    && $0["method"] as? String == "crypto-shred" && $0["compacted_at"] != nil
            })
        #expect(status.contains { $0["call"] as? String == held && $0["status"] as? String == "held" })
        let again = try jsonObject(
            try ledger.callLedger("retention", "run", "--policies", policies, "--now", now, "--json").stdout)
        #expect((again["compaction"] as! [String: Any])["parts_compacted"] as? Int == 0)
    }
}

/// The bytes of every file in `tree/`, by name.
private func treeFiles(_ ledger: CLILedger) throws -> [String: Data] {
    let directory = ledger.directory + "/tree"
    var files: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name.hasSuffix(".hashes") {
        files[name] = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
    }
    return files
}

@Suite(.serialized) struct RetentionCrashTests {
    /// `retention run` killed with SIGKILL at 20 random moments, each on a fresh copy of the same ledger: the
    /// next run completes the work, the log verifies, every `retention.purged` names keys that are really gone,
    /// every due key is gone, the held call keeps all of its keys, no file holds the erased ciphertext any more
    /// and `retention.compacted` events name exactly the erased pairs.
    @Test func killedRunIsCompletedByTheNextOne() throws {
        let template = try CLILedger()
        let day = simulatedLines(calls: 6, seed: 3).joined(separator: "\n") + "\n"
        try #require(try template.callLedger("append", input: day).status == 0)
        try #require(
            try template.callLedger(
                "retention", "assign", "--policy", policies + "/gdpr-storage-limitation.yaml", "--tenant", "acme-bank"
            ).status == 0)
        let calls = try objects(try template.callLedger("calls", "--json").stdout)
        let held = try #require(calls.first { $0["tenant"] as? String == "acme-bank" }?["call"] as? String)
        try #require(
            try template.callLedger("hold", "place", "--call", held, "--hold", "h", "--reason", "r").status == 0)
        let now = "2027-03-01T00:00:00Z"
        let due = Set(
            try objects(
                try template.callLedger("retention", "plan", "--policies", policies, "--now", now, "--json").stdout
            )
            .filter { $0["status"] as? String == "due" }.map { "\($0["call"]!) \($0["data_class"]!)" })
        try #require(!due.isEmpty)
        let heldKeys = try keyRows(template).filter { $0.hasPrefix(held + " ") }
        let erasedPayloads = try sealedPayloads(template).filter {
            due.contains($0.split(separator: " ").prefix(2).joined(separator: " "))
        }
        try #require(!erasedPayloads.isEmpty)
        // Kill moments spread over an uninterrupted run's duration (the run is fast: a fixed window would miss it).
        let timed = try CLILedger.copy(of: template)
        let started = Date()
        try #require(try timed.callLedger("retention", "run", "--policies", policies, "--now", now).status == 0)
        let window = UInt32(min(max(Date().timeIntervalSince(started), 0.01), 0.6) * 1_000_000)
        var generator = SystemRandomNumberGenerator()
        var killedMidway = 0
        for run in 0..<20 {
            let copy = try CLILedger.copy(of: template)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Repository.executable)
            process.arguments = ["retention", "run", "--ledger", copy.directory, "--policies", policies, "--now", now]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32.random(in: 0...window, using: &generator))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal { killedMidway += 1 }

            let finish = try copy.callLedger("retention", "run", "--policies", policies, "--now", now)
            #expect(finish.status == 0, "run \(run): \(finish.stderr)")
            _ = try copy.verified()
            let keys = try keyRows(copy)
            #expect(keys.isDisjoint(with: due), "run \(run): due keys left: \(due.intersection(keys))")
            #expect(heldKeys.isSubset(of: keys), "run \(run): a held call lost a key")
            let named = try classesNamed(by: "retention.purged", in: copy)
            #expect(named == due, "run \(run): purged events name \(named.symmetricDifference(due))")
            #expect(keys.isDisjoint(with: named))
            #expect(try classesNamed(by: "retention.compacted", in: copy) == due, "run \(run)")
            let everything = try allBytes(under: copy.directory)
            for line in erasedPayloads {
                let ciphertext = hexBytes(String(line.split(separator: " ")[2])).prefix(48)
                #expect(!everything.contains(ciphertext), "run \(run): \(line.prefix(60)) still on disk")
            }
        }
        #expect(killedMidway > 0)
    }
}

/// The "call class" pairs that events of `type` name in their `classes`.
func classesNamed(by type: String, in ledger: CLILedger) throws -> Set<String> {
    var named: Set<String> = []
    for event in try catted(ledger) where event["type"] as? String == type {
        for dataClass in (event["body"] as! [String: Any])["classes"] as! [String] {
            named.insert("\(event["call"]!) \(dataClass)")
        }
    }
    return named
}

extension CLILedger {
    /// A copy of `ledger`'s directory and key file, in a new scratch directory.
    static func copy(of ledger: CLILedger) throws -> CLILedger {
        let copy = try CLILedger()
        try FileManager.default.removeItem(atPath: copy.directory)
        try FileManager.default.removeItem(atPath: copy.directory + ".key")
        try FileManager.default.copyItem(atPath: ledger.directory, toPath: copy.directory)
        try FileManager.default.copyItem(atPath: ledger.directory + ".key", toPath: copy.directory + ".key")
        return copy
    }
}
