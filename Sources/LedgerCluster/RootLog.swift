// RootLog: the deployment's root log (FORMAT.md §13, "Root log"). Every signed shard checkpoint is one leaf of an
// RFC 6962 tree whose leaves are the messages of one JetStream stream in stream order; shard writers append their
// checkpoints there (each shard's subject under compare-and-set on its last sequence, so a checkpoint is recorded
// once), and the holder of the root key signs C2SP checkpoints of that tree.
import Foundation
public import LedgerCore
import LedgerStore
public import NATSClient

extension ClusterConfiguration {
    /// The JetStream stream whose messages, in stream order, are the root log's leaves.
    public var rootStream: String { "CALL_LEDGER_\(name)_root" }
    /// The subject shard `shard`'s checkpoints are recorded on.
    public func rootSubject(shard: Int) -> String { "call-ledger.\(name).root.\(shard)" }
    /// The JetStream stream holding the signed root checkpoints, one subject per tree size.
    public var rootCheckpointStream: String { "CALL_LEDGER_\(name)_root_checkpoints" }
    /// The subject of the signed root checkpoint of `size` leaves.
    public func rootCheckpointSubject(size: UInt64) -> String {
        "call-ledger.\(name).root-checkpoint.\(ShardReplica.padded(size))"
    }
    /// The subject holding the root's C2SP verifier key.
    public var rootKeySubject: String { "call-ledger.\(name).root-checkpoint.key" }
    /// The root checkpoints' origin line, also the root key's name.
    public var rootOrigin: String { "call-ledger/\(name)/root" }

    /// The root log's stream: limits retention with nothing removed, so stream sequence `i + 1` is leaf `i`.
    public var rootStreamConfiguration: StreamConfiguration {
        StreamConfiguration(
            name: rootStream, subjects: ["call-ledger.\(name).root.*"], replicas: replicas,
            duplicateWindowSeconds: duplicateWindowSeconds)
    }

    /// The stream of signed root checkpoints.
    public var rootCheckpointStreamConfiguration: StreamConfiguration {
        var stream = StreamConfiguration(
            name: rootCheckpointStream, subjects: ["call-ledger.\(name).root-checkpoint.*"], replicas: replicas,
            duplicateWindowSeconds: duplicateWindowSeconds)
        stream.maxMessagesPerSubject = 1
        return stream
    }
}

/// One leaf of the root log: a shard's signed checkpoint.
public struct RootLeaf: Sendable, Equatable {
    /// The shard that signed it.
    public var shard: Int
    /// The shard checkpoint's tree size.
    public var treeSize: UInt64
    /// SHA-256 of the signed note's bytes (UTF-8, as the shard wrote `checkpoints/<size>.note`).
    public var noteDigest: SHA256Digest

    /// The leaf for `note`, a signed checkpoint of `shard` (its size is read from the note's body, unverified).
    public init(shard: Int, note: String) throws(ClusterError) {
        guard (0...Int(UInt32.max)).contains(shard) else {
            throw .rootLog(reason: "shard \(shard) is out of range")
        }
        let checkpoint = try Checkpoint.parseUnverified(note)
        self.shard = shard
        self.treeSize = checkpoint.treeSize
        self.noteDigest = SHA256.hash(Array(note.utf8))
    }

    /// The leaf's entry: shard (4 bytes), tree size (8 bytes), both big-endian, then the note's SHA-256.
    public var entry: [UInt8] {
        let shardBytes = withUnsafeBytes(of: UInt32(truncatingIfNeeded: shard).bigEndian, Array.init)
        let sizeBytes = withUnsafeBytes(of: treeSize.bigEndian, Array.init)
        return shardBytes + sizeBytes + noteDigest.bytes
    }

    /// `SHA-256(0x00 || entry)`.
    public var leafHash: SHA256Digest { MerkleHasher.leafHash(entry) }
}

/// A leaf as the root log holds it.
public struct RootLogEntry: Sendable, Equatable {
    /// Its index in the root tree (stream sequence − 1).
    public var index: UInt64
    /// The shard checkpoint note, verbatim.
    public var note: String
    /// The leaf.
    public var leaf: RootLeaf
}

