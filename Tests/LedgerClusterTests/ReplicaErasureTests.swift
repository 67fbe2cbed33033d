// Erasure on a replicated shard, on a real 3-node NATS cluster: the shard's writer runs retention between
// batches and brings the replica in line (shredded keys erased from the replica stream, changed segment chunks
// erased and published again); afterwards no file of the writer's ledger nor of any nats-server store holds the
// erased call's wrapped keys or ciphertext, and a restore from the replica is byte-identical with the same roots;
// a writer killed in the middle of the replica erasure leaves work the next writer finishes; the intake stream
// keeps no plaintext of what the replica holds, and no message below the `intake_erased_below` the writer
// publishes, however many pipelined erase requests one step took.
import Foundation
import LedgerCluster
import LedgerTestSupport
import NATSClient
import Testing

private let policies = Repository.root.appendingPathComponent("Projections/retention").path
private let erasureTime = "2027-03-01T00:00:00Z"

/// A replicated shard with one call assigned a policy under which some of its classes are due at `erasureTime`,
/// and what erasing them must remove, read before the erasure.
private struct ShardToErase {
    let cluster: LocalCluster
    let config: String
    let ledger: String
    /// The call to erase.
    let call: String
    /// Wrapped keys (hex) of its due classes.
    let wrapped: [String]
    /// The same as the replica carries them: base64 text.
    var wrappedBase64: [Data] { wrapped.map { Data(hexBytes($0).base64EncodedString().utf8) } }
    /// The first 48 bytes of each of its due parts' ciphertext (nonce, then ciphertext).
    let ciphertext: [Data]

    init(name: String) throws {
        cluster = try LocalCluster()
        config = try cluster.configuration(name: name, shards: 1)
        ledger = cluster.scratch.file("ledger")
        let made = try callLedger("init", ledger, "--segment-size", "16384")
        try #require(made.status == 0, "\(made.stderr)")
        let lines = simulatedLines(calls: 8, seed: 61)
        let published = try callLedger(
            "cluster", "publish", "--config", config, try writeLines(lines, to: cluster.scratch.file("calls.jsonl")))
        try #require(published.status == 0, "\(published.stderr)")
        let writer = try Child([
            "cluster", "writer", "--config", config, "--shard", "0", "--ledger", ledger, "--stop-when-idle", "2",
        ])
        let written = writer.finish()
        try #require(written.status == 0, "\(written.stderr)")

        // The first acme-bank call whose due ciphertext the replica holds.
        let calls = try callLedger("calls", "--ledger", ledger, "--json").stdout
        let candidates = try (JSONSerialization.jsonObject(with: Data(calls.utf8)) as? [[String: Any]] ?? [])
            .filter { $0["tenant"] as? String == "acme-bank" }.compactMap { $0["call"] as? String }
        let store = try allBytes(under: cluster.scratch.file("nats"))
        let payloads = try sealedPayloads(directory: ledger)
        var chosen: (String, [Data])?
        for call in candidates {
            let parts = payloads.filter { $0.hasPrefix(call + " pii.") }.map {
                hexBytes(String($0.split(separator: " ")[2])).prefix(48)
            }
            if !parts.isEmpty && parts.contains(where: { store.contains($0) }) {
                chosen = (call, parts.map { Data($0) })
                break
            }
        }
        let (call, ciphertext) = try #require(chosen, "no acme-bank call has sealed pii parts in a replicated segment")
        self.call = call
        self.ciphertext = ciphertext
        let assigned = try callLedger(
            "retention", "assign", "--ledger", ledger, "--policy", policies + "/gdpr-storage-limitation.yaml", "--call",
            call)
        try #require(assigned.status == 0, "\(assigned.stderr)")
        let plan = try callLedger(
            "retention", "plan", "--ledger", ledger, "--policies", policies, "--now", erasureTime, "--json")
        let due = try (JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [[String: Any]] ?? [])
            .filter { $0["status"] as? String == "due" }.map { "\($0["call"] ?? "") \($0["data_class"] ?? "")" }
        try #require(!due.isEmpty && due.allSatisfy { $0.hasPrefix(call + " ") }, "\(due)")
        let keys = try wrappedKeys(directory: ledger)
        wrapped = due.compactMap { keys[$0] }
        try #require(wrapped.count == due.count)
        try #require(wrappedBase64.allSatisfy { store.contains($0) }, "the replica lacks a wrapped key")
    }

