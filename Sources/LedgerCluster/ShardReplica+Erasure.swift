// ShardReplica+Erasure: bringing a shard's replica in line with erasure on the writer's disk (FORMAT.md §13,
// "Erasure and the replicas"). A wrapped key gone from keys.sqlite is erased from the replica stream (JetStream's
// secure erase: every server overwrites the message in its store); a replicated segment whose file changed since
// its manifest entry was made (compaction overwrote slots or frames in place, or rewrote it) is hashed chunk by
// chunk, and only the chunks whose bytes changed are erased and published again, under a new manifest entry.
// Everything is derived from the disk and the replica as they are, so a writer killed half way leaves work that
// the next one finds and finishes.
import Foundation
import Glibc
import LedgerCore
import LedgerStore
import NATSClient

/// What bringing the replica in line with erasure did.
public struct ReplicaErasure: Sendable, Equatable {
    /// Wrapped keys erased from the replica (shredded from `keys.sqlite`).
    public var keys = 0
    /// Segments whose bytes changed, with a new manifest entry.
    public var segments = 0
    /// Segment chunks erased and published again (or published again after an earlier writer erased them).
    public var chunks = 0
    /// Segments hashed because their file's modification time differed from their manifest entry's.
    public var segmentsChecked = 0
    /// Filler bytes published on `….flush` so that every server compacts the stream's RAFT log.
    public var flushBytes = 0

    /// Whether a replica message was erased or replaced.
    public var changedReplica: Bool { keys > 0 || chunks > 0 }
}

extension ShardReplica {
    /// Size of one filler message on `….flush`.
    static let flushMessageBytes = 1_000_000
    /// Filler messages after an erasure: 9 MB, past the 8 MiB of new RAFT log entries at which nats-server (2.9)
    /// snapshots a stream's RAFT group and drops the log entries (which hold every published message's bytes).
    static let flushMessages = 9
}

/// Test-only fault points of the replica erasure: when `CALL_LEDGER_REPLICA_FAULT` names a point, the process
/// kills itself with SIGKILL on reaching it, as a crash would stop it (used by the crash tests; unset in production).
enum ReplicaFault {
    private static let point = ProcessInfo.processInfo.environment["CALL_LEDGER_REPLICA_FAULT"]

    /// Kills the process when `name` is the configured fault point.
    static func reach(_ name: String) {
        if point == name { kill(getpid(), SIGKILL) }
    }
}

/// A replicated segment whose bytes differ from its manifest entry.
private struct SegmentChange {
    var entry: ReplicaManifestEntry
    var bytes: [UInt8]
    var digests: [String]
    /// Chunk indices to erase and publish again (or only to erase, past the new last chunk).
    var stale: [Int]
    var mtime: Int64?
}

