// SalesforceClient against the stand-in: single and collection upserts by external id, what the stand-in stored,
// Salesforce's per-record refusals (300 on duplicated external ids, DUPLICATE_EXTERNAL_ID in collections), and
// reading a record back by external id.
import Foundation
import LedgerConnectors
import LedgerTestSupport
import Testing

@Suite struct SalesforceUpsertTests {
    @Test func insertThenUpdateStoresTheFields() throws {
        let standIn = try StandIn()
        let recorder = SleepRecorder()
        let client = try standIn.client(recorder: recorder)
        let externalId = "call 7/ü?#&"
        let fields: [String: CRMFieldValue] = [
            "Subject": .string("Billing \"question\"\nline two"), "Duration__c": .integer(312),
            "Score__c": .double(87.25), "Escalated__c": .bool(true), "Notes__c": .null,
        ]
        let inserted = try client.upsert(
            object: "Case", externalIdField: "Call_Id__c", externalId: externalId, fields: fields)
        #expect(inserted.succeeded && inserted.created == true && inserted.status == 201 && inserted.attempts == 1)
        #expect(inserted.errors.isEmpty && inserted.errorText == nil && inserted.externalId == externalId)
        let id = try #require(inserted.id)
        #expect(id.count == 18 && id.hasPrefix("500"))

        let stored = try standIn.records(object: "Case")
        #expect(stored.count == 1)
        let storedFields = try #require(stored.first?["fields"] as? [String: Any])
        #expect(storedFields["Subject"] as? String == "Billing \"question\"\nline two")
        #expect(storedFields["Duration__c"] as? Int == 312)
        #expect(storedFields["Score__c"] as? Double == 87.25)
        #expect(storedFields["Escalated__c"] as? Bool == true)
        #expect(storedFields["Notes__c"] is NSNull)
        #expect(storedFields["Call_Id__c"] as? String == externalId)
        #expect(stored.first?["Id"] as? String == id)

        let updated = try client.upsert(
            object: "Case", externalIdField: "Call_Id__c", externalId: externalId,
            fields: ["Subject": .string("Billing, resolved"), "Escalated__c": .bool(false)])
        #expect(updated.succeeded && updated.created == false && updated.status == 200 && updated.attempts == 1)
        #expect(updated.id == id)

        let (status, body) = try standIn.apiRecord(path: "Case/Call_Id__c/call%207%2F%C3%BC%3F%23%26")
        #expect(status == 200)
        let record = try #require(body as? [String: Any])
        #expect(record["Id"] as? String == id)
        #expect(record["Subject"] as? String == "Billing, resolved")
        #expect(record["Escalated__c"] as? Bool == false)
        #expect(record["Duration__c"] as? Int == 312)
        #expect(try standIn.records(object: "Case").count == 1)
        #expect(try standIn.counts("Case/Call_Id__c/\(externalId)") == (2, 2))
        #expect(recorder.delays.isEmpty)
    }

    @Test func readBackReturnsTheStoredScalarsOrNilWhenAbsent() throws {
        let standIn = try StandIn()
        let client = try standIn.client(recorder: SleepRecorder())
        #expect(try client.record(object: "Case", externalIdField: "Call_Id__c", externalId: "absent") == nil)
        let fields: [String: CRMFieldValue] = [
            "Subject": .string("Card ordered"), "Duration__c": .integer(312), "Score__c": .double(87.25),
            "Escalated__c": .bool(true), "Notes__c": .null,
        ]
        let written = try client.upsert(
            object: "Case", externalIdField: "Call_Id__c", externalId: "call/1", fields: fields)
        let fetched = try #require(
            try client.record(
                object: "Case", externalIdField: "Call_Id__c", externalId: "call/1", fields: fields.keys.sorted()))
        #expect(fetched.id == written.id && fetched.status == 200 && fetched.attempts == 1)
        for (name, value) in fields {
            let stored = try #require(fetched.fields[name], "\(name)")
            #expect(value.isHeld(by: stored), "\(name): \(stored)")
        }
        #expect(fetched.fields["attributes"] == nil && fetched.fields["Id"] == nil)
        #expect(CRMFieldValue.integer(312).isHeld(by: .double(312)))
        #expect(!CRMFieldValue.string("312").isHeld(by: .integer(312)))
        #expect(!CRMFieldValue.double(87.25).isHeld(by: .double(87.26)))

