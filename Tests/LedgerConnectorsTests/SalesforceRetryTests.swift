// SalesforceClient's retries against the stand-in's injected faults: 429 with Retry-After, 500, dropped
// connections and slow responses are retried with the waits the policy gives; 401 and exhausted retries are thrown.
import Foundation
import LedgerConnectors
import LedgerTestSupport
import Testing

@Suite struct SalesforceRetryTests {
    @Test func throttledTwiceHonoursRetryAfterThenSucceeds() throws {
        let standIn = try StandIn()
        try standIn.faults(["fail_next": 2, "fail_status": 429, "retry_after": 2])
        let recorder = SleepRecorder()
        let client = try standIn.client(recorder: recorder)
        let outcome = try client.upsert(
            object: "Case", externalIdField: "Call_Id__c", externalId: "t-1", fields: ["Subject": .string("x")])
        #expect(outcome.succeeded && outcome.created == true && outcome.attempts == 3 && outcome.status == 201)
        #expect(recorder.delays == [.seconds(2), .seconds(2)])
        #expect(try standIn.counts("Case/Call_Id__c/t-1") == (3, 1))
    }

    @Test func retryAfterIsCapped() throws {
        let standIn = try StandIn()
        try standIn.faults(["fail_next": 1, "fail_status": 429, "retry_after": 3600])
        let recorder = SleepRecorder()
        let client = try standIn.client(
            policy: RetryPolicy(maxAttempts: 2, retryAfterCap: .seconds(30)), recorder: recorder)
        let outcome = try client.upsert(
            object: "Case", externalIdField: "Call_Id__c", externalId: "t-2", fields: [:])
        #expect(outcome.succeeded && outcome.attempts == 2)
        #expect(recorder.delays == [.seconds(30)])
    }

    @Test func serverErrorIsRetriedWithJitteredBackoff() throws {
        let standIn = try StandIn()
        try standIn.faults(["fail_next": 2, "fail_status": 500])
        let recorder = SleepRecorder()
        let client = try standIn.client(recorder: recorder, random: 0.5)
        let outcome = try client.upsert(
            object: "Case", externalIdField: "Call_Id__c", externalId: "s-1", fields: ["Subject": .string("x")])
        #expect(outcome.succeeded && outcome.attempts == 3)
        #expect(recorder.delays == [.milliseconds(50), .milliseconds(100)])
        #expect(try standIn.counts("Case/Call_Id__c/s-1") == (3, 1))
    }

    @Test func droppedConnectionIsRetried() throws {
        let standIn = try StandIn()
        try standIn.faults(["drop_next": 1])
        let recorder = SleepRecorder()
        let client = try standIn.client(recorder: recorder)
        let outcome = try client.upsertCollection(
            object: "Case", externalIdField: "Call_Id__c",
            records: [CRMRecord(externalId: "d-1", fields: [:]), CRMRecord(externalId: "d-2", fields: [:])])
        #expect(outcome.map(\.succeeded) == [true, true] && outcome.map(\.attempts) == [2, 2])
        #expect(recorder.delays.count == 1)
        #expect(try standIn.counts("Case/Call_Id__c/d-1") == (2, 1))
    }

    @Test func slowResponseTimesOutThenTheRetryUpdates() throws {
        let standIn = try StandIn()
        try standIn.faults(["delay_ms": 5000, "delay_next": 1])
        let recorder = SleepRecorder()
        let client = try standIn.client(timeout: .seconds(1), recorder: recorder)
        let outcome = try client.upsert(
            object: "Case", externalIdField: "Call_Id__c", externalId: "slow", fields: ["Subject": .string("x")])
        // The stand-in applied the first request before its late answer, so the retry finds the record: the
        // upsert by external id makes the second write an update, never a second record.
        #expect(outcome.succeeded && outcome.attempts == 2 && outcome.created == false)
        #expect(recorder.delays.count == 1)
        #expect(try standIn.records(object: "Case").count == 1)
    }

    @Test func wrongTokenIsA401NotRetried() throws {
        let standIn = try StandIn()
        let recorder = SleepRecorder()
        let client = try standIn.client(token: "expired", recorder: recorder)
        let expected = SalesforceError.unauthorized(
            status: 401,
            errors: [SalesforceRecordError(code: "INVALID_SESSION_ID", message: "Session expired or invalid")])
        #expect(throws: expected) {
            try client.upsert(object: "Case", externalIdField: "Call_Id__c", externalId: "a", fields: [:])
        }
        #expect(expected.description.contains("CALL_LEDGER_CRM_TOKEN"))
        #expect(recorder.delays.isEmpty)
        #expect(try standIn.stats()["total"] as? Int == 1)
        #expect(try standIn.records(object: "Case").isEmpty)
    }

    @Test func exhaustedRetriesAreThrown() throws {
        let standIn = try StandIn()
        try standIn.faults(["fail_next": 10, "fail_status": 503])
        let recorder = SleepRecorder()
        let client = try standIn.client(
            policy: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10)), recorder: recorder)
        let error = #expect(throws: SalesforceError.self) {
            try client.upsert(object: "Case", externalIdField: "Call_Id__c", externalId: "e", fields: [:])
        }
        guard case .retriesExhausted(let attempts, let lastFailure) = error else {
            Issue.record("expected retriesExhausted, got \(String(describing: error))")
            return
        }
        #expect(attempts == 3 && lastFailure.contains("HTTP 503") && lastFailure.contains("SERVER_UNAVAILABLE"))
        #expect(recorder.delays.count == 2)
        #expect(try standIn.counts("Case/Call_Id__c/e") == (3, 0))
    }

    @Test func refusedConnectionIsRetriedThenThrown() throws {
        let recorder = SleepRecorder()
        let client = try SalesforceClient(
            configuration: .init(instanceURL: "http://127.0.0.1:1", token: "t"),
            retryPolicy: RetryPolicy(maxAttempts: 2), sleep: { recorder.delays.append($0) }, random: { 0 })
        let error = #expect(throws: SalesforceError.self) {
            try client.upsert(object: "Case", externalIdField: "Call_Id__c", externalId: "r", fields: [:])
        }
        guard case .retriesExhausted(2, let lastFailure) = error else {
            Issue.record("expected retriesExhausted after 2 attempts, got \(String(describing: error))")
            return
        }
        #expect(lastFailure.contains("cannot connect"))
        #expect(recorder.delays == [.zero])
    }
}
