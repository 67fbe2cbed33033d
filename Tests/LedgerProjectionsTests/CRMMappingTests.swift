// CRM mappings on real fixture data: the shipped voicecall v1 and v2 mappings applied to an Amazon Connect contact
// (its contact record and the published Contact Lens post-call sample, ingested with --call) and to the call of
// FORMAT.md's examples, checked against values computed here from the fixtures; the v1 → v2 change touches exactly
// the renamed, added and changed fields; an erased customer name is left out, not written; and bad mappings are
// refused with the file, the member and the reason.
import Foundation
import LedgerCore
import LedgerProjections
import LedgerStore
import LedgerTestSupport
import Testing

private let ctrFile = "connect/ctr-inbound-voice.json"
private let contactLensFile = "connect/docs-contact-lens-postcall-analysis-original.json"
private let piiIdentifiedFile = "transcribe/docs-streaming-event-pii-identified.json"
private let piiRedactedFile = "transcribe/docs-streaming-event-pii-redacted.json"
private let examplesCall = "c2a8d3f1-5e6b-4a7c-9d0e-1f2a3b4c5d6e"
/// An account number the examples call's customer gives (constructed: no published sample carries one).
private let accountNumber = "GB82 WEST 1234 5698 7654 32"

private func fixtureJSON(_ path: String) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(contentsOf: Repository.fixture(path))) as! [String: Any]
}

/// The shipped mapping `name` under Projections/crm.
private func shippedBytes(_ name: String) throws -> [UInt8] {
    Array(try Data(contentsOf: Repository.root.appendingPathComponent("Projections/crm/\(name)")))
}

private func shipped(_ name: String) throws -> CRMMapping {
    try CRMMapping.parse(try shippedBytes(name), file: name)
}

/// A ledger holding the Connect contact (CTR and Contact Lens), the two Transcribe streaming PII samples (calls
/// `pii-identified` and `pii-redacted`), FORMAT.md's examples and an account number entity for the examples call.
private struct FixtureLedger {
    let scratch = ScratchDirectory()
    var directory: String { scratch.file("ledger") }
    let contact: String