        try standIn.seed(object: "Case", field: "Call_Id__c", value: "twice", copies: 2)
        #expect(throws: SalesforceError.self) {
            try client.record(object: "Case", externalIdField: "Call_Id__c", externalId: "twice")
        }
    }

    @Test func collectionAbove200IsRefusedBeforeSending() throws {
        let standIn = try StandIn()
        let client = try standIn.client(recorder: SleepRecorder())
        let records = (0..<250).map { CRMRecord(externalId: "c-\($0)", fields: ["Subject": .string("call \($0)")]) }
        #expect(throws: SalesforceError.tooManyRecords(count: 250, limit: 200)) {
            try client.upsertCollection(object: "Case", externalIdField: "Call_Id__c", records: records)
        }
        #expect(try standIn.stats()["total"] as? Int == 0)
    }

    @Test func collectionOf200ReportsEachRecordInOrder() throws {
        let standIn = try StandIn()
        try standIn.seed(object: "Case", field: "Call_Id__c", value: "c-17", copies: 2)
        let client = try standIn.client(recorder: SleepRecorder())
        let records = (0..<200).map {
            CRMRecord(
                externalId: "c-\($0)",
                fields: ["Subject": .string("call \($0)"), "Seconds__c": .integer(Int64($0)), "Call_Id__c": .null])
        }
        let outcomes = try client.upsertCollection(object: "Case", externalIdField: "Call_Id__c", records: records)
        #expect(outcomes.count == 200)
        #expect(outcomes.map(\.externalId) == records.map(\.externalId))
        let failed = outcomes.filter { !$0.succeeded }
        #expect(failed.map(\.externalId) == ["c-17"])
        #expect(failed.first?.errors.first?.code == "DUPLICATE_EXTERNAL_ID")
        #expect(failed.first?.errors.first?.fields == ["Call_Id__c"])
        #expect(failed.first?.errorText?.contains("matches more than one Case") == true)
        #expect(outcomes.allSatisfy { $0.status == 200 && $0.attempts == 1 })
        let written = outcomes.filter(\.succeeded)
        #expect(written.allSatisfy { $0.created == true && $0.id?.count == 18 })
        #expect(Set(written.compactMap(\.id)).count == 199)

        let stored = try standIn.records(object: "Case")
        #expect(stored.count == 201)
        let c42 = try #require(stored.first { $0["externalId"] as? String == "c-42" }?["fields"] as? [String: Any])
        #expect(c42["Subject"] as? String == "call 42" && c42["Seconds__c"] as? Int == 42)
        #expect(c42["Call_Id__c"] as? String == "c-42")

        let again = try client.upsertCollection(
            object: "Case", externalIdField: "Call_Id__c", records: Array(records[0..<3]))
        #expect(again.map(\.created) == [false, false, false])
        #expect(again.map(\.id) == outcomes[0..<3].map(\.id))
        #expect(try standIn.counts("Case/Call_Id__c/c-0") == (2, 2))
    }

    @Test func duplicatedExternalIdIsA300NeverRetried() throws {
        let standIn = try StandIn()
        try standIn.seed(object: "Case", field: "Call_Id__c", value: "twice", copies: 2)
        let recorder = SleepRecorder()
        let client = try standIn.client(recorder: recorder)
        let outcome = try client.upsert(
            object: "Case", externalIdField: "Call_Id__c", externalId: "twice", fields: ["Subject": .string("x")])
        #expect(!outcome.succeeded && outcome.status == 300 && outcome.attempts == 1)
        #expect(outcome.id == nil && outcome.created == nil)
        #expect(outcome.errors.first?.code == "MULTIPLE_CHOICES")
        #expect(outcome.errorText?.contains("matches 2 Case records") == true)
        #expect(recorder.delays.isEmpty)
        #expect(try standIn.counts("Case/Call_Id__c/twice") == (1, 0))
    }

    @Test func invalidNamesAndValuesAreRefusedBeforeSending() throws {
        let standIn = try StandIn()
        let client = try standIn.client(recorder: SleepRecorder())
        #expect(throws: SalesforceError.invalidName(kind: "object", name: "Case/../User")) {
            try client.upsert(object: "Case/../User", externalIdField: "Call_Id__c", externalId: "1", fields: [:])
        }
        #expect(throws: SalesforceError.emptyExternalId(object: "Case", externalIdField: "Call_Id__c")) {
            try client.upsert(object: "Case", externalIdField: "Call_Id__c", externalId: "", fields: [:])
        }
        #expect(throws: SalesforceError.nonFiniteNumber(field: "Score__c")) {
            try client.upsert(
                object: "Case", externalIdField: "Call_Id__c", externalId: "1", fields: ["Score__c": .double(.nan)])
        }
        #expect(try standIn.stats()["total"] as? Int == 0)
    }
}
