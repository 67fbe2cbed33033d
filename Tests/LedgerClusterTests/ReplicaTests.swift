// The replicated ledger on a real 3-node NATS cluster: a shard's writer copies sealed segments, tree entries,
// checkpoints and keys to JetStream; `call-ledger cluster restore` rebuilds the shard in an empty directory and
// replays the intake it did not hold.
import Foundation
import LedgerTestSupport
import Testing

extension ReplicaClusterTests {
    @Test func aRestoredShardHasTheSameSegmentsAndRootsAndReplaysWhatTheReplicaLacked() throws {
        let cluster = try LocalCluster()
        let config = try cluster.configuration(name: "restore", shards: 1)
        let original = cluster.scratch.file("original")
        let made = try callLedger(
            "init", original, "--segment-size", "16384", "--checkpoint-every-events", "150")
        #expect(made.status == 0, "\(made.stderr)")
        let first = simulatedLines(calls: 10, seed: 41)
        let published = try callLedger(
            "cluster", "publish", "--config", config, try writeLines(first, to: cluster.scratch.file("first.jsonl")))
        #expect(published.status == 0, "\(published.stderr)")
        let writer = try Child([
            "cluster", "writer", "--config", config, "--shard", "0", "--ledger", original, "--stop-when-idle", "2",
        ])
        let written = writer.finish()
        #expect(written.status == 0, "\(written.stderr)")
        #expect(written.stderr.contains("replica holds events 0..<"), "\(written.stderr)")

        // Published after the writer stopped: only the intake stream holds these.
        let second = simulatedLines(calls: 4, seed: 42)
        let late = try callLedger(
            "cluster", "publish", "--config", config, try writeLines(second, to: cluster.scratch.file("second.jsonl")))
        #expect(late.status == 0, "\(late.stderr)")

        // The key file is not replicated: the operator brings it from where keys are kept.
        let restored = cluster.scratch.file("restored")
        try FileManager.default.copyItem(atPath: original + ".key", toPath: restored + ".key")
        let restore = try callLedger("cluster", "restore", "--config", config, "--shard", "0", "--dir", restored)
        #expect(restore.status == 0, "\(restore.stderr)")
        let report = try jsonObject(restore.stdout)
        let segments = report["segments"] as? Int ?? 0
        let restoredEvents = report["restored_events"] as? Int ?? 0
        #expect(segments >= 3, "\(report)")
        #expect((report["checkpoints"] as? Int ?? 0) >= 2, "\(report)")
        #expect((report["keys"] as? Int ?? 0) > 0, "\(report)")
        #expect(report["events"] as? Int == first.count + second.count, "\(report)")
        #expect((report["replayed"] as? Int ?? 0) >= second.count, "\(report)")

        let manager = FileManager.default
        let originalSegments = try manager.contentsOfDirectory(atPath: original + "/segments").sorted()
        let restoredSegments = try manager.contentsOfDirectory(atPath: restored + "/segments").sorted()
        #expect(originalSegments.count > segments, "the original's last segment was not sealed, so not replicated")
        for name in originalSegments.prefix(segments) {
            let left = try Data(contentsOf: URL(fileURLWithPath: original + "/segments/" + name))
            let right = try Data(contentsOf: URL(fileURLWithPath: restored + "/segments/" + name))
            #expect(left == right, "segment \(name) differs")
        }
        #expect(Array(restoredSegments.prefix(segments)) == Array(originalSegments.prefix(segments)))
        // Checkpoints the replica covers are restored as signed; the replay's writer signs its own after them.
        let checkpoints = try manager.contentsOfDirectory(atPath: restored + "/checkpoints").sorted().filter {
            (Int($0.prefix(20)) ?? .max) <= restoredEvents
        }
        #expect(checkpoints.count == report["checkpoints"] as? Int)
        for name in checkpoints {
            let left = try Data(contentsOf: URL(fileURLWithPath: original + "/checkpoints/" + name))
            let right = try Data(contentsOf: URL(fileURLWithPath: restored + "/checkpoints/" + name))
            #expect(left == right, "checkpoint \(name) differs")
        }
        let originalLeaves = try Data(contentsOf: URL(fileURLWithPath: original + "/tree/level-00.hashes"))
        let restoredLeaves = try Data(contentsOf: URL(fileURLWithPath: restored + "/tree/level-00.hashes"))
        #expect(restoredLeaves.prefix(restoredEvents * 32) == originalLeaves.prefix(restoredEvents * 32))

        // Both ledgers have the same root at the end of the replicated part. (Replayed events get the time the
        // restoring writer accepts them and fresh nonces, so later leaves differ from the original's tail.)
        let catchUp = try Child([
            "cluster", "writer", "--config", config, "--shard", "0", "--ledger", original, "--stop-when-idle", "2",
        ])
        #expect(catchUp.finish().status == 0)
        var roots: [String] = []
        for ledger in [original, restored] {
            let signed = try callLedger("checkpoint", "--ledger", ledger, "--json")
            #expect(signed.status == 0, "\(signed)")
            let size = try jsonObject(signed.stdout)["tree_size"] as? Int ?? 0
            #expect(size == first.count + second.count)
            let proof = try callLedger(
                "prove", "consistency", "--ledger", ledger, "--from", "\(restoredEvents)", "--to", "\(size)")
            #expect(proof.status == 0, "\(proof)")
            roots.append(try jsonObject(proof.stdout)["from_root_hash"] as? String ?? "")
        }
        #expect(roots.count == 2 && roots[0] == roots[1] && !roots[0].isEmpty, "\(roots)")

        let contents = try ledgerKeys(restored)
        #expect(contents.verified, "\(contents.verifyOutput)")
        let expected = try decodeLines(first + second).map(\.idempotency).sorted()
        let missing = Set(expected).subtracting(contents.keys)
        #expect(missing.isEmpty && contents.keys.count == expected.count, "\(missing.count) events missing")
        let python = try run(Repository.root.appendingPathComponent("tools/verify").path, ["ledger", restored])
        #expect(python.status == 0, "\(python.stdout) \(python.stderr)")

        let again = try callLedger("cluster", "restore", "--config", config, "--shard", "0", "--dir", restored)
        #expect(again.status == 1)
        #expect(again.stderr.contains("not empty"), "\(again.stderr)")
    }