    init() throws {
        contact = try fixtureJSON(ctrFile)["ContactId"] as! String
        let created = try callLedger(arguments: ["init", directory, "--origin", "crm.test/ledger"])
        try #require(created.status == 0, "\(created.stderr)")
        for arguments in [
            ["--from", "connect-ctr", Repository.fixture(ctrFile).path],
            ["--from", "contact-lens", "--call", contact, Repository.fixture(contactLensFile).path],
            ["--from", "transcribe-stream", "--call", "pii-identified", Repository.fixture(piiIdentifiedFile).path],
            ["--from", "transcribe-stream", "--call", "pii-redacted", Repository.fixture(piiRedactedFile).path],
        ] {
            let ingest = try callLedger(arguments: ["ingest", "--ledger", directory] + arguments)
            try #require(ingest.status == 0, "\(ingest.stderr)")
        }
        let examples = try String(contentsOf: Repository.fixture("events/examples.jsonl"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        let account =
            #"{"type":"enrichment.result","call":"\#(examplesCall)","tenant":"acme-bank","source":"test/1","idempotency":"test:account","body":{"kind":"pii","utterances":["utt-0003"],"provider":"test","result":{"entities":[{"type":"BANK_ACCOUNT_NUMBER","text":"\#(accountNumber)","pii":"bank_account_number"}]}}}"#
        let writer = try LedgerWriter(directory: directory)
        _ = try writer.append(try decodeLines(examples + [account]))
        try writer.close()
    }

    func facts(_ call: String, scorecard: QAScorecard? = nil) throws -> CRMFacts {
        let engine = ProjectionEngine(reader: try LedgerReader(directory: directory))
        let transcript = try #require(try engine.transcript(call: call))
        return CRMFacts(transcript: transcript, evaluations: scorecard.map { [$0.evaluate(transcript)] } ?? [])
    }

    /// Crypto-shreds `classes` of `call` as `retention run` does: a checkpoint, the keys destroyed, then the
    /// `retention.purged` event.
    func shred(_ classes: [String], of call: String, tenant: String) throws {
        let writer = try LedgerWriter(directory: directory)
        let (checkpoint, _) = try writer.checkpoint()
        let purge = PendingPurge(
            call: call, tenant: tenant, classes: classes, policy: "test", policyVersion: "1",
            policyDigest: String(repeating: "0", count: 64), treeSize: checkpoint.treeSize,
            root: checkpoint.rootHash.hex, method: "crypto-shred")
        try writer.shred([purge])
        let event =
            #"{"type":"retention.purged","call":"\#(call)","tenant":"\#(tenant)","source":"test/1","idempotency":"purge:\#(call):\#(classes.joined(separator: ","))","body":{"classes":["\#(classes.joined(separator: "\",\""))"],"policy":{"name":"test","version":"1"},"method":"crypto-shred","checkpoint":{"tree_size":\#(checkpoint.treeSize),"root":"\#(checkpoint.rootHash.hex)"}}}"#
        _ = try writer.append(try decodeLines([event]))
        try writer.clearPendingPurges([purge])
        try writer.close()
    }
}

/// The record of `object` among `records`.
private func record(_ object: String, _ records: [CRMRecordValues]) throws -> CRMRecordValues {
    try #require(records.first { $0.object == object })
}

/// The fields whose value or availability differs between two versions of a record.
private func changedFields(_ old: CRMRecordValues, _ new: CRMRecordValues) -> Set<String> {
    let names = Set(old.fields.keys).union(new.fields.keys).union(old.unavailable.keys).union(new.unavailable.keys)
    return names.filter { old.fields[$0] != new.fields[$0] || old.unavailable[$0] != new.unavailable[$0] }
}

/// The label most of the customer's turns carry, ties going to the one said last.
private func prevailing(_ labels: [String]) -> String? {
    var best: (count: Int, last: Int, label: String)?
    for label in Set(labels) {
        let candidate = (labels.count { $0 == label }, labels.lastIndex(of: label)!, label)
        if best.map({ (candidate.0, candidate.1) > ($0.count, $0.last) }) ?? true { best = candidate }
    }
    return best?.label
}

@Suite struct CRMMappingTests {
    @Test func theShippedMappingsParseWithTheirDigestAndPersonalFields() throws {
        for file in ["voicecall-v1.yaml", "voicecall-v2.yaml"] {
            let bytes = try shippedBytes(file)
            let mapping = try CRMMapping.parse(bytes, file: file)
            #expect(mapping.name == "voicecall" && mapping.system == "salesforce")
            #expect(mapping.digest == SHA256.hash(bytes))
            #expect(mapping.records.map(\.object) == ["VoiceCall", "Task"])
            #expect(mapping.records.map(\.externalIdField) == ["VendorCallKey", "CallObject"])
            let voiceCall = mapping.records[0]
            #expect(voiceCall.fields.filter(\.personal).map(\.name) == ["Account_Number__c", "Customer_Name__c"])
            #expect(voiceCall.fields.first { $0.name == "CallDurationInSeconds" }?.template.type == .integer)
            #expect(voiceCall.fields.first { $0.name == "QA_Score__c" }?.template.type == .double)
        }
        #expect(try shipped("voicecall-v1.yaml").version == "1")
        #expect(try shipped("voicecall-v2.yaml").version == "2")
    }

    @Test func theConnectContactMapsToItsContactRecordContactLensAndQAScore() throws {
        let ledger = try FixtureLedger()
        let scorecardFile = Repository.root.appendingPathComponent("Projections/qa/support-call-basics.yaml")
        let scorecard = try QAScorecard.parse(Array(try Data(contentsOf: scorecardFile)), file: "support-call-basics")
        let facts = try ledger.facts(ledger.contact, scorecard: scorecard)
        let ctr = try fixtureJSON(ctrFile)
        let lens = try fixtureJSON(contactLensFile)

        // From the contact record: the contact id, queue, agent, disconnect reason and times.
        let started = ctr["InitiationTimestamp"] as! String
        let ended = ctr["DisconnectTimestamp"] as! String
        let seconds = Int64(
            ISO8601DateFormatter().date(from: ended)!.timeIntervalSince(ISO8601DateFormatter().date(from: started)!))
        let queue = (ctr["Queue"] as! [String: Any])["Name"] as! String
        let agent = (ctr["Agent"] as! [String: Any])["Username"] as! String
        // From the Contact Lens sample: the customer turns' sentiment and the overall customer sentiment score.
        let turns = lens["Transcript"] as! [[String: Any]]
        let customerLabels = turns.filter { $0["ParticipantId"] as? String == "CUSTOMER" }.map {
            $0["Sentiment"] as! String
        }
        let overall =
            ((lens["ConversationCharacteristics"] as! [String: Any])["Sentiment"] as! [String: Any])["OverallSentiment"]
            as! [String: Any]
        let score = try #require(scorecard.evaluate(facts.transcript).score)

        #expect(facts.value(of: "sentiment.customer.score") == .known(.double(overall["CUSTOMER"] as! Double)))
        #expect(facts.value(of: "transcript.lines") == .known(.integer(Int64(turns.count))))
        #expect(facts.value(of: "sentiment.customer.last") == .known(.string(customerLabels.last!)))
        #expect(facts.value(of: "no.such.fact") == nil)

        let v1 = try shipped("voicecall-v1.yaml").records(for: facts)
        let voiceCall = try record("VoiceCall", v1)
        #expect(voiceCall.externalId == ledger.contact)
        #expect(
            voiceCall.fields == [
                "CallDisposition": .string((ctr["DisconnectReason"] as! String).lowercased()),
                "CallDurationInSeconds": .integer(seconds),
                "CallStartDateTime": .string(started), "CallEndDateTime": .string(ended),
                "Queue__c": .string(queue), "Agent__c": .string(agent), "QA_Score__c": .double(score),
            ])
        // The published sample names no entities: the customer's name and account number are absent, not empty.
        #expect(voiceCall.unavailable == ["Customer_Name__c": .absent, "Account_Number__c": .absent])
        #expect(voiceCall.personalFields == ["Account_Number__c", "Customer_Name__c"])
        let task = try record("Task", v1)
        #expect(task.externalId == ledger.contact && task.unavailable == ["Description": .absent])
        #expect(task.fields["Subject"] == .string("Call of \(started) (\(queue))"))
        #expect(task.fields["Status"] == .string("Completed"))

        let v2 = try shipped("voicecall-v2.yaml").records(for: facts)
        let changed = try record("VoiceCall", v2)
        #expect(changed.fields["QueueName"] == .string(queue) && changed.fields["Queue__c"] == nil)
        #expect(changed.fields["Customer_Sentiment__c"] == .string(try #require(prevailing(customerLabels))))
        #expect(changedFields(voiceCall, changed) == ["Queue__c", "QueueName", "Customer_Sentiment__c"])
        #expect(try record("Task", v2) == task)
    }

    @Test func theExamplesCallMapsItsEntitiesAndVersionTwoChangesExactlyItsFields() throws {
        let ledger = try FixtureLedger()
        let facts = try ledger.facts(examplesCall)
        let lines = try String(contentsOf: Repository.fixture("events/examples.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try jsonObject($0) }
        func body(_ idempotency: String) throws -> [String: Any] {
            try #require(lines.first { $0["idempotency"] as? String == idempotency })["body"] as! [String: Any]
        }
        let entities =
            (try body("gladia:9b1c:utt-0003:ner")["result"] as! [String: Any])["entities"] as! [[String: Any]]
        let name = try #require(entities.first { $0["type"] as? String == "name" })["text"] as! String
        let summary = (try body("gladia:9b1c:summary")["result"] as! [String: Any])["text"] as! String
        let sentiment = (try body("gladia:9b1c:utt-0003:sentiment")["result"] as! [String: Any])["label"] as! String
        let ended = lines.first { $0["type"] as? String == "call.ended" }.map { $0["body"] as! [String: Any] }!
        let digits = accountNumber.filter(\.isNumber)
        let lastFour = String(accountNumber.filter { $0.isLetter || $0.isNumber }.suffix(4))

        let v1 = try shipped("voicecall-v1.yaml").records(for: facts)
        let v2 = try shipped("voicecall-v2.yaml").records(for: facts)
        let old = try record("VoiceCall", v1)
        let new = try record("VoiceCall", v2)
        #expect(old.externalId == examplesCall && new.externalId == examplesCall)
        #expect(old.fields["Customer_Name__c"] == .string(name))
        #expect(old.fields["Account_Number__c"] == .string(digits))
        #expect(new.fields["Account_Number__c"] == .string("****" + lastFour))
        #expect(new.fields["Customer_Sentiment__c"] == .string(sentiment))
        #expect(old.fields["CallDurationInSeconds"] == .integer(Int64(ended["duration_ms"] as! Int) / 1000))
        #expect(old.fields["CallDisposition"] == .string((ended["disconnect_reason"] as! String).lowercased()))
        // No scorecard was evaluated: the QA score is absent and left out.
        #expect(old.unavailable == ["QA_Score__c": .absent] && new.unavailable == ["QA_Score__c": .absent])
        #expect(try record("Task", v1).fields["Description"] == .string(summary))

        // The definitions differ in exactly these fields, and so do the values they produce.
        let expected: Set<String> = ["Queue__c", "QueueName", "Customer_Sentiment__c", "Account_Number__c"]
        let templates = { (mapping: CRMMapping) in
            Dictionary(uniqueKeysWithValues: mapping.records[0].fields.map { ($0.name, $0.template.source) })
        }
        let (before, after) = (templates(try shipped("voicecall-v1.yaml")), templates(try shipped("voicecall-v2.yaml")))
        #expect(Set(before.keys).union(after.keys).filter { before[$0] != after[$0] } == expected)
        #expect(changedFields(old, new) == expected)
        let changes = try shipped("voicecall-v2.yaml").changes(from: try shipped("voicecall-v1.yaml"))
        #expect(changes.allSatisfy { $0.object == "VoiceCall" && $0.externalIdField == "VendorCallKey" })
        #expect(
            changes.map { "\($0.field) \($0.kind.rawValue)" } == [
                "Account_Number__c changed", "Customer_Sentiment__c added", "QueueName added", "Queue__c removed",
            ])
        #expect(try shipped("voicecall-v1.yaml").changes(from: try shipped("voicecall-v1.yaml")).isEmpty)
        #expect(try record("Task", v1) == record("Task", v2))
    }

    @Test func anErasedCustomerNameIsLeftOutAndReportedNotWritten() throws {
        let ledger = try FixtureLedger()
        let mapping = try shipped("voicecall-v1.yaml")
        let before = try record("VoiceCall", mapping.records(for: try ledger.facts(examplesCall)))
        try ledger.shred(["pii.name"], of: examplesCall, tenant: "acme-bank")
        let facts = try ledger.facts(examplesCall)
        #expect(facts.value(of: "entity.name") == .unavailable(.unreadable(because: "shredded")))
        let after = try record("VoiceCall", mapping.records(for: facts))
        #expect(after.fields["Customer_Name__c"] == nil)
        #expect(after.unavailable["Customer_Name__c"] == .unreadable(because: "shredded"))
        #expect(changedFields(before, after) == ["Customer_Name__c"])
        // `default` fills in what is absent, never what was erased.
        let template = try CRMTemplate.parse("{entity.name|default:Unknown caller}")
        #expect(template.evaluate(facts) == .unavailable(.unreadable(because: "shredded")))
        #expect(try CRMTemplate.parse("{entity.email|default:none}").evaluate(facts) == .known(.string("none")))
        #expect(
            try CRMTemplate.parse("Name: {entity.name}").evaluate(facts)
                == .unavailable(.unreadable(because: "shredded")))
    }

    @Test func anEntityTheSourceRedactedIsUnreadableNotItsPlaceholder() throws {
        let ledger = try FixtureLedger()
        var names: [String: String] = [:]
        for (call, file) in [
            ("pii-identified", piiIdentifiedFile), ("pii-redacted", piiRedactedFile),
        ] {
            let result = try fixtureJSON(file)["TranscriptResultStream"] as! [String: Any]
            let transcript = (result["TranscriptEvent"] as! [String: Any])["Transcript"] as! [String: Any]
            let alternative = ((transcript["Results"] as! [[String: Any]])[0]["Alternatives"] as! [[String: Any]])[0]
            let entity = (alternative["Entities"] as! [[String: Any]]).first { $0["Type"] as? String == "NAME" }
            names[call] = try #require(entity?["Content"] as? String)
        }
        #expect(names["pii-redacted"] == "[NAME]")
        let identified = try ledger.facts("pii-identified")
        #expect(identified.value(of: "entity.name") == .known(.string(names["pii-identified"]!)))
        let redacted = try ledger.facts("pii-redacted")
        #expect(redacted.value(of: "entity.name") == .unavailable(.unreadable(because: "redacted")))
        let values = try record("VoiceCall", try shipped("voicecall-v1.yaml").records(for: redacted))
        #expect(values.fields["Customer_Name__c"] == nil)
        #expect(values.unavailable["Customer_Name__c"] == .unreadable(because: "redacted"))
    }

    @Test func templatesAreTypedAndTotal() throws {
        let ledger = try FixtureLedger()
        let facts = try ledger.facts(examplesCall)
        func value(_ text: String) throws -> CRMFactValue { try CRMTemplate.parse(text).evaluate(facts) }
        #expect(try value("{call.duration_ms}") == .known(.integer(312_000)))
        #expect(try value("{call.duration_ms} ms") == .known(.string("312000 ms")))
        #expect(try value("{{{call.queue|upper}}}") == .known(.string("{CARDS}")))
        #expect(try value("{qa.support-call-basics.score|default:0}") == .known(.double(0)))
        #expect(try value("{entity.product|digits}") == .unavailable(.absent))
        #expect(try value("{call.tenant}") == .known(.string("acme-bank")))
        #expect(try value("{call.started_at}") == .known(.string("2026-11-26T09:00:00Z")))
        for unknown in ["qa.score", "qa..score", "qa.support-call-basics.total", "entity.", "entity.Name", "call"] {
            #expect(throws: CRMTemplateError.self, "\(unknown)") { try CRMTemplate.parse("{\(unknown)}") }
        }

        let encoded = try JSONEncoder().encode([CRMValue.string("a"), .integer(3), .double(2.5), .bool(true), .null])
        #expect(String(decoding: encoded, as: UTF8.self) == #"["a",3,2.5,true,null]"#)
        #expect(
            try JSONDecoder().decode([CRMValue].self, from: encoded) == [
                .string("a"), .integer(3), .double(2.5), .bool(true), .null,
            ])
    }

