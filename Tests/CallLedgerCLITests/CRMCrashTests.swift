// Kill-safety and refusals of `crm apply`: a child apply is killed with SIGKILL while the stand-in CRM holds back
// its answers, and the next apply completes the work without any record written twice (the stand-in counts every
// upsert applied per record), reading back the records whose writes were sent without a recorded outcome; a
// record the CRM refuses fails alone.
import Foundation
import LedgerConnectors
import LedgerTestSupport
import Testing

/// A ledger of simulated calls that mapping v1 has never been applied to.
private func simulatedLedger(calls: Int, seed: UInt64) throws -> CLILedger {
    let ledger = try CLILedger()
    let day = simulatedLines(calls: calls, seed: seed, callSeconds: 20...60).joined(separator: "\n") + "\n"
    try #require(try ledger.callLedger("append", input: day).status == 0)
    return ledger
}

/// The environment pointing `crm` commands at `crm`.
private func environment(_ crm: StandIn) -> [String: String] {
    ["CALL_LEDGER_CRM_URL": crm.baseURL, "CALL_LEDGER_CRM_TOKEN": StandIn.token, "CALL_LEDGER_MAPPINGS": mappings.path]
}

/// Starts `call-ledger crm apply` on `ledger` as a child process.
private func startApply(_ ledger: CLILedger, _ crm: StandIn, batchSize: Int) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Repository.executable)
    process.arguments = ["crm", "apply", "--ledger", ledger.directory, "--mapping", v1, "--batch-size", "\(batchSize)"]
    process.environment = ProcessInfo.processInfo.environment.merging(environment(crm)) { $1 }
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
}

/// What `crm plan --mapping v1 --json` prints for `ledger`.
private func planV1(_ ledger: CLILedger, _ crm: StandIn) throws -> [String: Any] {
    try object(
        try ledger.callLedger(arguments: ["crm", "plan", "--mapping", v1, "--json"], environment: environment(crm)))
}

/// Upserts the stand-in applied, per record key (`Object/Field/value`).
private func writes(_ crm: StandIn) throws -> [String: Int] {
    try crm.stats()["writes"] as! [String: Int]
}

/// The events of `type` in the log.
private func events(_ type: String, _ ledger: CLILedger) throws -> [[String: Any]] {
    try catted(ledger).filter { $0["type"] as? String == type }
}

/// Checks that every `crm.write.started` is answered by one outcome under its request key, and that the
/// stand-in holds, for every planned record, the values v1 plans, each record written exactly once.
private func expectComplete(_ ledger: CLILedger, _ crm: StandIn, planned: [[String: Any]], run: Int) throws {
    /// `Object/external id request-key` of the events of `types` sent by `crm apply` (with a request key).
    func sent(_ types: String...) throws -> [String] {
        try types.flatMap { try events($0, ledger) }.compactMap { event in
            let body = event["body"] as? [String: Any] ?? [:]
            guard let requestKey = body["request_key"] as? String else { return nil }
            return "\(body["object"] ?? "")/\(body["external_id"] ?? "") \(requestKey)"
        }
    }
    let started = try sent("crm.write.started")
    let answered = try sent("crm.write", "crm.write.failed")
    #expect(Set(started).isSubset(of: Set(answered)), "run \(run): unanswered \(Set(started).subtracting(answered))")
    #expect(answered.count == Set(answered).count, "run \(run): an outcome recorded twice")
    let applied = try writes(crm)
    #expect(applied.count == planned.count, "run \(run): \(applied.count) records written of \(planned.count)")
    #expect(applied.values.allSatisfy { $0 == 1 }, "run \(run): written twice: \(applied.filter { $0.value > 1 })")
    for write in planned {
        let key = write["key"] as! [String: Any]
        let fields = try #require(try stored(crm, key["object"] as! String, key["external_id"] as! String))
        for change in write["changes"] as! [[String: Any]] {
            let field = change["field"] as! String
            #expect((fields[field] as? NSObject) == (change["new"] as? NSObject), "run \(run): \(field)")
        }
    }
}