    @Test func aWriterOnAnEmptyDiskRestoresTheShardBeforeWriting() throws {
        let cluster = try LocalCluster()
        let config = try cluster.configuration(name: "newdisk", shards: 1)
        let original = cluster.scratch.file("original")
        let made = try callLedger("init", original, "--segment-size", "16384")
        #expect(made.status == 0, "\(made.stderr)")
        let first = simulatedLines(calls: 4, seed: 51)
        let published = try callLedger(
            "cluster", "publish", "--config", config, try writeLines(first, to: cluster.scratch.file("first.jsonl")))
        #expect(published.status == 0, "\(published.stderr)")
        let old = try Child(["cluster", "writer", "--config", config, "--shard", "0", "--ledger", original])
        try waitUntilDrained(config, messages: first.count)
        old.kill9()
        old.finish()
        let second = simulatedLines(calls: 2, seed: 52)
        let late = try callLedger(
            "cluster", "publish", "--config", config, try writeLines(second, to: cluster.scratch.file("second.jsonl")))
        #expect(late.status == 0, "\(late.stderr)")

        // The old disk is gone; a writer on a new, empty one takes the lease once the old lease lapses.
        let fresh = cluster.scratch.file("fresh")
        try FileManager.default.copyItem(atPath: original + ".key", toPath: fresh + ".key")
        let writer = try Child([
            "cluster", "writer", "--config", config, "--shard", "0", "--ledger", fresh, "--stop-when-idle", "2",
        ])
        let finished = writer.finish()
        #expect(finished.status == 0, "\(finished.stderr)")
        #expect(finished.stderr.contains("from the replica"), "\(finished.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fresh + ".restoring"))
        let contents = try ledgerKeys(fresh)
        #expect(contents.verified, "\(contents.verifyOutput)")
        let expected = Set(try decodeLines(first + second).map(\.idempotency))
        #expect(Set(contents.keys) == expected && contents.keys.count == expected.count)
        let sealed = try FileManager.default.contentsOfDirectory(atPath: original + "/segments").sorted().dropLast()
        #expect(!sealed.isEmpty)
        for name in sealed {
            let left = try Data(contentsOf: URL(fileURLWithPath: original + "/segments/" + name))
            let right = try Data(contentsOf: URL(fileURLWithPath: fresh + "/segments/" + name))
            #expect(left == right, "segment \(name) differs")
        }
    }
}
