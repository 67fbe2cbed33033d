// Zero retention through `call-ledger append` with the shipped zero-retention tenant policy: the data keys of the
// tenant's calls never reach keys.sqlite, are dropped with a retention.purged right after the CRM write (content,
// PII, CRM values) or the call's end (audio), are lost if the process ends first, and are written to disk after
// all while a legal hold is on the call. Other tenants' keys are stored as usual.
import Foundation
import LedgerTestSupport
import Testing

private let policies = Repository.root.appendingPathComponent("Projections/retention").path
private let zeroTenant = "initech-insurance"

/// A simulated day's lines and its call ids, in order of first event.
private func day(calls: Int, seed: UInt64) -> (lines: [String], calls: [String]) {
    let lines = simulatedLines(calls: calls, seed: seed)
    var order: [String] = []
    for line in lines {
        let call = (try? jsonObject(line))?["call"] as? String ?? ""
        if !order.contains(call) { order.append(call) }
    }
    return (lines, order)
}

/// `line` moved to the zero-retention tenant.
private func zeroTenantLine(_ line: String) -> String {
    line.replacingOccurrences(
        of: #""tenant":"[a-z-]+""#, with: #""tenant":"\#(zeroTenant)""#, options: .regularExpression)
}

/// The final transcript texts of `call` in `lines`.
private func finalTexts(_ lines: [String], call: String) throws -> [String] {
    try lines.map(jsonObject).filter {
        $0["call"] as? String == call && $0["type"] as? String == "transcript.segment"
            && ($0["body"] as? [String: Any])?["final"] as? Bool == true
    }.compactMap { ($0["body"] as? [String: Any])?["text"] as? String }.filter { $0.count > 12 }
}

@Suite struct ZeroRetentionTests {
    @Test func zeroRetentionKeysNeverReachTheDiskAndAreDroppedAfterTheTrigger() throws {
        let ledger = try CLILedger()
        let (lines, calls) = day(calls: 3, seed: 11)
        try #require(calls.count == 3)
        let zeroCall = calls[0]
        let interrupted = calls[1]
        let ordinary = calls[2]
        try #require(
            try ledger.callLedger(
                "retention", "assign", "--policy", policies + "/zero-retention-tenant.yaml", "--tenant", zeroTenant
            ).status == 0)
        let moved = lines.map { line in
            line.contains(zeroCall) || line.contains(interrupted) ? zeroTenantLine(line) : line
        }
        // The interrupted call's CRM write and end never arrive in this process.
        let isTriggerOfInterrupted = { (line: String) in
            line.contains(interrupted)
                && (line.contains(#""type":"crm.write""#) || line.contains(#""type":"call.ended""#))
        }
        let first = moved.filter { !isTriggerOfInterrupted($0) }
        let append = try ledger.callLedger(
            "append", "--policies", policies, input: first.joined(separator: "\n") + "\n")
        try #require(append.status == 0, "\(append.stderr)")
        #expect(append.stdout.split(separator: "\n").count == first.count, "one acknowledgement per input line")

        // No key of either zero-retention call is on disk; the ordinary call's keys are.
        let keys = try keyRows(ledger)
        #expect(!keys.contains { $0.hasPrefix(zeroCall + " ") || $0.hasPrefix(interrupted + " ") })
        #expect(keys.contains(ordinary + " content"))

        // The completed call: every class it sealed is dropped by a retention.purged (zero-retention) appended
        // right after the trigger its policy names: the CRM write, or the call's end for audio.
        let events = try catted(ledger)
        let sealed = Set(
            events.filter { $0["call"] as? String == zeroCall }.flatMap { event in
                ((event["sealed"] as? [[String: Any]]) ?? []).compactMap { $0["class"] as? String }
            })
        let purged = events.filter { $0["type"] as? String == "retention.purged" && $0["call"] as? String == zeroCall }
        #expect(!purged.isEmpty)
        var dropped: Set<String> = []
        for event in purged {
            let body = event["body"] as! [String: Any]
            #expect(body["method"] as? String == "zero-retention" && body["checkpoint"] == nil)
            let seq = event["seq"] as! Int
            let trigger = try #require(events.first { $0["seq"] as? Int == seq - 1 })
            let classes = body["classes"] as! [String]
            #expect(trigger["type"] as? String == (classes == ["audio"] ? "call.ended" : "crm.write"), "\(classes)")
            dropped.formUnion(classes)
        }
        #expect(dropped == sealed && sealed.contains("content") && sealed.contains("crm.values"))
        #expect(
            !events.contains { $0["type"] as? String == "retention.purged" && $0["call"] as? String == interrupted })

        // Both zero-retention transcripts read as redacted; the ordinary call reads in full.
        for call in [zeroCall, interrupted] {
            let text = try ledger.callLedger("transcript", call).stdout
            for final in try finalTexts(lines, call: call) { #expect(!text.contains(final), "\(call): \(final)") }
        }
        let ordinaryText = try ledger.callLedger("transcript", ordinary).stdout
        for final in try finalTexts(lines, call: ordinary) { #expect(ordinaryText.contains(final)) }

        // The interrupted call's triggers in a new process: the keys lost with the first process stay lost; the
        // key the CRM write seals its values under is dropped at once.
        let rest = moved.filter(isTriggerOfInterrupted)
        #expect(
            try ledger.callLedger("append", "--policies", policies, input: rest.joined(separator: "\n") + "\n").status
                == 0)
        let later = try catted(ledger).filter {
            $0["type"] as? String == "retention.purged" && $0["call"] as? String == interrupted
        }
        let laterClasses = later.flatMap { ($0["body"] as! [String: Any])["classes"] as! [String] }
        #expect(laterClasses == ["crm.values"], "only the key the CRM write itself sealed under was in memory")
        for call in [zeroCall, interrupted] {
            let text = try ledger.callLedger("transcript", call).stdout
            for final in try finalTexts(lines, call: call) { #expect(!text.contains(final), "\(call): \(final)") }
        }

        // retention run compacts the zero-retention parts away, and the redaction proof verifies offline.
        let run = try ledger.callLedger("retention", "run", "--policies", policies, "--json")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try classesNamed(by: "retention.compacted", in: ledger).contains(zeroCall + " content"))
        #expect(!(try sealedPayloads(ledger)).contains { $0.hasPrefix(zeroCall + " content ") })
        let proof = try ledger.callLedger("prove", "redaction", zeroCall, "--json")
        #expect(proof.status == 0, "\(proof.stderr)")
        let proofFile = ledger.scratch.file("zero-proof.json")
        try Data(proof.stdout.utf8).write(to: URL(fileURLWithPath: proofFile))
        let verified = try LedgerTestSupport.run(
            Repository.root.appendingPathComponent("tools/verify").path, ["proof", proofFile])
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        _ = try ledger.verified()
    }

    @Test func aHeldZeroRetentionCallKeepsItsKeysOnDisk() throws {
        let ledger = try CLILedger()
        let (lines, calls) = day(calls: 1, seed: 12)
        let call = try #require(calls.first)
        try #require(
            try ledger.callLedger(
                "retention", "assign", "--policy", policies + "/zero-retention-tenant.yaml", "--tenant", zeroTenant
            ).status == 0)
        let moved = lines.map(zeroTenantLine)
        try #require(
            try ledger.callLedger("append", "--policies", policies, input: moved[0] + "\n").status == 0)
        try #require(
            try ledger.callLedger("hold", "place", "--call", call, "--hold", "case-7", "--reason", "litigation")
                .status == 0)
        let append = try ledger.callLedger(
            "append", "--policies", policies, input: moved.dropFirst().joined(separator: "\n") + "\n")
        try #require(append.status == 0, "\(append.stderr)")
        #expect(try keyRows(ledger).contains(call + " content"))
        #expect(!(try catted(ledger)).contains { $0["type"] as? String == "retention.purged" })
        let text = try ledger.callLedger("transcript", call).stdout
        for final in try finalTexts(lines, call: call) { #expect(text.contains(final)) }
    }

    @Test func appendingToALedgerWithAssignmentsNeedsThePolicies() throws {
        let ledger = try CLILedger()
        try #require(
            try ledger.callLedger(
                "retention", "assign", "--policy", policies + "/zero-retention-tenant.yaml", "--tenant", zeroTenant
            ).status == 0)
        let elsewhere = ledger.scratch.file("no-policies")
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        let line = zeroTenantLine(simulatedLines(calls: 1, seed: 13)[0])
        let refused = try ledger.callLedger("append", "--policies", elsewhere, input: line + "\n")
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("zero-retention-initech") && refused.stderr.contains("--policies"))
        #expect(try ledger.verified().events == 1, "only the assignment is in the log")
    }
}
