// tree/: the Merkle tree's complete subtrees, one flat file of 32-byte hashes per level, so that any root
// or proof needs O(log n) reads (FORMAT.md §6).
import Foundation
import LedgerCore

/// The stored Merkle tree. Level `k`'s file holds the hashes of the complete subtrees of `2^k` leaves in order.
final class TreeStore: MerkleNodeSource {
    private let directory: String
    private var files: [POSIXFile] = []
    private var pending: [[UInt8]] = []
    private let writable: Bool
    /// For a reader whose stored tree lags the log: the subtrees ending beyond leaf `start`, recomputed in
    /// memory (level by level, from index `start >> level`), which replace the stored ones.
    private var memory: (start: UInt64, levels: [[SHA256Digest]])?
    /// The number of leaves stored (level 0's entry count).
    private(set) var treeSize: UInt64 = 0

    /// Opens the tree in `directory` (creating it if writable).
    init(directory: String, writable: Bool) throws(LedgerError) {
        self.directory = directory
        self.writable = writable
        if writable { try FileSystem.createDirectory(directory) }
        var level = 0
        while FileSystem.exists(path(level: level)) {
            files.append(try POSIXFile(path: path(level: level), flags: writable ? O_RDWR : O_RDONLY))
            level += 1
        }
        treeSize = files.isEmpty ? 0 : UInt64(try files[0].size() / 32)
    }

    func path(level: Int) -> String {
        FileSystem.join(directory, Self.fileName(level: level))
    }

    /// The stored hash of the complete subtree at (`level`, `index`).
    func node(level: Int, index: UInt64) throws -> SHA256Digest {
        if let memory, (index + 1) << level > memory.start {
            let base = memory.start >> level
            guard level < memory.levels.count, index >= base, index - base < UInt64(memory.levels[level].count) else {
                throw LedgerError.invalidRequest("tree node (\(level), \(index)) is not stored")
            }
            return memory.levels[level][Int(index - base)]
        }
        guard level < files.count else { throw LedgerError.invalidRequest("tree level \(level) is not stored") }
        let bytes = try files[level].read(count: 32, at: Int(index) * 32)
        guard bytes.count == 32, let digest = SHA256Digest(bytes: bytes) else {
            throw LedgerError.invalidRequest("tree node (\(level), \(index)) is not stored")
        }
        return digest
    }

    /// Up to `count` stored hashes of level `level` from `index` on (fewer at the end of the file), 32 bytes each.
    func nodes(level: Int, from index: UInt64, count: Int) throws(LedgerError) -> [UInt8] {
        guard level < files.count, let start = Int(exactly: index), start <= Int.max / 32 else { return [] }
        return try files[level].read(count: count * 32, at: start * 32)
    }

    /// Queues a completed subtree for writing (or, after `keepInMemory(from:)`, keeps it in memory).
    func add(_ node: MerkleFrontier.Node) {
        if memory != nil {
            while memory?.levels.count ?? 0 <= node.level { memory?.levels.append([]) }
            memory?.levels[node.level].append(node.hash)
            if node.level == 0 { treeSize = node.index + 1 }
            return
        }
        while pending.count <= node.level { pending.append([]) }
        node.hash.append(to: &pending[node.level])
        if node.level == 0 { treeSize = node.index + 1 }
    }

    /// From now on, subtrees ending beyond leaf `start` are read from memory, filled by `add`, and never written.
    func keepInMemory(from start: UInt64) {
        memory = (start, [])
        treeSize = start
    }

    /// Writes queued subtrees to the level files (page cache; `sync` makes them durable).
    func flush() throws(LedgerError) {
        for (level, bytes) in pending.enumerated() where !bytes.isEmpty {
            while files.count <= level {
                files.append(try POSIXFile(path: path(level: files.count), flags: O_RDWR | O_CREAT))
            }
            let file = files[level]
            try file.write(bytes, at: try file.size())
            pending[level].removeAll(keepingCapacity: true)
        }
    }

    /// Makes every level file durable.
    func sync() throws(LedgerError) {
        try flush()
        for file in files { try file.sync() }
    }

    /// Cuts the stored tree back to `size` leaves (dropping subtrees that reach beyond it). A level file already
    /// of its size is left untouched, so its modification time still says whether anything wrote it.
    func truncate(to size: UInt64) throws(LedgerError) {
        pending.removeAll()
        for (level, file) in files.enumerated() {
            let bytes = Int(size >> level) * 32
            if try file.size() != bytes { try file.truncate(to: bytes) }
        }
        treeSize = size
    }