extension ShardReplicator {
    /// Compares `keys.sqlite` and the replicated segments with the replica and fixes the replica: erases the keys
    /// the ledger shredded, then, per changed segment, erases each chunk whose bytes changed and publishes it again,
    /// then the segment's new manifest entry; last, when it erased anything (or a writer stopped before finishing),
    /// publishes filler so the servers compact their RAFT logs. The replica's state names the pending erasures
    /// from before the first until the sync has also erased the intake below `replay_from` and published the
    /// intake's filler (`intakeFlushDue`).
    func reconcile(tick: () throws(ClusterError) -> Void) throws(ClusterError) -> ReplicaErasure {
        var erasure = ReplicaErasure()
        let local = Set(try localKeys().map { ShardReplica.keyToken(call: $0.call, dataClass: $0.dataClass) })
        let shredded = keySequences.filter { !local.contains($0.key) }.sorted { $0.value < $1.value }
        var changes: [SegmentChange] = []
        for first in manifests.keys.sorted() {
            guard let entry = manifests[first] else { continue }
            let path = layout.segmentPath(firstSeq: first)
            guard let mtime = LedgerReplicaFiles.modificationTime(path) else {
                throw .replicaMismatch(
                    shard: shard, reason: "the replica holds segment \(entry.segment), \(path) is missing")
            }
            guard entry.segmentMtimeNs != mtime else { continue }
            try tick()
            let bytes = try readLedger(path)
            let settledTime = settled(mtime, path: path)
            let digests = ShardReplica.chunkDigests(bytes)
            erasure.segmentsChecked += 1
            if bytes.count == entry.segmentFile.bytes && SHA256.hash(bytes).hex == entry.segmentFile.sha256 {
                // The same bytes (a restored disk, or a file touched): note its time so the next look skips it.
                if entry.segmentFile.chunkSha256 != digests
                    || (settledTime != nil && settledTime != entry.segmentMtimeNs)
                {
                    var refreshed = entry
                    refreshed.segmentFile.chunkSha256 = digests
                    refreshed.segmentMtimeNs = settledTime
                    try publishManifest(refreshed)
                }
                continue
            }
            let old = entry.segmentFile.chunkSha256 ?? []
            let stale = (0..<max(digests.count, entry.segmentFile.chunks)).filter {
                $0 >= digests.count || $0 >= old.count || old[$0] != digests[$0]
            }
            changes.append(
                SegmentChange(entry: entry, bytes: bytes, digests: digests, stale: stale, mtime: settledTime))
        }
        let pending = shredded.count + changes.reduce(0) { $0 + $1.stale.count }
        guard pending > 0 || owesFlush || intakeFlushDue else {
            reconcileDue = false
            return erasure
        }
        status.pendingErasures = max(pending, 1)
        intakeFlushDue = true
        try publishStatus()
        for (token, sequence) in shredded {
            try tick()
            do throws(NATSError) {
                try connection.eraseMessage(stream: configuration.replicaStream, sequence: sequence)
            } catch {
                throw .nats(error)
            }
            keySequences[token] = nil
            erasure.keys += 1
            status.keysErased += 1
        }
        for change in changes { try replace(change, erasure: &erasure, tick: tick) }
        if erasure.changedReplica || owesFlush {
            let filler = [UInt8](repeating: 0, count: ShardReplica.flushMessageBytes)
            for _ in 0..<ShardReplica.flushMessages {
                try tick()
                do throws(NATSError) {
                    try publish("\(prefix).flush", filler, unique: true)
                } catch {
                    throw .nats(error)
                }
                erasure.flushBytes += filler.count
            }
        }
        owesFlush = false
        reconcileDue = false
        return erasure
    }

    /// Erases the stale chunks of a changed segment and publishes their new bytes, then its new manifest entry.
    private func replace(
        _ change: SegmentChange, erasure: inout ReplicaErasure, tick: () throws(ClusterError) -> Void
    ) throws(ClusterError) {
        let subject = "\(prefix).segment.\(ShardReplica.padded(change.entry.firstSeq))"
        for index in change.stale {
            try tick()
            let start = index * ShardReplica.chunkBytes
            let fresh =
                index < change.digests.count
                ? Array(change.bytes[start..<min(change.bytes.count, start + ShardReplica.chunkBytes)]) : nil
            do throws(NATSError) {
                let old = try connection.lastMessage(
                    stream: configuration.replicaStream, subject: "\(subject).\(index)")
                if let old, old.data != fresh {
                    try connection.eraseMessage(stream: configuration.replicaStream, sequence: old.sequence)
                    ReplicaFault.reach("chunk-erased")
                }
                if let fresh, old?.data != fresh { try publish("\(subject).\(index)", fresh, unique: true) }
            } catch {
                throw .nats(error)
            }
            erasure.chunks += 1
            status.chunksReplaced += 1
        }
        var entry = change.entry
        entry.segmentFile = ReplicaFile(
            bytes: change.bytes.count, sha256: SHA256.hash(change.bytes).hex, chunks: change.digests.count,
            chunkSha256: change.digests)
        entry.segmentMtimeNs = change.mtime
        entry.replicatedMs = ShardReplica.nowMs()
        try publishManifest(entry)
        erasure.segments += 1
    }
}