/// Reading, appending to and signing the root log.
public enum RootLog {
    /// Every leaf of the root log, in order. Fails when the stream's sequences have a gap (a message was removed).
    public static func entries(
        configuration: ClusterConfiguration, connection: NATSConnection
    ) throws(ClusterError) -> [RootLogEntry] {
        let messages: [JetStreamMessage]
        do throws(NATSError) {
            try connection.ensureStream(configuration.rootStreamConfiguration)
            messages = try connection.messages(
                stream: configuration.rootStream, subject: "call-ledger.\(configuration.name).root.*")
        } catch {
            throw .nats(error)
        }
        var entries: [RootLogEntry] = []
        for message in messages {
            let index = UInt64(entries.count)
            guard message.streamSequence == index + 1 else {
                throw .rootLog(
                    reason: "stream \(configuration.rootStream) has sequence \(message.streamSequence) where leaf "
                        + "\(index) (sequence \(index + 1)) belongs: a message was removed, the root log is broken")
            }
            guard let token = message.subject.split(separator: ".").last, let shard = Int(token) else {
                throw .rootLog(
                    reason: "message \(message.streamSequence) has subject \(message.subject), not a shard's")
            }
            let note = String(decoding: message.data, as: UTF8.self)
            entries.append(RootLogEntry(index: index, note: note, leaf: try RootLeaf(shard: shard, note: note)))
        }
        return entries
    }

    /// The root verifier key published with the root checkpoints (subject `…root-checkpoint.key`), nil before
    /// the first `cluster root sign`. Proofs carry it; a verifier pins its own copy.
    public static func verifierKey(
        configuration: ClusterConfiguration, connection: NATSConnection
    ) throws(ClusterError) -> NoteVerifierKey? {
        let message: StoredMessage?
        do throws(NATSError) {
            try connection.ensureStream(configuration.rootCheckpointStreamConfiguration)
            message = try connection.lastMessage(
                stream: configuration.rootCheckpointStream, subject: configuration.rootKeySubject)
        } catch {
            throw .nats(error)
        }
        guard let message else { return nil }
        do throws(NoteError) {
            return try NoteVerifierKey(parsing: String(decoding: message.data, as: UTF8.self))
        } catch {
            throw .rootLog(reason: "\(configuration.rootKeySubject) does not hold a verifier key: \(error)")
        }
    }

    /// The signed root checkpoints that `verifier` checks, by tree size.
    public static func checkpoints(
        configuration: ClusterConfiguration, connection: NATSConnection, verifier: NoteVerifierKey
    ) throws(ClusterError) -> [(checkpoint: Checkpoint, note: String)] {
        let messages: [JetStreamMessage]
        do throws(NATSError) {
            try connection.ensureStream(configuration.rootCheckpointStreamConfiguration)
            messages = try connection.messages(
                stream: configuration.rootCheckpointStream,
                subject: "call-ledger.\(configuration.name).root-checkpoint.*")
        } catch {
            throw .nats(error)
        }
        var found: [(checkpoint: Checkpoint, note: String)] = []
        for message in messages where message.subject != configuration.rootKeySubject {
            let note = String(decoding: message.data, as: UTF8.self)
            do throws(NoteError) {
                found.append((try Checkpoint.open(note: note, verifier: verifier), note))
            } catch {
                throw .rootLog(reason: "root checkpoint \(message.subject) does not verify: \(error)")
            }
        }
        return found.sorted { $0.checkpoint.treeSize < $1.checkpoint.treeSize }
    }

    /// The tree of the first `size` leaves.
    static func tree(_ entries: [RootLogEntry], size: UInt64) -> MerkleTree<InMemoryMerkleTree> {
        MerkleTree(source: InMemoryMerkleTree(leafHashes: entries.prefix(Int(clamping: size)).map(\.leaf.leafHash)))
    }