    /// Runs the shard's writer with retention due at `erasureTime`, until idle; returns how it ended.
    func eraseThroughTheWriter(
        environment: [String: String] = [:]
    ) throws -> (
        status: Int32, lines: [String], stderr: String
    ) {
        let writer = try Child(
            [
                "cluster", "writer", "--config", config, "--shard", "0", "--ledger", ledger, "--stop-when-idle", "2",
                "--policies", policies, "--retention-every", "3600", "--retention-now", erasureTime,
            ], environment: environment)
        return writer.finish()
    }

    /// Expects no file of the writer's ledger and, within `timeout` seconds (the servers compact their RAFT logs
    /// once the writer's filler reaches them), no file of any nats-server store to hold the erased bytes.
    func expectErasedEverywhere(timeout: Double = 15) throws {
        let disk = try allBytes(under: ledger)
        for key in wrapped { #expect(!disk.contains(hexBytes(key)), "a wrapped key is still in the writer's ledger") }
        for part in ciphertext { #expect(!disk.contains(part), "ciphertext is still in the writer's ledger") }
        let deadline = Date().addingTimeInterval(timeout)
        var left: [String] = []
        repeat {
            left = []
            for node in 1...3 {
                let store = try allBytes(under: cluster.scratch.file("nats/n\(node)"))
                if wrappedBase64.contains(where: { store.contains($0) }) { left.append("n\(node): a wrapped key") }
                if ciphertext.contains(where: { store.contains($0) }) { left.append("n\(node): ciphertext") }
            }
            if left.isEmpty { return }
            usleep(500_000)
        } while Date() < deadline
        Issue.record("erased bytes still in the nats-server stores after \(timeout) s: \(left)")
    }

    /// Restores the shard into a new directory and expects its replicated segments byte-identical to the writer's,
    /// the same root at the end of the replicated part, and `verify` to pass.
    func expectRestoreIdentical() throws {
        try expectRestoreIdenticalToTheWriter(cluster: cluster, config: config, ledger: ledger)
    }

    /// The customer's number in the erased call's `call.started` event (in no other call's events): plaintext that
    /// only the intake stream ever held.
    func customerNumber() throws -> Data {
        try startedCustomerNumber(of: call, in: simulatedLines(calls: 8, seed: 61))
    }

    /// The replica state `cluster status --json` shows for the shard.
    func replicaStatus() throws -> [String: Any] {
        try #require(try clusterStatus(config).first?["replica"] as? [String: Any])
    }
}

/// Restores shard 0 of `config` into a new directory and expects its replicated segments byte-identical to those of
/// the writer's `ledger`, the same root at the end of the replicated part, and `verify` to pass; returns the restored
/// directory and the restore's report.
@discardableResult
private func expectRestoreIdenticalToTheWriter(
    cluster: LocalCluster, config: String, ledger: String
) throws -> (directory: String, report: [String: Any]) {
    let restored = cluster.scratch.file("restored-\(UUID().uuidString)")
    try FileManager.default.copyItem(atPath: ledger + ".key", toPath: restored + ".key")
    let restore = try callLedger("cluster", "restore", "--config", config, "--shard", "0", "--dir", restored)
    try #require(restore.status == 0, "\(restore.stderr)")
    let report = try jsonObject(restore.stdout)
    let segments = report["segments"] as? Int ?? 0
    let restoredEvents = report["restored_events"] as? Int ?? 0
    #expect(segments >= 2, "\(report)")
    let names = try FileManager.default.contentsOfDirectory(atPath: ledger + "/segments").sorted()
        .filter { $0.hasSuffix(".zst") }
    for name in names.prefix(segments) {
        let left = try Data(contentsOf: URL(fileURLWithPath: ledger + "/segments/" + name))
        let right = try Data(contentsOf: URL(fileURLWithPath: restored + "/segments/" + name))
        #expect(left == right, "segment \(name) differs from the writer's")
    }
    var roots: [String] = []
    for directory in [ledger, restored] {
        let signed = try callLedger("checkpoint", "--ledger", directory, "--json")
        #expect(signed.status == 0, "\(signed.stderr)")
        let size = try jsonObject(signed.stdout)["tree_size"] as? Int ?? 0
        let proof = try callLedger(
            "prove", "consistency", "--ledger", directory, "--from", "\(restoredEvents)", "--to", "\(size)")
        #expect(proof.status == 0, "\(proof.stderr)")
        roots.append(try jsonObject(proof.stdout)["from_root_hash"] as? String ?? "")
    }
    #expect(roots.count == 2 && roots[0] == roots[1] && !roots[0].isEmpty, "\(roots)")
    let contents = try ledgerKeys(restored)
    #expect(contents.verified, "\(contents.verifyOutput)")
    return (restored, report)
}

/// The customer's number in `call`'s `call.started` event among `lines` (in no other call's events): plaintext that
/// only the intake stream ever held.
private func startedCustomerNumber(of call: String, in lines: [String]) throws -> Data {
    let started = try #require(
        lines.first { $0.contains("\"type\":\"call.started\"") && $0.contains("\"call\":\"\(call)\"") })
    let event = try jsonObject(started)
    let body = try #require(event["body"] as? [String: Any])
    let endpoint = try #require(body["customer_endpoint"] as? [String: Any])
    let number = try #require(endpoint["address"] as? String)
    try #require(lines.filter { $0.contains(number) }.allSatisfy { $0.contains(call) })
    return Data(number.utf8)
}

/// The nats-server nodes (`n1` to `n3`) of `cluster` some file of whose store holds `bytes`, after waiting up to
/// `timeout` seconds for none to (the servers compact their RAFT logs once the writer's filler reaches them).
private func nodesHolding(_ bytes: Data, in cluster: LocalCluster, timeout: Double = 15) throws -> [String] {
    let deadline = Date().addingTimeInterval(timeout)
    var left: [String] = []
    repeat {
        left = try (1...3).filter { try allBytes(under: cluster.scratch.file("nats/n\($0)")).contains(bytes) }
            .map { "n\($0)" }
        if left.isEmpty { break }
        usleep(500_000)
    } while Date() < deadline
    return left
}

extension ReplicaClusterTests {
    @Test func erasingACallOnAReplicatedShardLeavesNoErasedByteAnywhereAndRestoresIdentically() throws {
        let shard = try ShardToErase(name: "erase")
        let erased = try shard.eraseThroughTheWriter()
        #expect(erased.status == 0, "\(erased.stderr)")
        #expect(erased.stderr.contains("replica erasure: \(shard.wrapped.count) keys erased"), "\(erased.stderr)")
        try shard.expectErasedEverywhere()
        try shard.expectRestoreIdentical()
        let replica = try shard.replicaStatus()
        #expect(replica["pending_erasures"] as? Int == 0, "\(replica)")
        #expect(replica["keys_erased"] as? Int == shard.wrapped.count, "\(replica)")
        #expect((replica["chunks_replaced"] as? Int ?? 0) > 0, "\(replica)")
        #expect(replica["segments_replicated"] as? Int == replica["segments_sealed"] as? Int, "\(replica)")
        let text = try callLedger("cluster", "status", "--config", shard.config)
        #expect(text.stdout.contains("pending_erasures 0"), "\(text.stdout)")
    }

