// The root log on a real 3-node NATS cluster: shard writers record every checkpoint they sign, once, also when a
// writer is killed between signing and recording; `cluster prove` gives an event's proof through its shard and the
// signed root, which `cluster check-proof` and the Python `tools/verify cluster-proof` accept, and reject once any
// part of it is altered.
import Foundation
import LedgerTestSupport
import Testing

extension ReplicaClusterTests {
    @Test func aCombinedProofForAnEventOfEachShardVerifiesInBothVerifiersAndFailsWhenAnyPartIsAltered() throws {
        let cluster = try LocalCluster()
        let config = try cluster.configuration(
            name: "rooted", shards: 2, extra: "tenants:\n  acme-bank: {shard_by: call}")
        let ledgers = try (0..<2).map { try rootedLedger(cluster, "shard-\($0)", checkpointEvery: 5) }
        let lines = simulatedLines(calls: 8, seed: 17)
        let published = try callLedger(
            "cluster", "publish", "--config", config, try writeLines(lines, to: cluster.scratch.file("events.jsonl")))
        try #require(published.status == 0, "\(published.stderr)")
        let writers = try (0..<2).map { shard in
            try Child([
                "cluster", "writer", "--config", config, "--shard", "\(shard)", "--ledger", ledgers[shard],
                "--stop-when-idle", "2",
            ])
        }
        for writer in writers { #expect(writer.finish().status == 0) }

        let rootKeyFile = cluster.scratch.file("root.key")
        let made = try callLedger("cluster", "root", "key", "--config", config, "--out", rootKeyFile)
        try #require(made.status == 0, "\(made.stderr)")
        let rootKey = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let signed = try callLedger("cluster", "root", "sign", "--config", config, "--key-file", rootKeyFile)
        try #require(signed.status == 0, "\(signed.stderr)")
        #expect(signed.stdout.hasPrefix("call-ledger/rooted/root\n"))

        let leaves = try rootLeaves(config)
        for shard in 0..<2 {
            let sizes = leaves.filter { $0.shard == shard }.map(\.size)
            #expect(sizes == checkpointSizes(ledgers[shard]), "shard \(shard): every checkpoint recorded once")
        }

        let shardKeys = try ledgers.map { try String(contentsOfFile: $0 + "/verifier.key", encoding: .utf8) }
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        let pins = ["--root-key", rootKey] + shardKeys.flatMap { ["--shard-key", $0] }
        var proofs: [String] = []
        for shard in 0..<2 {
            let proved = try callLedger(
                "cluster", "prove", "--config", config, "--shard", "\(shard)", "--seq", "1", "--ledger",
                ledgers[shard])
            try #require(proved.status == 0, "\(proved.stderr)")
            let path = cluster.scratch.file("proof-\(shard).json")
            try proved.stdout.write(toFile: path, atomically: true, encoding: .utf8)
            proofs.append(path)
            let swift = try callLedger(arguments: ["cluster", "check-proof", path] + pins)
            #expect(swift.status == 0, "\(swift.stderr)")
            let python = try run(pythonVerifier, ["cluster-proof", path] + pins)
            #expect(python.status == 0, "\(python.stdout) \(python.stderr)")
            #expect(python.stdout.contains("of shard \(shard) is in the shard's checkpoint"), "\(python.stdout)")
        }

        // Each part altered: the shard's audit path, the recorded shard checkpoint, the root's audit path, the root
        // checkpoint's signature. Both verifiers refuse, naming the part.
        let document = try jsonObject(try String(contentsOfFile: proofs[0], encoding: .utf8))
        let alterations: [(name: String, alter: ([String: Any]) -> [String: Any])] = [
            ("shard_proof.inclusion_proof", { flipped($0, ["shard_proof", "inclusion_proof"], index: 0) }),
            ("shard_checkpoint", { flipped($0, ["shard_checkpoint", "note"], index: 30) }),
            ("root_proof.inclusion_proof", { flipped($0, ["root_proof", "inclusion_proof"], index: 0) }),
            ("root_proof.checkpoint", { flippedSignature($0) }),
        ]
        for (name, alter) in alterations {
            let path = cluster.scratch.file("tampered.json")
            try JSONSerialization.data(withJSONObject: alter(document)).write(to: URL(fileURLWithPath: path))
            let swift = try callLedger(arguments: ["cluster", "check-proof", path] + pins)
            #expect(swift.status == 1, "\(name): \(swift.stdout)")
            #expect(swift.stderr.contains(name), "\(name): \(swift.stderr)")
            let python = try run(pythonVerifier, ["cluster-proof", path] + pins)
            #expect(python.status == 1, "\(name): \(python.stdout)")
            #expect(python.stderr.contains(name), "\(name): \(python.stderr)")
        }

        // A root checkpoint proves it extends an earlier root tree, as a single ledger's do (FORMAT.md §11).
        let consistency = try callLedger("cluster", "root", "consistency", "--config", config, "--from", "1")
        try #require(consistency.status == 0, "\(consistency.stderr)")
        let consistencyPath = cluster.scratch.file("consistency.json")
        try consistency.stdout.write(toFile: consistencyPath, atomically: true, encoding: .utf8)
        let checked = try run(pythonVerifier, ["proof", consistencyPath, "--key", rootKey])
        #expect(checked.status == 0, "\(checked.stdout) \(checked.stderr)")
        #expect(checked.stdout.contains("extends the tree of size 1"), "\(checked.stdout)")
    }

    @Test func aCheckpointSignedByAWriterKilledBeforeRecordingItReachesTheRootLogExactlyOnce() throws {
        let cluster = try LocalCluster()
        let config = try cluster.configuration(name: "killed", shards: 1)
        let ledger = try rootedLedger(cluster, "shard-0", checkpointEvery: 5)
        let lines = simulatedLines(calls: 2, seed: 70)
        let published = try callLedger(
            "cluster", "publish", "--config", config, try writeLines(lines, to: cluster.scratch.file("events.jsonl")))
        try #require(published.status == 0, "\(published.stderr)")

        // The first writer waits 30 s between signing checkpoints and recording them: kill it in that window.
        let first = try Child([
            "cluster", "writer", "--config", config, "--shard", "0", "--ledger", ledger, "--id", "first",
            "--root-delay", "30",
        ])
        let deadline = Date().addingTimeInterval(30)
        while checkpointSizes(ledger).isEmpty && Date() < deadline { usleep(20_000) }
        first.kill9()
        first.finish()
        let signedByFirst = checkpointSizes(ledger)
        try #require(!signedByFirst.isEmpty, "the first writer signed a checkpoint")
        #expect(try rootLeaves(config).isEmpty, "killed before recording any")

        for id in ["second", "third"] {
            let writer = try Child([
                "cluster", "writer", "--config", config, "--shard", "0", "--ledger", ledger, "--id", id,
                "--stop-when-idle", "1",
            ])
            #expect(writer.finish().status == 0)
            let recorded = try rootLeaves(config).map(\.size)
            #expect(recorded == checkpointSizes(ledger), "after \(id): each checkpoint on disk recorded once, in order")
            #expect(Set(signedByFirst).isSubset(of: recorded), "the killed writer's checkpoints were recorded")
        }
    }
}

/// `document` with one character of the string at `path` (or of element 0 of the array there) changed.
private func flipped(_ document: [String: Any], _ path: [String], index: Int) -> [String: Any] {
    var copy = document
    guard let key = path.first else { return copy }
    if path.count > 1, let inner = copy[key] as? [String: Any] {
        copy[key] = flipped(inner, Array(path.dropFirst()), index: index)
    } else if var list = copy[key] as? [String], !list.isEmpty {
        list[0] = flippedCharacter(list[0], at: index)
        copy[key] = list
    } else if let text = copy[key] as? String {
        copy[key] = flippedCharacter(text, at: index)
    }
    return copy
}

/// The root checkpoint note with one character of its signature changed.
private func flippedSignature(_ document: [String: Any]) -> [String: Any] {
    guard let note = (document["root_proof"] as? [String: Any])?["checkpoint"] as? [String: Any],
        let text = note["note"] as? String
    else { return document }
    return flipped(document, ["root_proof", "checkpoint", "note"], index: text.count - 20)
}

private func flippedCharacter(_ text: String, at index: Int) -> String {
    var characters = Array(text)
    guard index < characters.count else { return text }
    characters[index] = characters[index] == "a" ? "b" : "a"
    return String(characters)
}
