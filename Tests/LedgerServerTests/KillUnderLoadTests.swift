// `call-ledger serve` killed under load: concurrent clients POST /v1/events on loopback while the server is
// killed with SIGKILL at random moments and restarted on the same ledger; every event that was acknowledged is
// in the ledger and `call-ledger verify` passes. SIGTERM under load lets the requests in flight finish, loses
// nothing acknowledged and exits 0.
import Foundation
import LedgerTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What the load clients saw: the idempotency keys acknowledged, and whether to stop.
final class LoadRecord: @unchecked Sendable {
    private let lock = NSLock()
    private var keys: Set<String> = []
    private var stopped = false

    func acknowledge(_ new: [String]) { lock.withLock { keys.formUnion(new) } }
    var acknowledged: Set<String> { lock.withLock { keys } }
    func stop() { lock.withLock { stopped = true } }
    var isStopped: Bool { lock.withLock { stopped } }
}

@Suite("serve: killed under load", .serialized)
struct KillUnderLoadTests {
    static let clients = 4
    static let batch = 5

    /// A transcript segment of call `load-CLIENT` with a key of its own.
    static func line(client: Int, number: Int, round: Int) -> String {
        #"{"type":"transcript.segment","call":"load-\#(client)","tenant":"acme-bank","source":"test/1","idempotency":"load-\#(round)-\#(client)-\#(number)","occurred":"2026-11-26T09:00:05.000Z","body":{"utterance":"u\#(number)","final":true,"role":"agent","start_ms":1000,"end_ms":3000,"text":"hello \#(number)","provider":"test"}}"#
    }

    /// Runs `clients` posting batches to `port` until `record` stops or a request fails (the server is gone).
    static func load(port: Int, round: Int, record: LoadRecord) async {
        await withTaskGroup(of: Void.self) { group in
            for client in 0..<clients {
                group.addTask {
                    var number = 0
                    while !record.isStopped {
                        let lines = (0..<batch).map { line(client: client, number: number + $0, round: round) }
                        number += batch
                        guard let url = URL(string: "http://127.0.0.1:\(port)/v1/events") else { return }
                        var request = URLRequest(url: url)
                        request.httpMethod = "POST"
                        request.timeoutInterval = 20
                        request.setValue("Bearer \(Tokens.key(.ingest))", forHTTPHeaderField: "Authorization")
                        request.setValue("application/x-ndjson", forHTTPHeaderField: "Content-Type")
                        request.httpBody = Data((lines.joined(separator: "\n") + "\n").utf8)
                        guard let (data, response) = try? await URLSession.shared.data(for: request),
                            (response as? HTTPURLResponse)?.statusCode == 200
                        else { return }
                        let acked = String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
                            line -> String? in
                            guard let object = try? jsonObject(line), object["seq"] != nil else { return nil }
                            return object["idempotency"] as? String
                        }
                        record.acknowledge(acked)
                    }
                }
            }
        }
    }

    /// The idempotency keys the ledger holds, and whether `call-ledger verify` passes.
    static func stored(_ ledger: String) throws -> (keys: Set<String>, verified: Bool) {
        let verify = try callLedger("verify", "--ledger", ledger)
        return (Set(try idempotencyKeys(try ledgerEvents(ledger))), verify.status == 0)
    }

    @Test func killedServerKeepsEveryAcknowledgedEvent() async throws {
        let first = try ServerProcess()
        let ledger = first.ledger
        let record = LoadRecord()
        var server = first
        for round in 0..<10 {
            if round > 0 { server = try ServerProcess(existingLedger: ledger) }
            let port = server.port
            let running = Task { await Self.load(port: port, round: round, record: record) }
            try await Task.sleep(for: .milliseconds(Int.random(in: 100...600)))
            kill(server.process.processIdentifier, SIGKILL)
            server.process.waitUntilExit()
            await running.value
        }
        let acknowledged = record.acknowledged
        #expect(acknowledged.count > 0)
        let (keys, verified) = try Self.stored(ledger)
        #expect(verified, "call-ledger verify failed after the kills")
        let lost = acknowledged.subtracting(keys)
        #expect(lost.isEmpty, "acknowledged but missing: \(lost.sorted().prefix(5))")
        withExtendedLifetime(first) {}
    }

    @Test func sigtermUnderLoadLosesNothingAndExitsZero() async throws {
        let server = try ServerProcess()
        let record = LoadRecord()
        let port = server.port
        let running = Task { await Self.load(port: port, round: 0, record: record) }
        try await Task.sleep(for: .milliseconds(400))
        let status = server.terminate()
        record.stop()
        await running.value
        #expect(status == 0, "\(server.log)")
        let acknowledged = record.acknowledged
        #expect(acknowledged.count > 0)
        let (keys, verified) = try Self.stored(server.ledger)
        #expect(verified)
        #expect(acknowledged.subtracting(keys).isEmpty)
    }
}
