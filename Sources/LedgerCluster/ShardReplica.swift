// ShardReplica: a shard's ledger copied to JetStream as it is sealed (FORMAT.md §13, "Replicas"): the ledger's
// settings and verifier key, the wrapped data keys, every sealed segment and the tree entries it completes (in
// chunks, with a manifest entry per segment naming sizes, SHA-256 digests and the intake position to replay
// from), and every checkpoint. The shard's writer runs a ShardReplicator after each durable batch; when erasure
// may have changed the ledger (at the writer's start and after each retention pass) the replicator first brings
// the replica in line with it (ShardReplica+Erasure.swift).
import Foundation
import LedgerCore
import LedgerStore
public import NATSClient

extension ClusterConfiguration {
    /// The JetStream stream holding every shard's replica.
    public var replicaStream: String { "CALL_LEDGER_\(name)_replica" }
    /// The subject prefix of shard `shard`'s replica: `call-ledger.<name>.replica.<shard>`.
    public func replicaSubject(shard: Int) -> String { "call-ledger.\(name).replica.\(shard)" }

    /// The replica stream as this configuration asks for it: one message kept per subject.
    public var replicaStreamConfiguration: StreamConfiguration {
        var stream = StreamConfiguration(
            name: replicaStream, subjects: ["call-ledger.\(name).replica.>"], replicas: replicas,
            duplicateWindowSeconds: duplicateWindowSeconds)
        stream.maxMessagesPerSubject = 1
        return stream
    }
}

/// A file copied to the replica in chunks: its size, SHA-256 and chunk count.
public struct ReplicaFile: Codable, Sendable, Equatable {
    /// Its size in bytes.
    public var bytes: Int
    /// SHA-256 of its bytes, hex.
    public var sha256: String
    /// Chunks of `ShardReplica.chunkBytes` (the last may be shorter); 0 for an empty file.
    public var chunks: Int
    /// SHA-256 of each chunk, hex, in order: what a writer compares a segment changed by erasure against, so that
    /// it erases and publishes again only the chunks whose bytes changed. Absent for tree pieces.
    public var chunkSha256: [String]?
}

/// The manifest entry of one sealed segment (subject `….manifest.<first seq>`), published after its chunks.
public struct ReplicaManifestEntry: Codable, Sendable, Equatable {
    /// The segment's file name in `segments/`.
    public var segment: String
    /// Its first seq.
    public var firstSeq: UInt64
    /// The seq after its last event (the next segment's first seq).
    public var endSeq: UInt64
    /// The segment file.
    public var segmentFile: ReplicaFile
    /// The tree entries the segment's events complete: level 0's, then level 1's, …
    public var tree: ReplicaFile
    /// Entries per level in `tree` (level 0 first).
    public var treeLevels: [Int]
    /// Every intake message below this stream sequence is in the ledger's events `0..<endSeq` (or was rejected).
    public var replayFrom: UInt64
    /// When it was replicated, milliseconds since 1970 (UTC).
    public var replicatedMs: Int64
    /// The segment file's modification time on the replicating writer's disk, nanoseconds since 1970, when the file
    /// had not changed for `ShardReplica.settleNanoseconds` before: a writer compares the segment with the replica
    /// only when its file's time differs. Absent when the file had just changed.
    public var segmentMtimeNs: Int64?
}

/// What a shard's writer last published of its replica's state (subject `….state`), for `cluster status`.
public struct ReplicaStatus: Codable, Sendable, Equatable {
    /// Sealed segments in the writer's ledger.
    public var segmentsSealed: Int
    /// Segments the replica holds (manifest entries).
    public var segmentsReplicated: Int
    /// The replica holds events `0..<replicatedThrough`.
    public var replicatedThrough: UInt64
    /// The file name of the last segment replicated, nil before any.
    public var lastManifest: String?
    /// When that manifest entry was published, milliseconds since 1970.
    public var lastManifestMs: Int64?
    /// Wrapped data keys the replica holds.
    public var keysReplicated: Int
    /// Replica messages (shredded keys, changed segment chunks) still to erase and publish again; above 0 while a
    /// writer brings the replica and the intake in line with erasure, or after it was stopped doing so (the next
    /// writer finishes).
    public var pendingErasures: Int
    /// Keys erased from the replica since the writer started.
    public var keysErased: Int
    /// Segment chunks erased and published again since the writer started.
    public var chunksReplaced: Int
    /// The intake stream holds no message below this sequence any more: the writer erased them once the replica
    /// held their events (absent before its first look at the intake).
    public var intakeErasedBelow: UInt64?
    /// The writer that published it.
    public var holder: String
    /// When it was published, milliseconds since 1970.
    public var updatedMs: Int64
}