@Suite(.serialized) struct CRMApplyCrashTests {
    /// Killed while the CRM holds back the answer to a batch it has applied: the next apply reads those records
    /// back, records them as written (`read_back`) without sending them again, and writes the rest.
    @Test func writesAnsweredAfterTheKillAreConfirmedByReadBackNotSentAgain() throws {
        let ledger = try simulatedLedger(calls: 8, seed: 61)
        let crm = try StandIn()
        let planned = try planV1(ledger, crm)["writes"] as! [[String: Any]]
        try #require(planned.count > 4)
        try crm.faults(["delay_ms": 30_000, "delay_next": 1])
        let process = try startApply(ledger, crm, batchSize: 3)
        let deadline = Date().addingTimeInterval(60)
        while try writes(crm).isEmpty, Date() < deadline { usleep(20_000) }
        try #require(try writes(crm).count == 3, "the first batch never reached the stand-in")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try #require(process.terminationReason == .uncaughtSignal)

        let interrupted = try planV1(ledger, crm)["writes"] as! [[String: Any]]
        #expect(interrupted.count == planned.count)
        #expect(interrupted.filter { $0["interrupted"] != nil }.count == 3)

        let rerun = try object(
            try ledger.callLedger(
                arguments: ["crm", "apply", "--mapping", v1, "--batch-size", "3", "--json"],
                environment: environment(crm)))
        #expect(rerun["confirmed"] as? Int == 3)
        #expect(rerun["written"] as? Int == planned.count - 3)
        #expect(rerun["failed"] as? Int == 0)
        let requests = try crm.stats()["requests"] as! [String: Int]
        #expect(requests.values.allSatisfy { $0 == 1 }, "sent twice: \(requests.filter { $0.value > 1 })")
        try expectComplete(ledger, crm, planned: planned, run: 0)
        let readBack = try events("crm.write", ledger).filter { ($0["body"] as! [String: Any])["read_back"] != nil }
        #expect(readBack.count == 3)
        let again = try planV1(ledger, crm)
        #expect((again["writes"] as! [Any]).isEmpty)
        _ = try ledger.verified()
    }

    /// A write the log shows sent without an outcome, which never reached the CRM: apply reads the record back,
    /// records that it was not confirmed (`crm.write.failed`, `read_back`, under the unanswered request key) and
    /// sends it once.
    @Test func unansweredWriteThatNeverLandedIsRecordedAndSentOnce() throws {
        let ledger = try simulatedLedger(calls: 3, seed: 63)
        let crm = try StandIn()
        let plan = try planV1(ledger, crm)
        let planned = plan["writes"] as! [[String: Any]]
        let first = try #require(planned.first)
        let key = first["key"] as! [String: Any]
        let started: [String: Any] = [
            "type": "crm.write.started", "call": first["call"]!, "tenant": first["tenant"]!,
            "source": "crm/salesforce", "idempotency": "test:started",
            "body": [
                "system": "salesforce", "object": key["object"]!, "external_id_field": key["external_id_field"]!,
                "external_id": key["external_id"]!, "field_names": ["Subject"],
                "mapping": ["name": plan["mapping"]!, "version": plan["version"]!, "digest": plan["digest"]!],
                "request_key": "feedfacefeedface:1",
            ] as [String: Any],
        ]
        let line = String(decoding: try JSONSerialization.data(withJSONObject: started), as: UTF8.self)
        try #require(try ledger.callLedger("append", input: line).status == 0)
        let replanned = try planV1(ledger, crm)
        let marked = (replanned["writes"] as! [[String: Any]]).compactMap { $0["interrupted"] as? [String: Any] }
        #expect(marked.map { $0["request_key"] as? String } == ["feedfacefeedface:1"])

        let apply = try object(
            try ledger.callLedger(
                arguments: ["crm", "apply", "--mapping", v1, "--json"], environment: environment(crm)))
        #expect(apply["confirmed"] as? Int == 0)
        #expect(apply["written"] as? Int == planned.count)
        let notConfirmed = try events("crm.write.failed", ledger).filter {
            ($0["body"] as! [String: Any])["request_key"] as? String == "feedfacefeedface:1"
        }
        #expect(notConfirmed.count == 1)
        let body = try #require(notConfirmed.first?["body"] as? [String: Any])
        #expect(body["read_back"] as? Bool == true)
        #expect(body["status"] as? Int == 404)
        #expect((body["error"] as? String)?.hasPrefix("NOT_CONFIRMED") == true, "\(body["error"] ?? "")")
        try expectComplete(ledger, crm, planned: planned, run: 0)
    }