    @Test func aWriterKilledInTheMiddleOfTheReplicaErasureIsFinishedByTheNextWriter() throws {
        let shard = try ShardToErase(name: "erasekill")
        // The writer kills itself (SIGKILL) right after erasing the first old chunk of a changed segment, before
        // publishing its new bytes: the replica lacks that chunk and still names the erasure pending.
        let killed = try shard.eraseThroughTheWriter(environment: ["CALL_LEDGER_REPLICA_FAULT": "chunk-erased"])
        #expect(killed.status == SIGKILL, "\(killed.stderr)")
        let pending = try shard.replicaStatus()
        #expect((pending["pending_erasures"] as? Int ?? 0) > 0, "\(pending)")

        // The next writer, with no retention of its own, compares the ledger with the replica and finishes.
        let next = try Child([
            "cluster", "writer", "--config", shard.config, "--shard", "0", "--ledger", shard.ledger,
            "--stop-when-idle", "2",
        ])
        let finished = next.finish()
        #expect(finished.status == 0, "\(finished.stderr)")
        #expect(finished.stderr.contains("replica erasure:"), "\(finished.stderr)")
        #expect(try shard.replicaStatus()["pending_erasures"] as? Int == 0)
        try shard.expectErasedEverywhere()
        try shard.expectRestoreIdentical()
    }

    @Test func erasingACallLeavesNoneOfItsPlaintextInTheIntakeOfAnyServerAndKeptCallsStillRestore() throws {
        let shard = try ShardToErase(name: "eraseintake")
        let number = try shard.customerNumber()
        let erased = try shard.eraseThroughTheWriter()
        #expect(erased.status == 0, "\(erased.stderr)")
        let left = try nodesHolding(number, in: shard.cluster)
        #expect(left.isEmpty, "the erased call's customer number is still in the stores of \(left) after 15 s")
        let replica = try shard.replicaStatus()
        #expect((replica["intake_erased_below"] as? Int ?? 0) > 1, "\(replica)")
        try shard.expectRestoreIdentical()
    }