/// A wrapped data key as the replica holds it (subject `….keys.<SHA-256 of call NUL class>`).
struct ReplicaKey: Codable {
    var call: String
    var dataClass: String
    var wrapped: String
}

/// Subjects, chunking and encoding of a shard's replica.
public enum ShardReplica {
    /// Bytes per chunk of a copied file.
    public static let chunkBytes = 262_144
    /// Bytes per tree entry (a SHA-256).
    static let hashBytes = 32
    /// A segment file unchanged for this long (2 s) gets its modification time in its manifest entry: a write in the
    /// same clock tick as the last one would not change the time.
    static let settleNanoseconds: Int64 = 2_000_000_000

    /// The 20-digit zero-padded decimal used in file and subject names.
    static func padded(_ value: UInt64) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    /// The subject token of a wrapped key: SHA-256 of `call || 0x00 || class`, hex.
    static func keyToken(call: String, dataClass: String) -> String {
        SHA256.hash(Array(call.utf8) + [0] + Array(dataClass.utf8)).hex
    }

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    static func encode(_ value: some Encodable) -> [UInt8] {
        (try? encoder().encode(value)).map(Array.init) ?? []
    }

    /// The hex SHA-256 of each `chunkBytes` chunk of `bytes`.
    static func chunkDigests(_ bytes: [UInt8]) -> [String] {
        stride(from: 0, to: bytes.count, by: chunkBytes).map {
            SHA256.hash(Array(bytes[$0..<min(bytes.count, $0 + chunkBytes)])).hex
        }
    }

    /// Milliseconds since 1970, now.
    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

/// Copies a shard's sealed segments, tree entries, checkpoints and keys to the replica stream, and brings the
/// replica in line with erasure. Confine it to the writer's thread.
final class ShardReplicator {
    let configuration: ClusterConfiguration
    let shard: Int
    let layout: LedgerLayout
    let connection: NATSConnection
    let prefix: String
    /// The writer's id, named in the state it publishes.
    let holder: String
    private(set) var loaded = false
    /// The seq the next manifest entry starts at (the end of the last replicated segment).
    private var replicatedEnd: UInt64 = 0
    /// The `replay_from` of the last manifest entry (1 before any).
    private(set) var replayFloor: UInt64 = 1
    /// The first intake sequence this writer has not erased (nil before its first look at the intake).
    var intakeErasedFrom: UInt64?
    /// Intake erase requests kept in flight at once (`ShardWriterOptions.intakeErasuresInFlight`).
    let intakeErasuresInFlight: Int
    /// Intake messages this replicator erased, and the time its intake erasures took (filler included).
    var intakeErased = 0
    var intakeErasingTime = Duration.zero
    /// Sealed segments seen in the last look, nil before the first.
    private var knownSealed: Set<UInt64>?
    /// `replay_from` observed when a segment was first seen sealed, by first seq.
    private var observed: [UInt64: UInt64] = [:]
    private var checkpointsDone: Set<String> = []
    /// The manifest entries the replica holds, by first seq.
    var manifests: [UInt64: ReplicaManifestEntry] = [:]
    /// The stream sequence of each wrapped key the replica holds, by subject token.
    var keySequences: [String: UInt64] = [:]
    /// Whether the ledger may have changed under the replica (at start, after a retention pass).
    var reconcileDue = true
    /// Whether an earlier writer stopped with erasures pending: its erased messages may still be in the servers'
    /// RAFT logs, so the next reconcile publishes the filler that has them compacted.
    var owesFlush = false
    /// Whether the next intake erasure goes all the way to `replay_from` and ends with filler: an erasure reached
    /// the ledger (ShardReplica+Intake.swift) or the replica since the last one. The replica's state names the
    /// erasure pending until then.
    var intakeFlushDue = false
    /// What the last published state said, and what it says now.
    private var published: ReplicaStatus?
    var status: ReplicaStatus