    /// Unanswered writes to records the mapping no longer changes: read back, the one whose record holds what the
    /// log last recorded is closed (`crm.write.failed`, `NOT_CONFIRMED`); the one whose record holds another value
    /// stays unanswered and is reported. Nothing is sent.
    @Test func unansweredWritesToUnplannedRecordsAreClosedWhenTheCRMAgrees() throws {
        let ledger = try simulatedLedger(calls: 3, seed: 67)
        let crm = try StandIn()
        let planned = try planV1(ledger, crm)["writes"] as! [[String: Any]]
        try #require(
            try ledger.callLedger(arguments: ["crm", "apply", "--mapping", v1], environment: environment(crm))
                .status == 0)
        let voiceCalls = planned.filter { ($0["key"] as! [String: Any])["object"] as? String == "VoiceCall" }
        try #require(voiceCalls.count >= 2)
        var lines: [String] = []
        for (index, write) in voiceCalls.prefix(2).enumerated() {
            let key = write["key"] as! [String: Any]
            let event: [String: Any] = [
                "type": "crm.write.started", "call": write["call"]!, "tenant": write["tenant"]!,
                "source": "crm/salesforce", "idempotency": "test:started:\(index)",
                "body": [
                    "system": "salesforce", "object": "VoiceCall", "external_id_field": "VendorCallKey",
                    "external_id": key["external_id"]!, "field_names": ["CallDisposition"],
                    "mapping": ["name": "voicecall", "version": "1", "digest": String(repeating: "0", count: 64)],
                    "request_key": "feedfacefeedface:\(index)",
                ] as [String: Any],
            ]
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: event), as: UTF8.self))
        }
        try #require(try ledger.callLedger("append", input: lines.joined(separator: "\n")).status == 0)
        let changedElsewhere = ((voiceCalls[1]["key"] as! [String: Any])["external_id"] as! String)
        let client = try SalesforceClient(configuration: try crm.configuration())
        _ = try client.upsert(
            object: "VoiceCall", externalIdField: "VendorCallKey", externalId: changedElsewhere,
            fields: ["CallDisposition": .string("changed elsewhere")])
        let requestsBefore = try crm.stats()["total"] as! Int

        let apply = try object(
            try ledger.callLedger(
                arguments: ["crm", "apply", "--mapping", v1, "--json"], environment: environment(crm)))
        #expect(apply["planned"] as? Int == 0)
        #expect(apply["unanswered"] as? Int == 1)
        let closed = try events("crm.write.failed", ledger).compactMap {
            ($0["body"] as? [String: Any])?["request_key"] as? String
        }
        #expect(closed == ["feedfacefeedface:0"])
        #expect(try crm.stats()["total"] as! Int == requestsBefore + 2)
        let plan = try planV1(ledger, crm)
        let left = (plan["unanswered"] as! [[String: Any]]).map { $0["request_key"] as? String }
        #expect(left == ["feedfacefeedface:1"])
    }

    /// A refused token stops apply with exit 1 after recording the batch it refused as `crm.write.failed` (401),
    /// so no `crm.write.started` is left unanswered.
    @Test func refusedTokenIsRecordedAndStopsApply() throws {
        let ledger = try simulatedLedger(calls: 2, seed: 64)
        let crm = try StandIn()
        var wrongToken = environment(crm)
        wrongToken["CALL_LEDGER_CRM_TOKEN"] = "expired"
        let refused = try ledger.callLedger(
            arguments: ["crm", "apply", "--mapping", v1, "--batch-size", "2"], environment: wrongToken)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("CALL_LEDGER_CRM_TOKEN"), "\(refused.stderr)")
        let failed = try events("crm.write.failed", ledger)
        #expect(failed.count == 2)
        #expect(failed.allSatisfy { ($0["body"] as! [String: Any])["status"] as? Int == 401 })
        #expect(try events("crm.write.started", ledger).count == 2)
        let plan = try planV1(ledger, crm)
        #expect((plan["writes"] as! [[String: Any]]).allSatisfy { $0["interrupted"] == nil })
        #expect(try writes(crm).isEmpty)
    }

    /// Killed at 8 random moments, each on a fresh copy of the same ledger against a fresh stand-in that answers
    /// every request 40 ms late: one more apply completes the work and no record is written twice.
    @Test func killedApplyIsCompletedByTheNextWithoutWritingAnyRecordTwice() throws {
        let template = try simulatedLedger(calls: 10, seed: 62)
        let planned = try planV1(template, try StandIn())["writes"] as! [[String: Any]]
        try #require(planned.count > 6)
        var generator = SystemRandomNumberGenerator()
        var killedMidway = 0
        for run in 0..<8 {
            let copy = try CLILedger.copy(of: template)
            let crm = try StandIn()
            try crm.faults(["delay_ms": 40, "delay_next": -1])
            let process = try startApply(copy, crm, batchSize: 2)
            usleep(UInt32.random(in: 0...1_500_000, using: &generator))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal, try !writes(crm).isEmpty { killedMidway += 1 }

            let finish = try copy.callLedger(
                arguments: ["crm", "apply", "--mapping", v1, "--batch-size", "2"], environment: environment(crm))
            #expect(finish.status == 0, "run \(run): \(finish.stderr)")
            try expectComplete(copy, crm, planned: planned, run: run)
            _ = try copy.verified()
        }
        #expect(killedMidway > 0)
    }
}