    @Test func badMappingsAreRefusedWithFileMemberAndReason() throws {
        let good = String(decoding: try shippedBytes("voicecall-v1.yaml"), as: UTF8.self)
        let cases: [(String, String, String, String)] = [
            ("format: 1", "format: 2", "format", "unsupported mapping format 2"),
            (
                "external_id: { field: VendorCallKey, value: \"{call.id}\" }",
                "external_id: { field: VendorCallKey, value: \"{call.id}\", owner: x }", "records[0].external_id.owner",
                "unknown member"
            ),
            (
                "\"{call.queue}\"", "\"{call.queue_name}\"", "records[0].fields.Queue__c",
                "unknown fact 'call.queue_name'"
            ),
            ("Status: Completed", "Status: \"\"", "records[1].fields.Status", "must not be empty"),
            (
                "Agent__c: \"{call.agent}\"", "Agent__c: \"{call.agent}\"\n      Agent__c: \"{call.queue}\"", "",
                "duplicate member 'Agent__c'"
            ),
            (
                "Agent__c: \"{call.agent}\"", "Agent__c: \"{entity.name}\"", "records[0].fields.Agent__c",
                "list the field under personal"
            ),
            (
                "personal: [Description]", "personal: [Description, Owner]", "records[1].personal[1]",
                "'Owner' is not a field of the record"
            ),
            (
                "\"{call.duration_seconds}\"\n      CallStartDateTime",
                "\"{call.duration_seconds|default:soon}\"\n      CallStartDateTime",
                "records[0].fields.CallDurationInSeconds", "must be an integer"
            ),
            (
                "\"{call.disconnect_reason|lower}\"", "\"{call.disconnect_reason|title}\"",
                "records[0].fields.CallDisposition", "unknown filter 'title'"
            ),
            (
                "value: \"{call.id}\" }\n    fields:\n      CallDisposition",
                "value: \"{entity.name}\" }\n    fields:\n      CallDisposition", "records[0].external_id.value",
                "reads personal data"
            ),
            (
                "Subject: \"Call of {call.started_at}", "Subject: \"Call of {call.started_at",
                "records[1].fields.Subject", "'{' inside a placeholder"
            ),
            ("Status: Completed", "Status: \"Completed {\"", "records[1].fields.Status", "unclosed '{'"),
        ]
        for (index, (old, new, member, reason)) in cases.enumerated() {
            let text = good.replacingOccurrences(of: old, with: new)
            #expect(text != good, "\(index): the case changes nothing")
            let error = #expect(throws: DefinitionError.self, "\(index)") {
                try CRMMapping.parse(Array(text.utf8), file: "bad-\(index).yaml")
            }
            #expect(error?.file == "bad-\(index).yaml", "\(index)")
            #expect(error?.path == member, "\(index): \(error?.description ?? "")")
            #expect(error?.reason.contains(reason) == true, "\(index): \(error?.description ?? "")")
        }
    }
}