    init(
        configuration: ClusterConfiguration, shard: Int, directory: String, connection: NATSConnection,
        holder: String, intakeErasuresInFlight: Int
    ) {
        self.intakeErasuresInFlight = max(intakeErasuresInFlight, 1)
        self.configuration = configuration
        self.shard = shard
        self.layout = LedgerLayout(directory: directory)
        self.connection = connection
        self.prefix = configuration.replicaSubject(shard: shard)
        self.holder = holder
        self.status = ReplicaStatus(
            segmentsSealed: 0, segmentsReplicated: 0, replicatedThrough: 0, lastManifest: nil, lastManifestMs: nil,
            keysReplicated: 0, pendingErasures: 0, keysErased: 0, chunksReplaced: 0, holder: holder, updatedMs: 0)
    }

    /// How far the replica goes: the end seq of its last segment.
    var end: UInt64 { replicatedEnd }

    /// Copies what was sealed since the last call, after bringing the replica in line with erasure when that is
    /// due. `ackFloor` gives the intake consumer's ack floor now (read only when a segment is seen sealed for the
    /// first time, before the batch just appended is acknowledged); `tick` runs between chunks (the writer renews
    /// its lease there), and what it throws ends the copy. Returns what the erasure did, if it ran.
    @discardableResult
    func sync(
        ackFloor: () throws(NATSError) -> UInt64, tick: () throws(ClusterError) -> Void
    ) throws(ClusterError) -> ReplicaErasure? {
        if !loaded { try load() }
        let firsts: [UInt64]
        do throws(LedgerError) {
            firsts = try FileSystem.contents(of: layout.segments).compactMap { LedgerLayout.segmentFirstSeq(name: $0) }
                .sorted()
        } catch {
            throw .ledger(error)
        }
        let sealed = Array(firsts.dropLast())
        status.segmentsSealed = sealed.count
        let erasure = reconcileDue ? try reconcile(tick: tick) : nil
        var fresh = knownSealed.map { known in sealed.filter { !known.contains($0) && $0 >= replicatedEnd } } ?? []
        // The newest segment empty (sealed on demand, or by a writer stopped before its first frame): every event,
        // so every acknowledged message, is in the sealed segments, whenever the floor is read.
        if let last = sealed.last, last >= replicatedEnd, let newest = firsts.last,
            LedgerReplicaFiles.size(layout.segmentPath(firstSeq: newest)) == 0, !fresh.contains(last)
        {
            fresh.append(last)
        }
        if !fresh.isEmpty {
            let floor: UInt64
            do throws(NATSError) { floor = try ackFloor() } catch { throw .nats(error) }
            for first in fresh { observed[first] = floor + 1 }
        }
        knownSealed = Set(sealed)
        if let index = sealed.firstIndex(of: replicatedEnd) {
            try uploadKeys()
            for position in index..<sealed.count {
                try upload(segment: sealed[position], end: firsts[position + 1], tick: tick)
            }
        } else if let last = sealed.last, last > replicatedEnd {
            throw .replicaMismatch(
                shard: shard,
                reason: "the replica ends at seq \(replicatedEnd) but \(layout.segments) has no segment starting there")
        }
        try uploadCheckpoints()
        try forgetIntake(flush: intakeFlushDue, tick: tick)
        if intakeFlushDue {
            intakeFlushDue = false
            status.pendingErasures = 0
        }
        status.intakeErasedBelow = intakeErasedFrom
        try publishStatus()
        return erasure
    }

    /// Reads where the replica ends and which manifest entries, checkpoints and keys it holds, after checking that
    /// the replica, if any, is this ledger's (its `ledger.json` is the one on disk): reconciling another ledger's
    /// replica with this disk would erase its keys.
    func load() throws(ClusterError) {
        let local = try readLedger(layout.configuration)
        let copied: StoredMessage?
        do throws(NATSError) {
            try connection.ensureStream(configuration.replicaStreamConfiguration)
            copied = try connection.lastMessage(stream: configuration.replicaStream, subject: "\(prefix).config")
        } catch {
            throw .nats(error)
        }
        if let copied, copied.data != local {
            throw .replicaMismatch(
                shard: shard,
                reason: "the replica holds another ledger (its ledger.json differs from \(layout.configuration))")
        }
        do throws(NATSError) { try loadReplica() } catch { throw .nats(error) }
    }