@Suite struct CRMApplyRefusalTests {
    /// An external id that matches two CRM records is a hard error for that record only: recorded as
    /// `crm.write.failed` with Salesforce's code, exit 1, every other record written; a second apply tries that
    /// record again and nothing else.
    @Test func aDuplicatedExternalIdFailsThatRecordOnly() throws {
        let ledger = try simulatedLedger(calls: 3, seed: 65)
        let crm = try StandIn()
        let planned = try planV1(ledger, crm)["writes"] as! [[String: Any]]
        let duplicated = try #require(
            planned.first { ($0["key"] as! [String: Any])["object"] as? String == "VoiceCall" }?["key"]
                as? [String: Any])
        let externalId = duplicated["external_id"] as! String
        try crm.seed(object: "VoiceCall", field: "VendorCallKey", value: externalId, copies: 2)

        let apply = try ledger.callLedger(
            arguments: ["crm", "apply", "--mapping", v1, "--json"], environment: environment(crm))
        #expect(apply.status == 1)
        let summary = try jsonObject(apply.stdout)
        #expect(summary["failed"] as? Int == 1)
        #expect(summary["written"] as? Int == planned.count - 1)
        let failures = summary["failures"] as? [String] ?? []
        #expect(
            failures.count == 1 && failures[0].contains(externalId) && failures[0].contains("DUPLICATE_EXTERNAL_ID"))
        let failed = try events("crm.write.failed", ledger)
        #expect(failed.count == 1)
        #expect((failed.first?["body"] as? [String: Any])?["external_id"] as? String == externalId)

        let again = try ledger.callLedger(
            arguments: ["crm", "apply", "--mapping", v1, "--json"], environment: environment(crm))
        #expect(again.status == 1)
        #expect(try jsonObject(again.stdout)["planned"] as? Int == 1)
        #expect(try writes(crm).count == planned.count - 1)
    }

    /// A CRM that answers nothing but 503: the first batch is retried to the end and recorded as failed, apply
    /// stops there (exit 1) instead of waiting through every batch's retries, and the next apply writes all.
    @Test func anUnavailableCRMStopsApplyAfterOneBatch() throws {
        let ledger = try simulatedLedger(calls: 3, seed: 66)
        let crm = try StandIn()
        let planned = try planV1(ledger, crm)["writes"] as! [[String: Any]]
        try #require(planned.count > 2)
        try crm.faults(["fail_next": 1000, "fail_status": 503, "retry_after": 0])
        let stopped = try ledger.callLedger(
            arguments: ["crm", "apply", "--mapping", v1, "--batch-size", "2", "--json"], environment: environment(crm))
        #expect(stopped.status == 1)
        let summary = try jsonObject(stopped.stdout)
        #expect(summary["requests"] as? Int == 1)
        #expect(summary["failed"] as? Int == 2)
        #expect(summary["not_attempted"] as? Int == planned.count - 2)
        #expect(try events("crm.write.started", ledger).count == 2)
        #expect(try events("crm.write.failed", ledger).count == 2)

        try crm.faults(["fail_next": 0])
        let rerun = try object(
            try ledger.callLedger(
                arguments: ["crm", "apply", "--mapping", v1, "--batch-size", "2", "--json"],
                environment: environment(crm)))
        #expect(rerun["written"] as? Int == planned.count)
        try expectComplete(ledger, crm, planned: planned, run: 0)
    }
}
