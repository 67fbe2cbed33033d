// call-ledger qa: the shipped scorecard on the published Contact Lens sample, checked against figures computed here
// from the sample itself and Amazon Connect's scoring arithmetic; not-applicable weights and automatic fail; and
// scorecards refused with the file, member and reason.
import Foundation
import LedgerTestSupport
import Testing

private let shipped = Repository.root.appendingPathComponent("Projections/qa/support-call-basics.yaml").path
private let contactLens = "connect/docs-contact-lens-postcall-analysis-original.json"

/// The evaluations `qa --json` prints.
private func evaluations(_ result: ProcessResult) throws -> [[String: Any]] {
    try #require(result.status == 0, "\(result.stderr)")
    return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [[String: Any]]
}

/// Every answer of an evaluation, by question id.
private func answers(_ evaluation: [String: Any]) -> [String: [String: Any]] {
    var byQuestion: [String: [String: Any]] = [:]
    for section in evaluation["sections"] as! [[String: Any]] {
        for answer in section["answers"] as! [[String: Any]] { byQuestion[answer["question"] as! String] = answer }
    }
    return byQuestion
}

@Suite struct QATests {
    @Test func theShippedScorecardScoresTheContactLensSampleByConnectArithmetic() throws {
        let ledger = try CLILedger()
        let ingest = try ledger.callLedger(
            "ingest", "--from", "contact-lens", "--call", "cl-1", Repository.fixture(contactLens).path)
        try #require(ingest.status == 0, "\(ingest.stderr)")
        let evaluation = try #require(
            try evaluations(try ledger.callLedger("qa", "cl-1", "--scorecard", shipped, "--json")).first)
        let byQuestion = answers(evaluation)