    private func loadReplica() throws(NATSError) {
        var next: UInt64 = 0
        var floor: UInt64 = 1
        while let message = try connection.lastMessage(
            stream: configuration.replicaStream, subject: "\(prefix).manifest.\(ShardReplica.padded(next))")
        {
            guard let entry = try? ShardReplica.decoder().decode(ReplicaManifestEntry.self, from: Data(message.data)),
                entry.endSeq > next
            else { break }
            manifests[next] = entry
            next = entry.endSeq
            floor = entry.replayFrom
        }
        replicatedEnd = next
        replayFloor = floor
        if let state = try connection.lastMessage(stream: configuration.replicaStream, subject: "\(prefix).state"),
            let previous = try? ShardReplica.decoder().decode(ReplicaStatus.self, from: Data(state.data))
        {
            owesFlush = previous.pendingErasures > 0
        }
        for message in try connection.messages(stream: configuration.replicaStream, subject: "\(prefix).checkpoint.>") {
            if let token = message.subject.split(separator: ".").last { checkpointsDone.insert(String(token)) }
        }
        for message in try connection.messages(stream: configuration.replicaStream, subject: "\(prefix).keys.>") {
            if let token = message.subject.split(separator: ".").last {
                keySequences[String(token)] = message.streamSequence
            }
        }
        for file in ["config": layout.configuration, "verifier": layout.verifierKey] {
            let bytes: [UInt8]
            do throws(LedgerError) {
                bytes = try LedgerReplicaFiles.read(file.value, offset: 0, count: 1 << 20)
            } catch {
                throw NATSError(operation: "replicate \(file.value)", message: "\(error)")
            }
            try publish("\(prefix).\(file.key)", bytes)
        }
        loaded = true
    }

    /// Publishes `bytes` on `subject` with a message id made of the subject and the bytes' digest, so that a copy
    /// sent again inside the duplicate window is dropped; `unique` adds the time, for a copy that must be stored
    /// again (the same bytes after their message was erased). Returns the stream sequence.
    @discardableResult
    func publish(_ subject: String, _ bytes: [UInt8], unique: Bool = false) throws(NATSError) -> UInt64 {
        let id = "\(subject):\(SHA256.hash(bytes).hex)" + (unique ? ":\(DispatchTime.now().uptimeNanoseconds)" : "")
        return try connection.publish(subject: subject, data: bytes, messageID: id, timeout: 10).sequence
    }

    /// Publishes `bytes` in chunks on `subject.<index>`; returns what the manifest says of them.
    private func publishChunks(
        _ subject: String, _ bytes: [UInt8], digests: Bool, tick: () throws(ClusterError) -> Void
    ) throws(ClusterError) -> ReplicaFile {
        var index = 0
        var offset = 0
        while offset < bytes.count {
            try tick()
            let end = min(bytes.count, offset + ShardReplica.chunkBytes)
            do throws(NATSError) {
                try publish("\(subject).\(index)", Array(bytes[offset..<end]))
            } catch {
                throw .nats(error)
            }
            offset = end
            index += 1
        }
        return ReplicaFile(
            bytes: bytes.count, sha256: SHA256.hash(bytes).hex, chunks: index,
            chunkSha256: digests ? ShardReplica.chunkDigests(bytes) : nil)
    }

    private func upload(segment first: UInt64, end: UInt64, tick: () throws(ClusterError) -> Void) throws(ClusterError)
    {
        let name = LedgerLayout.segmentName(firstSeq: first)
        let path = layout.segmentPath(firstSeq: first)
        let before = LedgerReplicaFiles.modificationTime(path)
        let segmentBytes = try readLedger(path)
        let mtime = settled(before, path: path)
        var tree: [UInt8] = []
        var levels: [Int] = []
        var level = 0
        while end >> UInt64(level) > 0 {
            let from = Int(clamping: first >> UInt64(level))
            let to = Int(clamping: end >> UInt64(level))
            let path = FileSystem.join(layout.tree, "level-\(level < 10 ? "0" : "")\(level).hashes")
            let bytes = try readLedger(
                path, offset: from * ShardReplica.hashBytes, count: (to - from) * ShardReplica.hashBytes)
            guard bytes.count == (to - from) * ShardReplica.hashBytes else {
                throw .replicaMismatch(
                    shard: shard, reason: "\(path) holds fewer than the \(to) entries events 0..<\(end) complete")
            }
            tree += bytes
            levels.append(to - from)
            level += 1
        }
        let subject = "\(prefix).segment.\(ShardReplica.padded(first))"
        let segmentFile = try publishChunks(subject, segmentBytes, digests: true, tick: tick)
        let treeFile = try publishChunks(
            "\(prefix).tree.\(ShardReplica.padded(first))", tree, digests: false, tick: tick)
        let replayFrom = observed[first] ?? replayFloor
        let entry = ReplicaManifestEntry(
            segment: name, firstSeq: first, endSeq: end, segmentFile: segmentFile, tree: treeFile,
            treeLevels: levels, replayFrom: replayFrom, replicatedMs: ShardReplica.nowMs(), segmentMtimeNs: mtime)
        try publishManifest(entry)
        replicatedEnd = end
        replayFloor = replayFrom
        observed[first] = nil
    }

