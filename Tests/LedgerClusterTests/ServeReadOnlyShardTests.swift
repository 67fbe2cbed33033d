// `call-ledger serve --ledger SHARD --read-only --cluster FILE` beside the shard's running `cluster writer`: a raw
// transcript read publishes its access.granted to the shard's stream and answers only once the writer appended it
// to the ledger it serves; with the writer stopped, the same read waits its bound and answers 503, opening nothing.
import Foundation
import LedgerTestSupport
import Testing

extension ClusterTests {
    @Test func aReadOnlyShardServerLogsPersonalDataReadsThroughTheClusterBeforeAnswering() async throws {
        let cluster = try LocalCluster()
        let (config, ledgers, writers) = try startShardWriters(cluster, name: "readonly", shards: 1)
        var running = writers
        defer { stopWriters(running) }
        let intake = try ClusterServeProcess(config: config, scratch: cluster.scratch)
        let call = "c-shard-ro-1"
        let lines = [
            #"{"type":"call.started","call":"\#(call)","tenant":"acme-bank","source":"test/1","idempotency":"\#(call):started","occurred":"2026-11-26T09:00:00.000Z","body":{"channel":"VOICE","initiated_at":"2026-11-26T09:00:00Z","queue":{"name":"Cards"},"agent":{"id":"id-jdoe","name":"jdoe"}}}"#,
            #"{"type":"transcript.segment","call":"\#(call)","tenant":"acme-bank","source":"test/1","idempotency":"\#(call):seg-1","occurred":"2026-11-26T09:00:05.000Z","body":{"utterance":"u1","final":true,"role":"customer","start_ms":1000,"end_ms":3000,"text":[{"text":"my name is "},{"text":"Jane Roe","pii":"name"}],"provider":"test"}}"#,
        ]
        let posted = try await intake.post(lines, query: "ack=durable&ack_timeout=30")
        #expect(posted.status == 200 && posted.body.contains("durable"), "\(posted.body)")
        // The shard's ledger is held by its writer: the read-only server opens it beside it.
        let reader = try ClusterServeProcess(
            config: config, scratch: cluster.scratch, extraArguments: ["--ledger", ledgers[0], "--read-only"],
            log: "serve-readonly.log")
        let redacted = try await reader.request(
            "GET", "/v1/calls/\(call)/transcript", token: ClusterServeProcess.qaKey)
        #expect(redacted.status == 200 && redacted.body.contains("[REDACTED:name]"), "\(redacted.body)")
        let raw = try await reader.request(
            "GET", "/v1/calls/\(call)/transcript?view=raw&purpose=subject%20access%20request",
            token: ClusterServeProcess.complianceKey)
        #expect(raw.status == 200 && raw.body.contains("Jane Roe"), "\(raw.status) \(raw.body)")
        // The access is in the shard's ledger, appended by its writer (the reader holds no writer).
        let keys = try ledgerKeys(ledgers[0]).keys
        #expect(keys.contains { $0.hasPrefix("access:") }, "\(keys)")
        // A write is refused, naming where writes go.
        let write = try await reader.post(lines, query: "ack=replicated")
        #expect(write.status == 503 && write.body.contains("serve --cluster"), "\(write.body)")

        // Without the writer the access cannot become durable: the read waits its bound, then 503, no data.
        stopWriters(running)
        running = []
        let refused = try await reader.request(
            "GET", "/v1/calls/\(call)/transcript?view=raw&purpose=subject%20access%20request",
            token: ClusterServeProcess.complianceKey)
        #expect(refused.status == 503 && refused.body.contains("did not reach"), "\(refused.status) \(refused.body)")
        #expect(!refused.body.contains("Jane Roe"))
    }
}