    @Test func aStepErasingManyRunsOfTheIntakeLeavesNoMessageBelowTheFloorItPublishes() throws {
        let cluster = try LocalCluster()
        let config = try cluster.configuration(name: "intakeruns", shards: 1)
        let ledger = cluster.scratch.file("ledger")
        let made = try callLedger("init", ledger, "--segment-size", "16384")
        try #require(made.status == 0, "\(made.stderr)")
        let lines = simulatedLines(calls: 3, seed: 29)
        try #require(lines.count > 1500, "only \(lines.count) events")
        let published = try callLedger(
            "cluster", "publish", "--config", config, try writeLines(lines, to: cluster.scratch.file("calls.jsonl")))
        try #require(published.status == 0, "\(published.stderr)")
        // Batches of 1024 events seal several segments each, so a step erases up to its cap of 1024 messages:
        // four runs of 256, each with only 4 erase requests in flight at once.
        let writer = try Child([
            "cluster", "writer", "--config", config, "--shard", "0", "--ledger", ledger, "--stop-when-idle", "2",
            "--batch", "1024", "--intake-erasures-in-flight", "4",
        ])
        let written = writer.finish()
        try #require(written.status == 0, "\(written.stderr)")
        let steps = written.stderr.split(separator: "\n").compactMap { line in
            line.split(separator: "intake: erased ").last.flatMap { Int($0.split(separator: " ")[0]) }
        }
        #expect(steps.contains { $0 > 256 }, "no step erased more than one run: \(steps)")
        let replica = try #require(try clusterStatus(config).first?["replica"] as? [String: Any])
        let below = try #require(replica["intake_erased_below"] as? Int, "\(replica)")
        #expect(below > 1000 && steps.reduce(0, +) == below - 1, "\(replica) \(steps)")

        let configuration = try ClusterConfiguration.load(path: config)
        let connection = try NATSConnection(servers: cluster.urls, name: "intake check")
        let stream = configuration.streamName(shard: 0)
        let kept = try [configuration.subject(shard: 0), configuration.flushSubject(shard: 0)].flatMap {
            try connection.messages(stream: stream, subject: $0).map(\.streamSequence)
        }
        let left = kept.filter { $0 < UInt64(below) }
        #expect(left.count == 0, "intake messages below \(below) are still in the stream: \(left.prefix(8))…")
        #expect(!kept.isEmpty, "the intake kept nothing at or above \(below)")
    }
}

/// A replicated shard whose last call (of an EU tenant, assigned a policy under which its personal data is due at
/// `erasureTime`) has all its events in the writer's active segment, which a quiet shard does not seal.
private struct ShardWithAnActiveCall {
    let cluster: LocalCluster
    let config: String
    let ledger: String
    /// The last call's lines, its id and its customer's number (plaintext that only the intake ever held).
    let late: [String]
    let call: String
    let number: Data
    /// The call's seqs in the ledger.
    let seqs: [Int]

    init(name: String) throws {
        cluster = try LocalCluster()
        config = try cluster.configuration(name: name, shards: 1)
        ledger = cluster.scratch.file("ledger")
        let made = try callLedger("init", ledger, "--segment-size", "16384")
        try #require(made.status == 0, "\(made.stderr)")
        // Earlier calls fill segments the writer seals and replicates; then one short call of an EU tenant, one
        // batch, so one frame in the active segment.
        let early = simulatedLines(calls: 8, seed: 61)
        late = try #require(
            (UInt64(71)..<100).lazy.map { simulatedLines(calls: 1, seed: $0, callSeconds: 10...20) }.first {
                $0.count < 64 && $0.allSatisfy { $0.contains("\"tenant\":\"acme-bank\"") }
            })
        for (file, lines) in [("early", early), ("late", late)] {
            let published = try callLedger(
                "cluster", "publish", "--config", config, try writeLines(lines, to: cluster.scratch.file(file)))
            try #require(published.status == 0, "\(published.stderr)")
            let written = try Child([
                "cluster", "writer", "--config", config, "--shard", "0", "--ledger", ledger, "--stop-when-idle", "2",
            ]).finish()
            try #require(written.status == 0, "\(written.stderr)")
        }
        call = try #require(try decodeLines(late).first?.call)
        let number = try startedCustomerNumber(of: call, in: late)
        try #require(!early.contains { $0.contains(String(decoding: number, as: UTF8.self)) })
        self.number = number
        let segments = try FileManager.default.contentsOfDirectory(atPath: ledger + "/segments").sorted()
        let active = try #require(segments.last.flatMap { Int($0.prefix(20)) })
        let events = try callLedger("cat", "--ledger", ledger, "--call", call).stdout.split(separator: "\n")
        seqs = try events.compactMap { try jsonObject($0)["seq"] as? Int }
        try #require(seqs.count == late.count && seqs.allSatisfy { $0 >= active }, "\(seqs) vs \(active)")
        try #require(try nodesHolding(number, in: cluster, timeout: 0).count == 3, "the intake lacks the call")
        let assigned = try callLedger(
            "retention", "assign", "--ledger", ledger, "--policy", policies + "/gdpr-storage-limitation.yaml", "--call",
            call)
        try #require(assigned.status == 0, "\(assigned.stderr)")
    }

