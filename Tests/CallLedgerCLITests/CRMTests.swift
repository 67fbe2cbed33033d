// The CRM scenario end to end through the CLI against the stand-in CRM server: the published Connect contact
// record with its Contact Lens analysis, the FORMAT examples call (with an account number) and simulated calls;
// mapping v1 applied; v2 planned (exactly the renamed, added and changed fields) and applied through injected
// 429 and 500 answers; v1 replayed as a plan; and, once retention erased a call's name, the name not written
// again.
import Foundation
import LedgerTestSupport
import Testing

let mappings = Repository.root.appendingPathComponent("Projections/crm")
let v1 = mappings.appendingPathComponent("voicecall-v1.yaml").path
private let v2 = mappings.appendingPathComponent("voicecall-v2.yaml").path
private let scorecard = Repository.root.appendingPathComponent("Projections/qa/support-call-basics.yaml").path
private let examplesCall = "c2a8d3f1-5e6b-4a7c-9d0e-1f2a3b4c5d6e"
/// No published sample names an account number: one made-up entity is added to the examples call.
private let accountNumber = "GB82 WEST 1234 5698 7654 32"

/// The JSON array a successful command printed.
private func array(_ result: ProcessResult) throws -> [[String: Any]] {
    try #require(result.status == 0, "\(result.stderr)")
    return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [[String: Any]]
}

/// The JSON object a successful command printed.
func object(_ result: ProcessResult) throws -> [String: Any] {
    try #require(result.status == 0, "\(result.stderr)")
    return try jsonObject(result.stdout)
}

/// Per record key (`object external_id`), the names of the fields a plan writes.
func changedFields(_ plan: [String: Any]) -> [String: Set<String>] {
    var result: [String: Set<String>] = [:]
    for write in plan["writes"] as! [[String: Any]] {
        let key = write["key"] as! [String: Any]
        let fields = (write["changes"] as! [[String: Any]]).map { $0["field"] as! String }
        result["\(key["object"]!) \(key["external_id"]!)"] = Set(fields)
    }
    return result
}

/// The fields the stand-in holds for the `object` record with external id `externalId`.
func stored(_ crm: StandIn, _ object: String, _ externalId: String) throws -> [String: Any]? {
    try crm.records(object: object).first { $0["externalId"] as? String == externalId }?["fields"] as? [String: Any]
}

@Suite struct CRMScenarioTests {
    @Test func mappingChangesArePlannedExactlyAppliedAndReplayed() throws {
        let ledger = try CLILedger()
        let crm = try StandIn()
        let environment = [
            "CALL_LEDGER_CRM_URL": crm.baseURL, "CALL_LEDGER_CRM_TOKEN": StandIn.token,
            "CALL_LEDGER_MAPPINGS": mappings.path,
        ]
        let ctr = try fixtureJSON("connect/ctr-inbound-voice.json")
        let contact = ctr["ContactId"] as! String
        for arguments in [
            ["ingest", "--from", "connect-ctr", Repository.fixture("connect/ctr-inbound-voice.json").path],
            [
                "ingest", "--from", "contact-lens", "--call", contact,
                Repository.fixture("connect/docs-contact-lens-postcall-analysis-original.json").path,
            ],
        ] {
            try #require(try ledger.callLedger(arguments: arguments).status == 0)
        }
        let examples = try String(contentsOf: Repository.fixture("events/examples.jsonl"), encoding: .utf8)
            .split(separator: "\n").filter { !$0.contains("retention.policy.assigned") }.joined(separator: "\n")
        let account =
            #"{"type":"enrichment.result","call":"\#(examplesCall)","tenant":"acme-bank","source":"test/1","idempotency":"test:account","body":{"kind":"pii","utterances":["utt-0003"],"provider":"test","result":{"entities":[{"type":"BANK_ACCOUNT_NUMBER","text":"\#(accountNumber)","pii":"bank_account_number"}]}}}"#
        let simulated = simulatedLines(calls: 6, seed: 51, callSeconds: 20...60).joined(separator: "\n")
        try #require(try ledger.callLedger("append", input: examples + "\n" + account + "\n" + simulated).status == 0)
        func crmCommand(_ arguments: String...) throws -> ProcessResult {
            try ledger.callLedger(
                arguments: ["crm"] + arguments + ["--scorecard", scorecard], environment: environment)
        }

        // v1: every record written; the stand-in then holds exactly the planned values.
        let planV1 = try object(try crmCommand("plan", "--mapping", v1, "--json"))
        let applyV1 = try object(try crmCommand("apply", "--mapping", v1, "--json"))
        #expect(applyV1["written"] as? Int == (planV1["writes"] as! [Any]).count)
        #expect(applyV1["failed"] as? Int == 0)
        for write in planV1["writes"] as! [[String: Any]] {
            let key = write["key"] as! [String: Any]
            let fields = try #require(try stored(crm, key["object"] as! String, key["external_id"] as! String))
            for change in write["changes"] as! [[String: Any]] {
                let field = change["field"] as! String
                #expect(
                    (fields[field] as? NSObject) == (change["new"] as? NSObject), "\(key["external_id"]!) \(field)")
            }
        }
        let examplesVoiceCall = try #require(try stored(crm, "VoiceCall", examplesCall))
        #expect(examplesVoiceCall["Account_Number__c"] as? String == accountNumber.filter(\.isNumber))
        #expect(changedFields(try object(try crmCommand("plan", "--mapping", v1, "--json"))).isEmpty)