    /// The largest size `n <= limit` for which every level file holds all `n >> k` subtrees it should.
    func consistentSize(limit: UInt64) throws(LedgerError) -> UInt64 {
        var size = min(limit, treeSize)
        for (level, file) in files.enumerated() where level > 0 {
            let entries = UInt64(try file.size() / 32)
            size = min(size, (entries + 1) << level - 1)
        }
        return size
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension TreeStore {
    private var markerPath: String { FileSystem.join(directory, "durable-size") }

    /// The tree size known to be on stable storage (written by `markDurable`), 0 if never marked.
    func durableSize() throws(LedgerError) -> UInt64 {
        guard FileSystem.exists(markerPath) else { return 0 }
        let text = String(decoding: try FileSystem.read(markerPath), as: UTF8.self)
        guard let first = text.split(separator: "\n").first, let size = UInt64(first) else {
            throw .invalidRequest("\(markerPath) does not hold a tree size; delete it to rebuild the tree")
        }
        return size
    }

    /// Syncs every level file, then records `treeSize` as durable with each level file's stamp (atomically).
    func markDurable() throws(LedgerError) {
        try sync()
        let lines = ["\(treeSize)"] + (try levelStamps())
        try FileSystem.writeAtomically(Array((lines.joined(separator: "\n") + "\n").utf8), to: markerPath)
    }

    /// Whether every level file is as the last `markDurable` left it (same files, sizes and modification times):
    /// nothing, not even this writer, has written them since.
    func isUnchangedSinceMarked() -> Bool {
        guard FileSystem.exists(markerPath), let text = try? FileSystem.read(markerPath),
            let stamps = try? levelStamps()
        else { return false }
        let recorded = String(decoding: text, as: UTF8.self).split(separator: "\n").dropFirst().map(String.init)
        return !recorded.isEmpty && recorded == stamps
    }

    /// One line per level file: its name and `POSIXFile.modificationStamp()`.
    private func levelStamps() throws(LedgerError) -> [String] {
        var stamps: [String] = []
        for (level, file) in files.enumerated() {
            stamps.append("\(Self.fileName(level: level)) \(try file.modificationStamp())")
        }
        return stamps
    }

    /// The first stored node that is not the hash of its two stored children, if any: a level file changed by
    /// something other than the writer. Reads every level file once (2n hashes for n leaves) and hashes n nodes;
    /// the log is not read. With the right edge checked against a signed root, a tree without such a node holds
    /// exactly the leaves that root commits to.
    func firstInconsistentNode() throws(LedgerError) -> String? {
        let chunk = 1 << 16
        for level in files.indices.dropFirst() {
            let parents = UInt64(try files[level].size() / 32)
            var index: UInt64 = 0
            while index < parents {
                let count = Int(min(UInt64(chunk), parents - index))
                let stored = try nodes(level: level, from: index, count: count)
                let children = try nodes(level: level - 1, from: index * 2, count: count * 2)
                guard stored.count == count * 32, children.count == count * 64 else {
                    return
                        "tree/\(Self.fileName(level: level - 1)) is shorter than tree/\(Self.fileName(level: level)) needs"
                }
                let mismatch = stored.withUnsafeBytes { parents in
                    children.withUnsafeBytes { pairs -> Int? in
                        guard let parentBase = parents.baseAddress, let pairBase = pairs.baseAddress else { return nil }
                        for offset in 0..<count {
                            let left = SHA256Digest(loadingFrom: pairBase + offset * 64)
                            let right = SHA256Digest(loadingFrom: pairBase + offset * 64 + 32)
                            if MerkleHasher.nodeHash(left, right) != SHA256Digest(loadingFrom: parentBase + offset * 32)
                            {
                                return offset
                            }
                        }
                        return nil
                    }
                }
                if let mismatch {
                    let node = index + UInt64(mismatch)
                    return "tree/\(Self.fileName(level: level)) entry \(node) is not the hash of entries "
                        + "\(node * 2) and \(node * 2 + 1) of tree/\(Self.fileName(level: level - 1)): a level file was "
                        + "changed since the writer last marked it"
                }
                index += UInt64(count)
            }
        }
        return nil
    }
}