    /// Runs the shard's writer until idle, with retention due at `erasureTime` when `retention` is set.
    func runWriter(
        retention: Bool, environment: [String: String] = [:]
    ) throws -> (status: Int32, lines: [String], stderr: String) {
        let options = ["--policies", policies, "--retention-every", "3600", "--retention-now", erasureTime]
        return try Child(
            ["cluster", "writer", "--config", config, "--shard", "0", "--ledger", ledger, "--stop-when-idle", "2"]
                + (retention ? options : []), environment: environment
        ).finish()
    }

    /// Expects no file of any nats-server store (within 15 s) nor of the writer's ledger to hold the customer's
    /// number, and a restore onto an empty directory to hold the call's events as the writer does (erased, the
    /// same roots for the replicated part), none appended again.
    func expectErasedAndNotRestored() throws {
        let left = try nodesHolding(number, in: cluster)
        #expect(left.isEmpty, "the erased call's customer number is still in the stores of \(left) after 15 s")
        #expect(!(try allBytes(under: ledger).contains(number)), "the writer's ledger holds the customer number")
        let (restored, report) = try expectRestoreIdenticalToTheWriter(cluster: cluster, config: config, ledger: ledger)
        #expect((report["restored_events"] as? Int ?? 0) > seqs.max() ?? .max, "\(report)")
        #expect(!(try allBytes(under: restored).contains(number)), "the restored ledger holds the customer number")
        let shown = try callLedger("cat", "--ledger", restored, "--call", call)
        #expect(shown.status == 0 && !shown.stdout.contains(String(decoding: number, as: UTF8.self)), "\(shown.stdout)")
        let keys = try shown.stdout.split(separator: "\n").compactMap { try jsonObject($0)["idempotency"] as? String }
        #expect(Set(keys).isSuperset(of: try decodeLines(late).map(\.idempotency)), "\(keys)")
        #expect(keys.count == Set(keys).count, "an event of the call is in the restored ledger twice: \(keys)")
    }
}

extension ReplicaClusterTests {
    @Test func erasingACallWhoseEventsAreOnlyInTheActiveSegmentLeavesItsPlaintextNowhereAndARestoreDoesNotBringItBack()
        throws
    {
        let shard = try ShardWithAnActiveCall(name: "eraseactive")
        let erased = try shard.runWriter(retention: true)
        #expect(erased.status == 0, "\(erased.stderr)")
        #expect(erased.stderr.contains("retention erased"), "\(erased.stderr)")
        try shard.expectErasedAndNotRestored()
    }

    /// Killed right after sealing (before the replica holds the sealed segment), or after erasing the first intake
    /// message (the replica holds it, the intake's filler is not published yet), the writer leaves work that the
    /// next one, without retention of its own, finds and finishes.
    @Test(arguments: ["sealed-for-erasure", "intake-erased"])
    func aWriterKilledWhileSealingForAnErasureIsFinishedByTheNextWriter(fault: String) throws {
        let shard = try ShardWithAnActiveCall(name: "sealkill")
        let killed = try shard.runWriter(retention: true, environment: ["CALL_LEDGER_REPLICA_FAULT": fault])
        #expect(killed.status == SIGKILL, "\(killed.stderr)")
        let next = try shard.runWriter(retention: false)
        #expect(next.status == 0, "\(next.stderr)")
        let replica = try #require(try clusterStatus(shard.config).first?["replica"] as? [String: Any])
        #expect(replica["pending_erasures"] as? Int == 0, "\(replica)")
        try shard.expectErasedAndNotRestored()
    }
}
