// The QA projection through the CLI: `project` records each scorecard's digest in the log and stores every
// call's evaluation, equal to what `qa score` computes; a changed scorecard re-scores every call while the old
// version's results stay queryable; new calls are scored incrementally; `qa report` aggregates per agent and per
// question, checked against the calls the transcript projection lists.
import Foundation
import LedgerTestSupport
import Testing

private let shipped = Repository.root.appendingPathComponent("Projections/qa/support-call-basics.yaml").path

/// A JSON array printed by a successful command.
private func array(_ result: ProcessResult) throws -> [[String: Any]] {
    try #require(result.status == 0, "\(result.stderr)")
    return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [[String: Any]]
}

/// The `projection.definition.changed` events of projection `qa` in the log.
private func qaDefinitions(_ ledger: CLILedger) throws -> [[String: Any]] {
    try catted(ledger).filter {
        $0["type"] as? String == "projection.definition.changed"
            && ($0["body"] as? [String: Any])?["projection"] as? String == "qa"
    }
}

/// The `qa` run of `project --json`.
private func qaRun(_ result: ProcessResult) throws -> [String: Any] {
    try #require(try array(result).first { $0["projection"] as? String == "qa" })
}

@Suite struct QAProjectionTests {
    /// A ledger holding the Contact Lens sample (call cl-1) and 30 simulated calls.
    private func ledger() throws -> CLILedger {
        let ledger = try CLILedger()
        let ingest = try ledger.callLedger(
            "ingest", "--from", "contact-lens", "--call", "cl-1",
            Repository.fixture("connect/docs-contact-lens-postcall-analysis-original.json").path)
        try #require(ingest.status == 0, "\(ingest.stderr)")
        try #require(
            try ledger.callLedger(
                "append", input: simulatedLines(calls: 30, seed: 41, callSeconds: 20...90).joined(separator: "\n")
            )
            .status == 0)
        return ledger
    }

    @Test func projectStoresWhatQAScoreComputesAndRecordsTheScorecard() throws {
        let ledger = try ledger()
        let run = try qaRun(try ledger.callLedger("project", "--scorecard", shipped, "--json"))
        #expect(run["calls"] as? Int == 31)
        let definitions = try qaDefinitions(ledger)
        #expect(definitions.count == 1)
        let definition = (definitions.first?["body"] as? [String: Any])?["definition"] as? [String: Any]
        #expect(definition?["digest"] as? String == (try sha256Hex(of: shipped)))
        #expect(definition?["version"] as? String == "2026.1")

        let computed = try array(try ledger.callLedger("qa", "cl-1", "--scorecard", shipped, "--json"))
        let stored = try array(try ledger.callLedger("qa", "results", "cl-1", "--scorecard", shipped, "--json"))
        #expect(stored.count == 1)
        #expect(
            try JSONSerialization.data(withJSONObject: stored, options: .sortedKeys)
                == JSONSerialization.data(withJSONObject: computed, options: .sortedKeys))

        let again = try qaRun(try ledger.callLedger("project", "qa", "--scorecard", shipped, "--json"))
        #expect(again["calls"] as? Int == 0)
        #expect(try qaDefinitions(ledger).count == 1)
    }

    @Test func aChangedScorecardRescoresEveryCallAndKeepsTheOldResults() throws {
        let ledger = try ledger()
        #expect(try ledger.callLedger("project", "qa", "--scorecard", shipped).status == 0)
        // Version 2 allows the greeting only the whole seconds before the sample's agent says hello.
        let turns = try fixtureJSON("connect/docs-contact-lens-postcall-analysis-original.json")["Transcript"]
        let hello = try #require(
            (turns as! [[String: Any]]).first {
                $0["ParticipantId"] as? String == "AGENT" && ($0["Content"] as! String).lowercased().contains("hello")
            }?["BeginOffsetMillis"] as? Int)
        let changed = ledger.scratch.file("support-call-basics-v2.yaml")
        try String(contentsOfFile: shipped, encoding: .utf8)
            .replacingOccurrences(of: "version: \"2026.1\"", with: "version: \"2026.2\"")
            .replacingOccurrences(of: "within_first_seconds: 15", with: "within_first_seconds: \(hello / 1000)")
            .write(toFile: changed, atomically: true, encoding: .utf8)
        let run = try qaRun(try ledger.callLedger("project", "qa", "--scorecard", changed, "--json"))
        #expect(run["calls"] as? Int == 31)
        #expect(run["rebuilt"] as? Bool == true)
        #expect(
            try qaDefinitions(ledger).map { ($0["body"] as! [String: Any])["path"] as? String } == [shipped, changed])

        let results = try array(try ledger.callLedger("qa", "results", "cl-1", "--scorecard", changed, "--json"))
        #expect(results.map { $0["scorecard_version"] as? String } == ["2026.1", "2026.2"])
        func greeting(_ evaluation: [String: Any]) -> String? {
            let opening = (evaluation["sections"] as! [[String: Any]]).first { $0["id"] as? String == "opening" }
            let answers = opening?["answers"] as? [[String: Any]]
            return answers?.first { $0["question"] as? String == "greeting" }?["answer"] as? String
        }
        #expect(results.map(greeting) == ["yes", "no"])

        let old = try array(
            try ledger.callLedger("qa", "report", "--scorecard", changed, "--version", "2026.1", "--json"))
        let new = try array(try ledger.callLedger("qa", "report", "--scorecard", changed, "--json"))
        func greetingYes(_ report: [String: Any]) -> Int? {
            (report["questions"] as? [[String: Any]])?.first { $0["question"] as? String == "greeting" }?["yes"] as? Int
        }
        let oldYes = try #require(old.first.flatMap(greetingYes))
        #expect(new.first.flatMap(greetingYes) == oldYes - 1)

        // Rebuilding with the current version scores every call again and keeps the first version's results.
        let rebuilt = try qaRun(try ledger.callLedger("rebuild", "qa", "--scorecard", changed, "--json"))
        #expect(rebuilt["calls"] as? Int == 31)
        let afterRebuild = try array(
            try ledger.callLedger("qa", "results", "cl-1", "--scorecard", changed, "--json"))
        #expect(afterRebuild.map { $0["scorecard_version"] as? String } == ["2026.1", "2026.2"])
        #expect(afterRebuild.map(greeting) == ["yes", "no"])

        // Returning to the first version is a change too, recorded again.
        #expect(try ledger.callLedger("project", "qa", "--scorecard", shipped).status == 0)
        #expect(try qaDefinitions(ledger).count == 3)
    }

    @Test func newCallsAreScoredIncrementally() throws {
        let ledger = try ledger()
        #expect(try ledger.callLedger("project", "qa", "--scorecard", shipped).status == 0)
        let more = simulatedLines(calls: 7, seed: 42, callSeconds: 20...90).joined(separator: "\n")
        try #require(try ledger.callLedger("append", input: more).status == 0)
        let run = try qaRun(try ledger.callLedger("project", "--scorecard", shipped, "--json"))
        #expect(run["calls"] as? Int == 7)
        #expect(run["rebuilt"] as? Bool == false)
        let report = try #require(
            try array(try ledger.callLedger("qa", "report", "--scorecard", shipped, "--json")).first)
        #expect((report["overall"] as? [String: Any])?["calls"] as? Int == 38)
    }

    @Test func theReportAggregatesPerAgentAndPerQuestion() throws {
        let ledger = try ledger()
        let calls = try array(try ledger.callLedger("calls", "--json"))
        let report = try #require(
            try array(try ledger.callLedger("qa", "report", "--scorecard", shipped, "--json")).first)
        var perAgent: [String: Int] = [:]
        for call in calls { perAgent[call["agent"] as? String ?? "-", default: 0] += 1 }
        let agents = report["agents"] as! [[String: Any]]
        #expect(
            Dictionary(uniqueKeysWithValues: agents.map { ($0["agent"] as? String ?? "-", $0["calls"] as! Int) })
                == perAgent)
        let questions = report["questions"] as! [[String: Any]]
        #expect(
            questions.count == (try String(contentsOfFile: shipped, encoding: .utf8)).components(separatedBy: "check:")
                .count - 1)
        for question in questions {
            let answered = (question["yes"] as! Int) + (question["no"] as! Int) + (question["not_applicable"] as! Int)
            #expect(answered == calls.count, "\(question["question"] ?? "")")
        }
        // The mean over agents, weighted by scored calls, is the overall mean.
        let scored = agents.map { Double($0["scored"] as! Int) }
        let weighted = zip(agents, scored).map { ($0["mean_score"] as? Double ?? 0) * $1 }.reduce(0, +)
        let overall = try #require((report["overall"] as? [String: Any])?["mean_score"] as? Double)
        #expect(abs(weighted / scored.reduce(0, +) - overall) < 1e-9)

        // Calls started in a window: the simulated day against a window that holds none of it.
        let empty = try #require(
            try array(
                try ledger.callLedger(
                    "qa", "report", "--scorecard", shipped, "--since", "2001-01-01T00:00:00Z", "--until",
                    "2001-01-02T00:00:00Z", "--json")
            ).first)
        #expect((empty["overall"] as? [String: Any])?["calls"] as? Int == 0)
    }

    @Test func aScorecardNamedTwiceOrABadWindowIsRefused() throws {
        let ledger = try ledger()
        let twice = try ledger.callLedger("project", "qa", "--scorecard", shipped, "--scorecard", shipped)
        #expect(twice.status == 2)
        #expect(twice.stderr.contains("scorecard name 'support-call-basics' is used by another file"))
        let window = try ledger.callLedger("qa", "report", "--scorecard", shipped, "--since", "yesterday")
        #expect(window.status == 64)
        #expect(window.stderr.contains("--since 'yesterday' is not an RFC 3339 date-time"))
        #expect(try qaDefinitions(ledger).isEmpty)
    }
}