    /// Publishes a segment's manifest entry (replacing the one before it on its subject) and remembers it.
    func publishManifest(_ entry: ReplicaManifestEntry) throws(ClusterError) {
        do throws(NATSError) {
            try publish("\(prefix).manifest.\(ShardReplica.padded(entry.firstSeq))", ShardReplica.encode(entry))
        } catch {
            throw .nats(error)
        }
        manifests[entry.firstSeq] = entry
    }

    /// `mtime` (read before the file was read) when the file still has it and had it for
    /// `ShardReplica.settleNanoseconds`: then a later write changes it. Nil otherwise.
    func settled(_ mtime: Int64?, path: String) -> Int64? {
        guard let mtime, LedgerReplicaFiles.modificationTime(path) == mtime else { return nil }
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000_000)
        return now - mtime >= ShardReplica.settleNanoseconds ? mtime : nil
    }

    private func uploadCheckpoints() throws(ClusterError) {
        let names: [String]
        do throws(LedgerError) {
            names = try FileSystem.contents(of: layout.checkpoints).filter { $0.hasSuffix(".note") && $0.count == 25 }
        } catch {
            throw .ledger(error)
        }
        for name in names {
            let token = String(name.prefix(20))
            guard !checkpointsDone.contains(token) else { continue }
            let bytes = try readLedger(FileSystem.join(layout.checkpoints, name))
            do throws(NATSError) {
                try publish("\(prefix).checkpoint.\(token)", bytes)
            } catch {
                throw .nats(error)
            }
            checkpointsDone.insert(token)
        }
    }

    /// The wrapped data keys `keys.sqlite` holds now.
    func localKeys() throws(ClusterError) -> [WrappedDataKey] {
        do throws(LedgerError) {
            return try LedgerReplicaFiles.wrappedKeys(directory: layout.directory)
        } catch {
            throw .ledger(error)
        }
    }

    private func uploadKeys() throws(ClusterError) {
        for key in try localKeys() {
            let token = ShardReplica.keyToken(call: key.call, dataClass: key.dataClass)
            guard keySequences[token] == nil else { continue }
            let bytes = ShardReplica.encode(
                ReplicaKey(call: key.call, dataClass: key.dataClass, wrapped: Base64.encode(key.wrapped)))
            do throws(NATSError) {
                keySequences[token] = try publish("\(prefix).keys.\(token)", bytes)
            } catch {
                throw .nats(error)
            }
        }
    }

    /// Publishes the replica's state on `….state` when it changed since the last time.
    func publishStatus() throws(ClusterError) {
        status.segmentsReplicated = manifests.count
        status.replicatedThrough = replicatedEnd
        if let last = manifests.keys.max(), let entry = manifests[last] {
            status.lastManifest = entry.segment
            status.lastManifestMs = entry.replicatedMs
        }
        status.keysReplicated = keySequences.count
        var now = status
        now.updatedMs = published?.updatedMs ?? 0
        guard now != published else { return }
        status.updatedMs = ShardReplica.nowMs()
        do throws(NATSError) {
            try publish("\(prefix).state", ShardReplica.encode(status), unique: true)
        } catch {
            throw .nats(error)
        }
        published = status
    }

    func readLedger(_ path: String, offset: Int = 0, count: Int? = nil) throws(ClusterError) -> [UInt8] {
        do throws(LedgerError) {
            if let count { return try LedgerReplicaFiles.read(path, offset: offset, count: count) }
            return try LedgerReplicaFiles.readWhole(path)
        } catch {
            throw .ledger(error)
        }
    }
}
