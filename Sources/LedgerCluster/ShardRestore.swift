// ShardRestore: lays a shard's ledger out again in an empty directory from its replica (settings, keys, every
// replicated segment and its tree entries, the checkpoints they cover, each file checked against its manifest
// digest), then replays the shard's intake stream from the position the last manifest entry names, appending
// through the ledger writer (which drops the events it already holds by idempotency key). All of it happens in
// DIR.restoring, renamed to DIR at the end, so an interrupted restore leaves no partial ledger behind.
import Foundation
import Glibc
import LedgerCore
import LedgerStore
public import NATSClient

/// What a restore did.
public struct RestoreReport: Sendable, Equatable, Encodable {
    /// The shard.
    public var shard: Int
    /// The ledger directory written.
    public var directory: String
    /// Segments restored from the replica.
    public var segments: Int
    /// Events those segments hold (`0..<restoredEvents`).
    public var restoredEvents: UInt64
    /// Checkpoints restored (those within the restored events).
    public var checkpoints: Int
    /// Wrapped data keys restored.
    public var keys: Int
    /// The intake stream sequence the replay started at.
    public var replayFrom: UInt64
    /// The intake stream's last sequence when the replay started (it ran up to there).
    public var replayThrough: UInt64
    /// Events the replay appended.
    public var replayed: Int
    /// Events the replay found already in the ledger.
    public var duplicates: Int
    /// Intake messages that were not valid events (skipped).
    public var rejected: Int
    /// Events in the ledger afterwards.
    public var events: UInt64
}

extension ClusterConfiguration {
    /// Restores shard `shard` into `directory` (absent or empty) from its replica, then replays its intake stream;
    /// `keyFilePath` (default `DIR.key`) must be the shard ledger's key file. `tick` runs between files and
    /// batches (the writer renews its lease there); what it throws ends the restore.
    public func restore(
        shard: Int, directory: String, keyFilePath: String?, connection: NATSConnection,
        tick: () throws(ClusterError) -> Void = {}
    ) throws(ClusterError) -> RestoreReport {
        guard (0..<shards).contains(shard) else {
            throw .configuration(path: name, reason: "shard \(shard) does not exist (shards 0 to \(shards - 1))")
        }
        let manager = FileManager.default
        let target = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        if let present = try? manager.contentsOfDirectory(atPath: target), !present.isEmpty {
            throw .ledger(.directoryNotEmpty(path: target))
        }
        let staging = target + ".restoring"
        if manager.fileExists(atPath: staging) {
            do { try manager.removeItem(atPath: staging) } catch {
                throw .replicaMismatch(shard: shard, reason: "cannot remove the earlier attempt \(staging): \(error)")
            }
        }
        var report = try restore(
            shard: shard, staging: staging, keyFilePath: keyFilePath ?? target + ".key", connection: connection,
            tick: tick)
        if manager.fileExists(atPath: target) { rmdir(target) }
        guard rename(staging, target) == 0 else {
            throw .ledger(.io(operation: "rename to \(target)", path: staging, errno: errno))
        }
        try? FileSystem.syncDirectory(FileSystem.parentDirectory(target))
        report.directory = target
        return report
    }

