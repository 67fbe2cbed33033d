// What a new user meets in the first hour: one exit-code table applied everywhere (README "Exit codes"), an
// unknown call that is said to be unknown, `--as-of` errors that show both accepted forms, locked text that is
// never mistaken for erased text, and help without internal sentinels.
import Foundation
import LedgerTestSupport
import Testing

@Suite struct FirstHourTests {
    /// A ledger with two simulated calls, and the first call's id.
    private func ledgerWithCalls() throws -> (CLILedger, String) {
        let ledger = try CLILedger()
        let lines = simulatedLines(calls: 2, seed: 5)
        let append = try ledger.callLedger("append", input: lines.joined(separator: "\n") + "\n")
        try #require(append.status == 0, "\(append.stderr)")
        let call = try #require(try jsonObject(lines[0])["call"] as? String)
        return (ledger, call)
    }

    @Test func exitCodesAre64ForUsage2ForRejectedInputAnd1ForAMissingFile() throws {
        let (ledger, call) = try ledgerWithCalls()
        #expect(try ledger.callLedger("cat", "--no-such-option").status == 64)
        #expect(try ledger.callLedger("transcript").status == 64)
        let rejected = try ledger.callLedger("append", input: "{\"type\":\"call.ended\"}\n")
        #expect(rejected.status == 2, "\(rejected.stderr)")
        let missing = "/nonexistent/input.json"
        for arguments in [
            ["append", missing], ["ingest", "--from", "gladia", "--call", "g1", missing],
            ["qa", call, "--scorecard", "/nonexistent/card.yaml"],
            ["crm", "plan", "--mapping", "/nonexistent/map.yaml"],
            ["retention", "assign", "--policy", "/nonexistent/policy.yaml", "--call", call],
        ] {
            let result = try ledger.callLedger(arguments: arguments)
            #expect(result.status == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("cannot read /nonexistent/"), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("NSCocoaErrorDomain"), "\(arguments): \(result.stderr)")
        }
    }

    @Test func catOfAnUnknownCallIsAnErrorAndOfAKnownCallPrintsItsEvents() throws {
        let (ledger, call) = try ledgerWithCalls()
        let unknown = try ledger.callLedger("cat", "--call", "no-such-call")
        #expect(unknown.status == 1)
        #expect(unknown.stdout.isEmpty)
        #expect(unknown.stderr.contains("call 'no-such-call' has no events in the ledger"), "\(unknown.stderr)")
        let known = try ledger.callLedger("cat", "--call", call)
        #expect(known.status == 0, "\(known.stderr)")
        let events = try known.stdout.split(separator: "\n").map { try jsonObject($0) }
        #expect(!events.isEmpty && events.allSatisfy { $0["call"] as? String == call })
        let beforeIt = try ledger.callLedger("cat", "--call", call, "--to", "0")
        #expect(beforeIt.status == (events.first?["seq"] as? Int == 0 ? 0 : 1))
    }

    @Test(arguments: [["cat"], ["calls"], ["transcript", "x"], ["audit", "export", "x", "-o", "/dev/null"]])
    func aBadAsOfShowsBothAcceptedForms(_ command: [String]) throws {
        let (ledger, _) = try ledgerWithCalls()
        let result = try ledger.callLedger(arguments: command + ["--as-of", "yesterday"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("'yesterday' is neither a seq"), "\(result.stderr)")
        #expect(result.stderr.contains("2026-11-26T10:00:00Z") && result.stderr.contains("+01:00"))
    }

    @Test func withoutTheKeyFileSealedTextIsLockedAndSaidToBe() throws {
        let (ledger, call) = try ledgerWithCalls()
        let opened = try ledger.callLedger("transcript", call)
        #expect(opened.status == 0 && !opened.stdout.contains("[LOCKED:") && opened.stderr.isEmpty)
        try FileManager.default.moveItem(atPath: ledger.directory + ".key", toPath: ledger.scratch.file("away.key"))
        let locked = try ledger.callLedger("transcript", call)
        #expect(locked.status == 0)
        #expect(locked.stdout.contains("[LOCKED:content]") && !locked.stdout.contains("[REDACTED:content]"))
        #expect(locked.stderr.contains("warning: no key file at \(ledger.directory).key"), "\(locked.stderr)")
        let json = try ledger.callLedger("transcript", call, "--format", "json")
        #expect(json.stdout.contains("\"unavailable\":\"locked\""))
        let cat = try ledger.callLedger("cat", "--call", call)
        #expect(cat.status == 0 && cat.stderr.contains("sealed text is locked, not erased"))
    }

    @Test func catHelpShowsNoInternalSentinel() throws {
        let help = try callLedger("cat", "--help")
        #expect(help.status == 0)
        #expect(!help.stdout.contains("18446744073709551615"))
        #expect(help.stdout.contains("default: the last event"))
    }

    @Test func categoriesWithoutTextAreListedByNameOnce() throws {
        let ledger = try CLILedger()
        let fixture = Repository.fixture("transcribe-call-analytics/tca-output-bank-redacted.json")
        let source = try JSONSerialization.jsonObject(with: Data(contentsOf: fixture)) as? [String: Any]
        let matched = try #require((source?["Categories"] as? [String: Any])?["MatchedCategories"] as? [String])
        let ingest = try ledger.callLedger(
            arguments: [
                "ingest", "--from", "transcribe-ca", "--call", "ca", "--roles", "0=agent,1=customer", fixture.path,
            ])
        try #require(ingest.status == 0, "\(ingest.stderr)")
        let text = try ledger.callLedger("transcript", "ca").stdout
        let categories = try #require(text.split(separator: "\n").first { $0.contains("category | ") })
        #expect(categories.hasSuffix("category | " + matched.sorted().joined(separator: ", ")), "\(categories)")
    }
}