        // Retention erases the examples call's name 30 days after the CRM write: never written again.
        let policy = Repository.root.appendingPathComponent("Projections/retention/gdpr-storage-limitation.yaml").path
        let policies = Repository.root.appendingPathComponent("Projections/retention").path
        try #require(
            try ledger.callLedger("retention", "assign", "--policy", policy, "--call", examplesCall).status == 0)
        let later = ISO8601DateFormatter().string(from: Date().addingTimeInterval(31 * 86_400))
        let erased = try ledger.callLedger("retention", "run", "--policies", policies, "--now", later)
        try #require(erased.status == 0, "\(erased.stderr)")

        // v2: exactly the renamed queue field, the added sentiment and the new account-number template.
        let planV2 = try object(try crmCommand("plan", "--mapping", v2, "--json"))
        let examplesWrite = try #require(
            (planV2["writes"] as! [[String: Any]]).first {
                ($0["key"] as! [String: Any])["external_id"] as? String == examplesCall
            })
        let nameState = (examplesWrite["unavailable"] as? [String: String])?["Customer_Name__c"]
        #expect(nameState == "compacted", "\(nameState ?? "written")")
        let changed = changedFields(planV2)
        #expect(!changed.isEmpty)
        for (key, fields) in changed {
            #expect(key.hasPrefix("VoiceCall "), "\(key)")
            #expect(fields.isSubset(of: ["QueueName", "Customer_Sentiment__c", "Account_Number__c"]), "\(key)")
        }
        // Every call with an account number gets the masked one; every call with a queue its QueueName.
        let accounts = Set(
            (planV1["writes"] as! [[String: Any]]).filter { write in
                (write["changes"] as! [[String: Any]]).contains { $0["field"] as? String == "Account_Number__c" }
            }.map { "VoiceCall \(($0["key"] as! [String: Any])["external_id"]!)" })
        #expect(accounts.contains("VoiceCall \(examplesCall)"))
        #expect(Set(changed.filter { $0.value.contains("Account_Number__c") }.keys) == accounts)
        let queued = try array(try ledger.callLedger("calls", "--json")).filter { $0["queue"] != nil }.count
        #expect(changed.values.filter { $0.contains("QueueName") }.count == queued)

        // Applied through two throttled answers and a server error: retried, and the attempts recorded.
        try crm.faults(["fail_next": 2, "fail_status": 429, "retry_after": 0])
        let applyV2 = try object(try crmCommand("apply", "--mapping", v2, "--json"))
        #expect(applyV2["failed"] as? Int == 0)
        #expect(applyV2["attempts"] as? Int == 3)
        let written = try catted(ledger).filter {
            $0["type"] as? String == "crm.write"
                && (($0["body"] as? [String: Any])?["mapping"] as? [String: Any])?["version"] as? String == "2"
        }
        #expect(written.count == changed.count)
        #expect(written.allSatisfy { ($0["body"] as! [String: Any])["status"] as? Int == 200 })
        let maskedVoiceCall = try #require(try stored(crm, "VoiceCall", examplesCall))
        #expect(
            maskedVoiceCall["Account_Number__c"] as? String == "****"
                + String(accountNumber.filter(\.isNumber).suffix(4)))
        #expect(changedFields(try object(try crmCommand("plan", "--mapping", v2, "--json"))).isEmpty)
        let examplesWrites = written.filter { $0["call"] as? String == examplesCall }
        #expect(examplesWrites.count == 1)
        for event in examplesWrites {
            let fields = try #require((event["body"] as? [String: Any])?["fields"] as? [String: Any])
            #expect(fields["Customer_Name__c"] == nil && fields["Account_Number__c"] != nil)
        }

        // Replaying v1 shows what it would write now: the account numbers' digits again, nothing else.
        let replay = changedFields(try object(try crmCommand("plan", "--mapping", "voicecall@1", "--json")))
        #expect(replay == Dictionary(uniqueKeysWithValues: accounts.map { ($0, ["Account_Number__c"]) }))
    }
}
