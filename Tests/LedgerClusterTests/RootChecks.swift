// Checks of the root log that several cluster tests share: shard ledgers that sign checkpoints, the checkpoints
// they signed, the root log's leaves, and the Python verifier that checks proofs offline.
import Foundation
import LedgerTestSupport

/// `tools/verify`, the Python verifier.
let pythonVerifier = Repository.root.appendingPathComponent("tools/verify").path

/// A shard ledger that signs a checkpoint every `checkpointEvery` events.
func rootedLedger(_ cluster: LocalCluster, _ name: String, checkpointEvery: Int) throws -> String {
    let path = cluster.scratch.file(name)
    let made = try callLedger("init", path, "--checkpoint-every-events", "\(checkpointEvery)")
    guard made.status == 0 else { throw HarnessError(description: "init: \(made.stderr)") }
    return path
}

/// The tree sizes of the ledger's checkpoint notes, ascending.
func checkpointSizes(_ ledger: String) -> [Int] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: ledger + "/checkpoints")) ?? []
    return names.filter { $0.hasSuffix(".note") }.compactMap { Int($0.prefix(20)) }.sorted()
}

/// The root log's leaves as `cluster root log` lists them.
func rootLeaves(_ config: String) throws -> [(shard: Int, size: Int)] {
    let listed = try callLedger("cluster", "root", "log", "--config", config)
    guard listed.status == 0 else { throw HarnessError(description: "root log: \(listed.stderr)") }
    return try listed.stdout.split(separator: "\n").map { line in
        let leaf = try jsonObject(line)
        return (leaf["shard"] as? Int ?? -1, leaf["tree_size"] as? Int ?? -1)
    }
}