    private func restore(
        shard: Int, staging directory: String, keyFilePath: String, connection: NATSConnection,
        tick: () throws(ClusterError) -> Void
    ) throws(ClusterError) -> RestoreReport {
        let prefix = replicaSubject(shard: shard)
        let stream = replicaStream
        func last(_ subject: String) throws(ClusterError) -> [UInt8]? {
            do throws(NATSError) {
                return try connection.lastMessage(stream: stream, subject: subject)?.data
            } catch {
                if error.isNotFound { return nil }
                throw .nats(error)
            }
        }
        func all(_ subject: String) throws(ClusterError) -> [JetStreamMessage] {
            do throws(NATSError) { return try connection.messages(stream: stream, subject: subject) } catch {
                throw .nats(error)
            }
        }
        func ledger<T>(_ body: () throws(LedgerError) -> T) throws(ClusterError) -> T {
            do throws(LedgerError) { return try body() } catch { throw .ledger(error) }
        }
        func mismatch(_ reason: String) -> ClusterError { .replicaMismatch(shard: shard, reason: reason) }
        /// The chunks of `file` published on `subject.<i>`, checked against its size and digest.
        func chunks(_ subject: String, _ file: ReplicaFile) throws(ClusterError) -> [UInt8] {
            guard (0...(1 << 40)).contains(file.bytes), (0...(1 << 30)).contains(file.chunks) else {
                throw mismatch("\(subject): the manifest gives an impossible size")
            }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(file.bytes)
            for index in 0..<file.chunks {
                try tick()
                guard let chunk = try last("\(subject).\(index)") else {
                    throw mismatch("\(subject).\(index) is missing")
                }
                bytes += chunk
            }
            guard bytes.count == file.bytes, SHA256.hash(bytes).hex == file.sha256 else {
                throw mismatch("\(subject) does not match its manifest (size or SHA-256)")
            }
            return bytes
        }

        guard let settings = try last("\(prefix).config"), let verifier = try last("\(prefix).verifier") else {
            throw .noReplica(shard: shard, stream: stream)
        }
        let layout = try ledger { () throws(LedgerError) in
            try LedgerReplicaFiles.layOut(directory: directory, configuration: settings, verifierKey: verifier)
        }
        var keys: [WrappedDataKey] = []
        for message in try all("\(prefix).keys.>") {
            guard let key = try? ShardReplica.decoder().decode(ReplicaKey.self, from: Data(message.data)),
                let wrapped = Base64.decode(key.wrapped)
            else { throw mismatch("\(message.subject) is not a wrapped key record") }
            keys.append(WrappedDataKey(call: key.call, dataClass: key.dataClass, wrapped: wrapped))
        }
        try ledger { () throws(LedgerError) in
            try LedgerReplicaFiles.storeWrappedKeys(keys, layout: layout, keyFilePath: keyFilePath)
        }

        var next: UInt64 = 0
        var replayFrom: UInt64 = 1
        var segments = 0
        var levels: [[UInt8]] = []
        while let data = try last("\(prefix).manifest.\(ShardReplica.padded(next))") {
            try tick()
            guard let entry = try? ShardReplica.decoder().decode(ReplicaManifestEntry.self, from: Data(data)),
                entry.firstSeq == next, entry.endSeq > next,
                entry.segment == LedgerLayout.segmentName(firstSeq: next),
                entry.treeLevels.count <= 64, entry.treeLevels.allSatisfy({ (0...(1 << 40)).contains($0) }),
                entry.treeLevels.reduce(0, +) * ShardReplica.hashBytes == entry.tree.bytes
            else { throw mismatch("the manifest entry of segment \(next) is malformed") }
            let segment = try chunks("\(prefix).segment.\(ShardReplica.padded(next))", entry.segmentFile)
            try ledger { () throws(LedgerError) in
                try LedgerReplicaFiles.write(segment, relativePath: "segments/\(entry.segment)", in: layout)
            }
            let tree = try chunks("\(prefix).tree.\(ShardReplica.padded(next))", entry.tree)
            var offset = 0
            for (level, count) in entry.treeLevels.enumerated() {
                if levels.count <= level { levels.append([]) }
                guard levels[level].count == Int(clamping: next >> UInt64(level)) * ShardReplica.hashBytes else {
                    throw mismatch("the tree entries of segment \(next) do not continue level \(level)")
                }
                levels[level] += tree[offset..<offset + count * ShardReplica.hashBytes]
                offset += count * ShardReplica.hashBytes
            }
            next = entry.endSeq
            replayFrom = entry.replayFrom
            segments += 1
        }
        let restoredEvents = next
        var checkpoints = 0
        try ledger { () throws(LedgerError) in
            // An empty newest segment keeps the last restored one sealed, as on the writer's disk: the replay and
            // later appends start a segment of their own (a sealed segment may be shorter than the size limit).
            if segments > 0 {
                try LedgerReplicaFiles.write(
                    [], relativePath: "segments/\(LedgerLayout.segmentName(firstSeq: restoredEvents))", in: layout)
            }
            for (level, bytes) in levels.enumerated() where !bytes.isEmpty {
                try LedgerReplicaFiles.write(
                    bytes, relativePath: "tree/level-\(level < 10 ? "0" : "")\(level).hashes", in: layout)
            }
            try LedgerReplicaFiles.write(
                Array("\(restoredEvents)\n".utf8), relativePath: "tree/durable-size", in: layout)
        }
        for message in try all("\(prefix).checkpoint.>") {
            guard let token = message.subject.split(separator: ".").last, token.count == 20,
                let size = UInt64(token)
            else { throw mismatch("\(message.subject) is not a checkpoint subject") }
            guard size <= restoredEvents else { continue }
            try ledger { () throws(LedgerError) in
                try LedgerReplicaFiles.write(message.data, relativePath: "checkpoints/\(token).note", in: layout)
            }
            checkpoints += 1
        }
        var report = RestoreReport(
            shard: shard, directory: directory, segments: segments, restoredEvents: restoredEvents,
            checkpoints: checkpoints, keys: keys.count, replayFrom: replayFrom, replayThrough: 0, replayed: 0,
            duplicates: 0, rejected: 0, events: restoredEvents)
        try replay(
            shard: shard, into: layout, keyFilePath: keyFilePath, connection: connection, tick: tick, report: &report)
        return report
    }