        // Figures from the sample: the agent's share of speaking time, the first agent line that greets, the
        // customer's first and last sentiment, the transcript's end.
        let turns = try fixtureJSON(contactLens)["Transcript"] as! [[String: Any]]
        func length(_ turn: [String: Any]) -> Int {
            (turn["EndOffsetMillis"] as! Int) - (turn["BeginOffsetMillis"] as! Int)
        }
        let agentShare =
            Double(turns.filter { $0["ParticipantId"] as? String == "AGENT" }.map(length).reduce(0, +))
            / Double(turns.map(length).reduce(0, +))
        let greeting = try #require(
            turns.first {
                $0["ParticipantId"] as? String == "AGENT" && ($0["Content"] as! String).lowercased().contains("hello")
            })
        let customer = turns.filter { $0["ParticipantId"] as? String == "CUSTOMER" }.map { $0["Sentiment"] as! String }
        #expect((byQuestion["talk-listen-balance"]?["measured"] as? Double).map { abs($0 - agentShare) < 1e-9 } == true)
        let greetingEvidence = (byQuestion["greeting"]?["evidence"] as? [[String: Any]])?.first
        #expect(greetingEvidence?["start_ms"] as? Int == greeting["BeginOffsetMillis"] as? Int)
        #expect(customer.first == "NEUTRAL" && customer.last == "POSITIVE")
        #expect(byQuestion["customer-sentiment"]?["answer"] as? String == "yes")
        #expect(byQuestion["customer-sentiment"]?["measured"] as? Double == 1)
        #expect(
            byQuestion["handle-time"]?["measured"] as? Double == Double(turns.last!["EndOffsetMillis"] as! Int) / 1000)
        for (question, answer) in [
            ("greeting", "yes"), ("self-introduction", "no"), ("recording-disclosure", "no"),
            ("identity-verification", "no"), ("prohibited-language", "yes"), ("dead-air", "yes"),
            ("anything-else", "no"), ("handle-time", "no"),
        ] {
            #expect(byQuestion[question]?["answer"] as? String == answer, "\(question)")
        }
        // Connect's arithmetic: opening 60% (greeting 10/10 at 60, introduction 0 at 40), compliance 26%
        // (identity 2/10 at 30, no prohibited language at 20), conversation 100%, closing 20% (handle time 5/10
        // at 40); weighted 25/35/25/15.
        let sections = evaluation["sections"] as! [[String: Any]]
        #expect(sections.map { $0["score"] as? Double } == [60, 26, 100, 20])
        #expect((evaluation["score"] as? Double).map { abs($0 - 52.1) < 1e-9 } == true)
        #expect(evaluation["scorecard_digest"] as? String == (try sha256Hex(of: shipped)))
        #expect(!(try ledger.callLedger("qa", "cl-1", "--scorecard", shipped, "--json").stdout.contains("Peter")))
    }

    @Test func orderInterruptionsAndDetectionsAreReadFromThePublishedSamples() throws {
        let ledger = try CLILedger()
        let bank = "transcribe-call-analytics/tca-output-bank-redacted.json"
        for (kind, call, file) in [("contact-lens", "cl-1", contactLens), ("transcribe-ca", "bank-1", bank)] {
            let ingest = try ledger.callLedger(
                "ingest", "--from", kind, "--call", call, Repository.fixture(file).path)
            try #require(ingest.status == 0, "\(ingest.stderr)")
        }
        let file = ledger.scratch.file("conversation.yaml")
        try """
        format: 1
        name: conversation
        version: "1"
        scoring: question_only
        sections:
          - id: all
            title: All
            questions:
              - id: order
                title: Offers help before changing the account
                weight: 20
                check: { phrase_before: { role: agent, first: ["how can i help"], then: ["changes to the account"] } }
                answers: { yes: { score: 10 }, no: { score: 0 } }
                not_applicable: true
              - id: agent-interruptions
                title: Agent interruptions
                weight: 20
                check: { interruptions: { role: agent, max: 0 } }
                answers: { yes: { score: 10 }, no: { score: 0 } }
              - id: greeting-category
                title: Greeting category
                weight: 20
                check: { detected: { kind: category, any: ["greeting"] } }
                answers: { yes: { score: 10 }, no: { score: 0 } }
              - id: outcome
                title: Account changed
                weight: 20
                check: { detected: { kind: outcome, any: ["changes to the account"] } }
                answers: { yes: { score: 10 }, no: { score: 0 } }
              - id: escalation
                title: Escalation category
                weight: 20
                check: { detected: { kind: category, any: ["escalation"] } }
                answers: { yes: { score: 10 }, no: { score: 0 } }
        """.write(toFile: file, atomically: true, encoding: .utf8)

        // What the samples say: consecutive turns, sorted by start, where the agent starts before the customer's
        // turn ends; the categories Call Analytics matched; the outcome Contact Lens detected.
        func agentInterruptions(_ turns: [[String: Any]], role: String, begin: String, end: String) -> Int {
            let sorted = turns.sorted { ($0[begin] as! Int) < ($1[begin] as! Int) }
            return zip(sorted, sorted.dropFirst()).count { previous, turn in
                (turn[role] as! String) == "AGENT" && (previous[role] as! String) != "AGENT"
                    && (turn[begin] as! Int) < (previous[end] as! Int)
            }
        }
        let lensTurns = try fixtureJSON(contactLens)["Transcript"] as! [[String: Any]]
        let bankSource = try fixtureJSON(bank)
        let bankTurns = bankSource["Transcript"] as! [[String: Any]]
        let bankCategories = (bankSource["Categories"] as! [String: Any])["MatchedCategories"] as! [String]
        let expected: [String: (interruptions: Int, answers: [String: String])] = [
            "cl-1": (
                agentInterruptions(
                    lensTurns, role: "ParticipantId", begin: "BeginOffsetMillis", end: "EndOffsetMillis"),
                ["order": "yes", "greeting-category": "no", "outcome": "yes", "escalation": "no"]
            ),
            "bank-1": (
                agentInterruptions(
                    bankTurns, role: "ParticipantRole", begin: "BeginOffsetMillis", end: "EndOffsetMillis"),
                [
                    "order": "not_applicable",
                    "greeting-category": bankCategories.contains("Greeting") ? "yes" : "no",
                    "outcome": "no", "escalation": "no",
                ]
            ),
        ]
        #expect(expected["cl-1"]?.interruptions == 1 && bankCategories.contains("Greeting"))
        for (call, want) in expected {
            let evaluation = try #require(
                try evaluations(try ledger.callLedger("qa", call, "--scorecard", file, "--json")).first)
            let byQuestion = answers(evaluation)
            #expect(byQuestion["agent-interruptions"]?["measured"] as? Double == Double(want.interruptions), "\(call)")
            for (question, answer) in want.answers {
                #expect(byQuestion[question]?["answer"] as? String == answer, "\(call) \(question)")
            }
        }
    }

    @Test func holdsAreReadFromThePublishedContactRecords() throws {
        let ledger = try CLILedger()
        let stream = "connect/ctr-stream.jsonl"
        let ingest = try ledger.callLedger("ingest", "--from", "connect-ctr", Repository.fixture(stream).path)
        try #require(ingest.status == 0, "\(ingest.stderr)")
        let strict = ledger.scratch.file("holds.yaml")
        try """
        format: 1
        name: holds
        version: "1"
        scoring: question_only
        sections:
          - id: all
            title: All
            questions:
              - id: holds
                title: At most one hold of at most 120 s in all
                weight: 100
                check: { holds: { max_count: 1, max_seconds: 120 } }
                answers: { yes: { score: 10 }, no: { score: 0 } }
                not_applicable: true
        """.write(toFile: strict, atomically: true, encoding: .utf8)
        // Each contact's newest record (by LastUpdateTimestamp) decides; a contact no agent took has no figures.
        var newest: [String: [String: Any]] = [:]
        for line in try String(contentsOf: Repository.fixture(stream), encoding: .utf8).split(separator: "\n") {
            let record = try jsonObject(line)
            let contact = record["ContactId"] as! String
            let updated = record["LastUpdateTimestamp"] as! String
            if (newest[contact]?["LastUpdateTimestamp"] as? String ?? "") <= updated { newest[contact] = record }
        }
        #expect(newest.count == 3)
        for (contact, record) in newest {
            let agent = record["Agent"] as? [String: Any]
            let count = agent?["NumberOfHolds"] as? Int
            let seconds = agent?["CustomerHoldDuration"] as? Int
            for (file, maxCount) in [(shipped, 2), (strict, 1)] {
                let evaluation = try #require(
                    try evaluations(try ledger.callLedger("qa", contact, "--scorecard", file, "--json")).first)
                let answer = answers(evaluation)["holds"]
                guard let count, let seconds else {
                    #expect(answer?["answer"] as? String == "not_applicable", "\(contact)")
                    continue
                }
                let expected = count <= maxCount && seconds <= 120 ? "yes" : "no"
                #expect(answer?["answer"] as? String == expected, "\(contact) \(file)")
                #expect(answer?["measured"] as? Double == Double(seconds), "\(contact)")
            }
        }
        #expect(newest.values.contains { ($0["Agent"] as? [String: Any])?["NumberOfHolds"] as? Int == 2 })
    }

    @Test func notApplicableWeightsAreSharedOutAndAnAutomaticFailScoresZero() throws {
        let ledger = try CLILedger()
        let quiet =
            #"{"type":"call.started","call":"quiet-1","tenant":"acme-bank","source":"test/1","idempotency":"quiet-1","body":{"channel":"VOICE"}}"#
        try #require(try ledger.callLedger("append", input: quiet + "\n").status == 0)
        func scorecard(failing: Bool) -> String {
            """
            format: 1
            name: quiet
            version: "1"
            scoring: question_only
            sections:
              - id: all
                title: All
                questions:
                  - id: greets
                    title: Greets
                    weight: 25
                    check: { phrase: { role: agent, any: ["hello"] } }
                    answers: { yes: { score: 10 }, no: { score: 0, automatic_fail: \(failing) } }
                  - id: balance
                    title: Balance
                    weight: 25
                    check: { talk_share: { role: agent, min: 0.3, max: 0.7 } }
                    answers: { yes: { score: 10 }, no: { score: 0 } }
                    not_applicable: true
                  - id: silence
                    title: Silence
                    weight: 25
                    check: { longest_silence: { max_seconds: 20 } }
                    answers: { yes: { score: 10 }, no: { score: 3 } }
                  - id: mood
                    title: Mood
                    weight: 25
                    check: { sentiment_not_worse: { role: customer } }
                    answers: { yes: { score: 10 }, no: { score: 0 } }
                    not_applicable: true
            """
        }
        for failing in [false, true] {
            let file = ledger.scratch.file("quiet-\(failing).yaml")
            try scorecard(failing: failing).write(toFile: file, atomically: true, encoding: .utf8)
            let evaluation = try #require(
                try evaluations(try ledger.callLedger("qa", "quiet-1", "--scorecard", file, "--json")).first)
            let byQuestion = answers(evaluation)
            #expect(
                byQuestion.mapValues { $0["answer"] as! String } == [
                    "greets": "no", "balance": "not_applicable", "silence": "no", "mood": "not_applicable",
                ])
            // Applicable: greets 0% and silence 30% (3 of 10), at 25 each: (0 + 750) / 50.
            #expect(evaluation["score"] as? Double == (failing ? 0 : 15))
            #expect(evaluation["automatic_fail"] as? Bool == failing)
        }
    }

    @Test func badScorecardsAreRefusedWithFileMemberAndReason() throws {
        let ledger = try CLILedger()
        let good = try String(contentsOfFile: shipped, encoding: .utf8)
        let cases: [(String, String, String)] = [
            (good.replacingOccurrences(of: "weight: 25\n", with: "weight: 20\n"), "sections", "sum to 90.0, not 100"),
            (
                good.replacingOccurrences(
                    of: "talk_share: { role: agent, min: 0.3, max: 0.7 }",
                    with:
                        "talk_share: { role: agent, min: 0.3, max: 0.7 }\n          duration: { min_seconds: 1, max_seconds: 2 }"
                ),
                "sections[2].questions[0].check", "exactly one of"
            ),
            (
                good.replacingOccurrences(
                    of: "answers: { yes: { score: 10 }, no: { score: 4 } }",
                    with: "answers: { yes: { score: 10, automatic_fail: true }, no: { score: 4 } }"),
                "sections[2].questions[0].answers.yes.automatic_fail", "cannot fail"
            ),
            (
                good.replacingOccurrences(of: "no: { score: 5 }", with: "no: { score: 11 }"), "answers.no.score",
                "0 to 10"
            ),
            (
                good.replacingOccurrences(of: "scoring: section_only", with: "scoring: average"), "scoring",
                "question_only"
            ),
        ]
        for (index, (text, member, reason)) in cases.enumerated() {
            let file = ledger.scratch.file("bad-\(index).yaml")
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let result = try ledger.callLedger("qa", "any-call", "--scorecard", file)
            #expect(result.status == 2, "\(index): \(result.stderr)")
            #expect(result.stderr.contains(file) && result.stderr.contains(member), "\(index): \(result.stderr)")
            #expect(result.stderr.contains(reason), "\(index): \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
    }
}

/// The SHA-256 of a file, hex, from the openssl CLI.
func sha256Hex(of path: String) throws -> String {
    let result = try LedgerTestSupport.run("/usr/bin/openssl", ["dgst", "-sha256", "-r", path])
    return String(result.stdout.split(separator: " ")[0])
}