    /// Signs a checkpoint of the whole root log with `signer` and publishes it (the same tree size always gives the
    /// same note: Ed25519 signatures are deterministic). It first checks that the log extends the latest root
    /// checkpoint already published, so a root log rewritten behind the signer is never signed.
    public static func sign(
        configuration: ClusterConfiguration, connection: NATSConnection, signer: NoteSignerKey
    ) throws(ClusterError) -> (checkpoint: Checkpoint, note: String) {
        guard signer.name == configuration.rootOrigin else {
            throw .rootLog(reason: "the root key is named \(signer.name), expected \(configuration.rootOrigin)")
        }
        let entries = try entries(configuration: configuration, connection: connection)
        let size = UInt64(entries.count)
        var whole = tree(entries, size: size)
        let root: SHA256Digest
        do {
            root = try whole.rootHash(treeSize: size)
            if let last = try checkpoints(
                configuration: configuration, connection: connection, verifier: signer.verifierKey
            ).last {
                guard last.checkpoint.treeSize <= size,
                    try whole.rootHash(treeSize: last.checkpoint.treeSize) == last.checkpoint.rootHash
                else {
                    throw ClusterError.rootLog(
                        reason: "the root log no longer gives the signed root of size \(last.checkpoint.treeSize)")
                }
            }
        } catch let error as ClusterError {
            throw error
        } catch {
            throw .rootLog(reason: "the root tree cannot be computed: \(error)")
        }
        let checkpoint = Checkpoint(origin: configuration.rootOrigin, treeSize: size, rootHash: root)
        let note: String
        do throws(NoteError) {
            note = try checkpoint.signed(by: signer).serialized
        } catch {
            throw .rootLog(reason: "cannot sign the root checkpoint: \(error)")
        }
        let subject = configuration.rootCheckpointSubject(size: size)
        let key = signer.verifierKey.description
        do throws(NATSError) {
            _ = try connection.publish(
                subject: configuration.rootKeySubject, data: Array(key.utf8),
                messageID: "\(configuration.rootKeySubject):\(key)", timeout: 10)
            _ = try connection.publish(subject: subject, data: Array(note.utf8), messageID: subject, timeout: 10)
        } catch {
            throw .nats(error)
        }
        return (checkpoint, note)
    }
}

/// Records a shard's signed checkpoints in the root log, each once, in size order. The shard's writer runs it after
/// each durable batch, and when it starts, so a checkpoint its predecessor signed but did not record gets recorded.
/// Confine it to the writer's thread.
final class ShardRootRecorder {
    private let configuration: ClusterConfiguration
    private let shard: Int
    private let checkpointsDirectory: String
    private let connection: NATSConnection
    private let subject: String
    /// Whether `last` was read from the root log.
    private var loaded = false
    /// The size of the last checkpoint of this shard the root log holds and its stream sequence (nil: none).
    private var last: (size: UInt64, sequence: UInt64)?

    init(configuration: ClusterConfiguration, shard: Int, directory: String, connection: NATSConnection) {
        self.configuration = configuration
        self.shard = shard
        self.checkpointsDirectory = LedgerLayout(directory: directory).checkpoints
        self.connection = connection
        self.subject = configuration.rootSubject(shard: shard)
    }

    /// The shard's checkpoint notes on disk whose size is above the last recorded one, by size.
    func pending() throws(ClusterError) -> [(size: UInt64, name: String)] {
        try load()
        let recorded = last?.size ?? 0
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: checkpointsDirectory)
        } catch {
            return []
        }
        return names.compactMap { name in
            guard name.hasSuffix(".note"), name.count == 25, let size = UInt64(name.prefix(20)), size > recorded
            else { return nil }
            return (size, name)
        }.sorted { $0.size < $1.size }
    }

    /// Records what `pending()` lists; returns the sizes recorded.
    func record() throws(ClusterError) -> [UInt64] {
        var recorded: [UInt64] = []
        for (size, name) in try pending() {
            guard let data = FileManager.default.contents(atPath: checkpointsDirectory + "/" + name) else {
                throw .rootLog(reason: "cannot read \(checkpointsDirectory)/\(name)")
            }
            let note = String(decoding: data, as: UTF8.self)
            let leaf = try RootLeaf(shard: shard, note: note)
            guard leaf.treeSize == size else {
                throw .rootLog(reason: "\(name) holds a checkpoint of size \(leaf.treeSize), not \(size)")
            }
            do throws(NATSError) {
                let ack = try connection.publish(
                    subject: subject, data: Array(data), messageID: "\(subject):\(size)", timeout: 10,
                    expectedLastSubjectSequence: last?.sequence ?? 0)
                last = (size, ack.sequence)
            } catch  where error.isRevisionConflict {
                // Another writer of this shard recorded in between (it held the lease before us): read again.
                loaded = false
                return recorded
            } catch {
                throw .nats(error)
            }
            recorded.append(size)
        }
        return recorded
    }

    private func load() throws(ClusterError) {
        guard !loaded else { return }
        do throws(NATSError) {
            try connection.ensureStream(configuration.rootStreamConfiguration)
            last = nil
            if let message = try connection.lastMessage(stream: configuration.rootStream, subject: subject) {
                let leaf = try? RootLeaf(shard: shard, note: String(decoding: message.data, as: UTF8.self))
                last = (leaf?.treeSize ?? 0, message.sequence)
            }
            loaded = true
        } catch {
            throw .nats(error)
        }
    }
}