    /// Appends the shard's intake from `report.replayFrom` up to the stream's last sequence now.
    private func replay(
        shard: Int, into layout: LedgerLayout, keyFilePath: String?, connection: NATSConnection,
        tick: () throws(ClusterError) -> Void, report: inout RestoreReport
    ) throws(ClusterError) {
        let writer: LedgerWriter
        do throws(LedgerError) {
            writer = try LedgerWriter(directory: layout.directory, keyFilePath: keyFilePath)
        } catch {
            throw .ledger(error)
        }
        defer { try? writer.close() }
        let consumer: PullConsumer?
        do throws(NATSError) {
            // The last event, not the stream's last message: filler on the flush subject may follow it.
            let through =
                try connection.lastMessage(stream: streamName(shard: shard), subject: subject(shard: shard))?.sequence
                ?? 0
            report.replayThrough = through
            consumer =
                through >= report.replayFrom
                ? try connection.replayConsumer(
                    stream: streamName(shard: shard), subject: subject(shard: shard),
                    start: .sequence(report.replayFrom)) : nil
        } catch {
            throw .nats(error)
        }
        var decoder = EventDecoder(maximumEventBytes: writer.configuration.maximumEventBytes)
        var reached = report.replayFrom > report.replayThrough
        while let consumer, !reached {
            try tick()
            let batch: FetchedBatch
            do throws(NATSError) { batch = try consumer.fetch(batch: 256, timeout: 10) } catch { throw .nats(error) }
            guard !batch.messages.isEmpty else {
                throw .replicaMismatch(
                    shard: shard, reason: "the intake stream gave nothing for 10 s before seq \(report.replayThrough)")
            }
            var events: [DecodedEvent] = []
            for message in batch.messages where message.streamSequence <= report.replayThrough {
                let decoded: DecodedEvent? = message.data.withUnsafeBytes { bytes in
                    try? decoder.decode(bytes, lineNumber: 1)
                }
                if let decoded { events.append(decoded) } else { report.rejected += 1 }
            }
            reached = (batch.messages.last?.streamSequence ?? 0) >= report.replayThrough
            do throws(LedgerError) {
                for result in try writer.append(events) {
                    if result.status == .appended { report.replayed += 1 } else { report.duplicates += 1 }
                }
            } catch {
                throw .ledger(error)
            }
        }
        report.events = writer.durableSize
    }
}
