// verify: recompute every leaf and the tree from the segments alone, compare with the stored tree, check
// every checkpoint's signature and root, and the consistency of successive checkpoints; then compare the derived
// index (index.sqlite) with what indexing the segments yields.
import Foundation
public import LedgerCore

/// Where verification found the first fault.
public struct VerificationFault: Error, Sendable, Equatable, CustomStringConvertible {
    /// The segment file name, or the file that is wrong (`checkpoints/…`, `tree/…`).
    public var file: String
    /// Byte offset in that file (the frame's offset for segment faults).
    public var offset: Int
    /// The first affected seq.
    public var seq: UInt64?
    /// What is wrong.
    public var reason: String

    /// A message a person can act on.
    public var description: String {
        "\(file) at byte offset \(offset)\(seq.map { " (first affected seq \($0))" } ?? ""): \(reason)"
    }
}

/// The outcome of `verify`.
public struct VerificationReport: Sendable {
    /// Events whose leaves were recomputed.
    public var events: UInt64 = 0
    /// Frames decompressed.
    public var frames = 0
    /// Segment files read.
    public var segments = 0
    /// Compressed bytes read.
    public var bytes = 0
    /// Checkpoints whose signature and root were checked.
    public var checkpoints = 0
    /// Consistency proofs checked between successive checkpoints.
    public var consistencyProofs = 0
    /// The recomputed root of the whole log.
    public var rootHash = MerkleHasher.emptyRoot
    /// The first fault, if any.
    public var fault: VerificationFault?
    /// A torn last frame the log ends before (not a fault: the next writer cuts it), if there is one.
    public var tornTail: LogTail?
    /// Wall-clock seconds the verification took (set by the caller that timed it).
    public var seconds: Double = 0
}

/// Reads one level file of the stored tree sequentially, in chunks.
private struct LevelCursor {
    let file: POSIXFile?
    var buffer: [UInt8] = []
    var bufferStart = 0

    mutating func hash(at index: UInt64) throws(LedgerError) -> SHA256Digest? {
        guard let file else { return nil }
        let offset = Int(index) * 32
        if offset < bufferStart || offset + 32 > bufferStart + buffer.count {
            bufferStart = offset
            buffer = try file.read(count: 1 << 20, at: offset)
            guard buffer.count >= 32 else { return nil }
        }
        return buffer.withUnsafeBytes { SHA256Digest(loadingFrom: $0.baseAddress! + (offset - bufferStart)) }
    }
}

/// One frame to decompress and hash, found by scanning a segment's frame headers.
private struct VerifyJob {
    var index: Int
    var segment: String
    var segmentSeq: UInt64
    var file: MappedFile
    var offset: Int
    var size: Int
}

/// A decompressed, parsed and hashed frame: its leaves folded into the maximal complete subtrees they form
/// (split at checkpoint sizes), each compared node by node with the stored tree.
private struct VerifiedFrame {
    var segment: String
    var segmentSeq: UInt64
    var offset: Int
    var storedBytes: Int
    var firstSeq: UInt64 = 0
    var count = 0
    var contentBytes = 0
    var inputBytes = 0
    var firstTime: Int64 = 0
    var lastTime: Int64 = 0
    /// What index.sqlite must hold of the frame's calls and idempotency keys.
    var calls: [String: CallActivity] = [:]
    var fingerprints: [UInt8] = []
    /// The complete subtrees covering the frame's leaves, in order: level and hash.
    var pieces: [(level: Int, hash: SHA256Digest)] = []
    /// A frame that could not be read.
    var failure: String?
    /// A recomputed node that differs from the stored tree.
    var nodeFault: String?
}

/// Work shared between the verifying thread and its hashing threads, guarded by `lock`.
private final class VerifyQueue: @unchecked Sendable {
    static let workers = 0
    static let folder = 1
    let lock = ConditionLock(conditions: 2)
    var jobs: [VerifyJob] = []
    var results: [Int: VerifiedFrame] = [:]
    var closed = false
    /// Where the stored tree lives, and the tree sizes at which checkpoints need a root.
    let treeDirectory: String
    let cuts: [UInt64]

    init(treeDirectory: String, cuts: [UInt64]) {
        self.treeDirectory = treeDirectory
        self.cuts = cuts
    }
}

extension LedgerReader {
    /// Frames decompressed and hashed ahead of the fold, at most.
    static let framesInFlight = 32

    /// How to repair a damaged tree file: the writer rebuilds what is missing from the log.
    static let treeRepair = " (tree/ is derived: `call-ledger reindex` rebuilds it from the log)"

    /// Verifies the whole ledger from its segments. `progress` receives (events done, events expected).
    ///
    /// Two threads decompress frames and compute their leaf hashes in parallel (frames are independent);
    /// this thread folds the leaves in seq order into the tree, comparing every node with the stored tree
    /// and every checkpoint with the root at its size.
    public func verify(progress: (UInt64, UInt64) -> Void = { _, _ in }) throws(LedgerError) -> VerificationReport {
        var report = VerificationReport()
        let expectedTotal = storage.size
        let checkpoints = try loadCheckpoints(&report)
        if report.fault != nil { return report }
        var pendingCheckpoints = checkpoints[...]
        var levels: [LevelCursor] = []
        var frontier = MerkleFrontier()
        // The stored file is checked, not the reader's copy (which a reader brings up to the log in memory). A writer
        // may not have indexed its last frames yet, so only frames after the last indexed one may be missing. Behind
        // a torn tail the stored index may list the lost frames until a writer cuts it and reindexes them: then the
        // reader's copy, which stops before the tail, is checked instead.
        let storedIndex =
            FileSystem.exists(layout.index) && storage.tail?.torn != true
            ? try LedgerStorage.storedIndexForReading(layout) : storage.index
        let indexCheck = try IndexCheck(index: storedIndex, toleratesTail: true)
        defer { indexCheck.close() }
        let queue = VerifyQueue(
            treeDirectory: layout.tree, cuts: checkpoints.map(\.checkpoint.treeSize).filter { $0 > 0 })
        var workers: [Thread] = []
        for _ in 0..<2 {
            let worker = Thread { Self.hashFrames(queue) }
            worker.start()
            workers.append(worker)
        }
        defer {
            queue.lock.withLock {
                queue.closed = true
                queue.lock.broadcast(VerifyQueue.workers)
            }
        }
        func fault(_ file: String, _ offset: Int, _ seq: UInt64?, _ reason: String) -> VerificationReport {
            report.fault = VerificationFault(file: file, offset: offset, seq: seq, reason: reason)
            return report
        }
        var produced = 0
        var folded = 0
        /// Folds finished frames in order; returns a fault, if one was found.
        func fold(waitingFor target: Int) throws(LedgerError) -> VerificationReport? {
            while folded < target {
                let frame = queue.lock.withLock { () -> VerifiedFrame in
                    while queue.results[folded] == nil { queue.lock.wait(VerifyQueue.folder) }
                    return queue.results.removeValue(forKey: folded)!
                }
                folded += 1
                let expected = frontier.size
                if let failure = frame.failure { return fault(frame.segment, frame.offset, expected, failure) }
                if frame.firstSeq != expected {
                    return fault(
                        frame.segment, frame.offset, expected,
                        "frame starts at seq \(frame.firstSeq), expected \(expected)")
                }
                if let nodeFault = frame.nodeFault { return fault(frame.segment, frame.offset, expected, nodeFault) }
                for piece in frame.pieces {
                    var nodeFault: String?
                    var readFailure: LedgerError?
                    frontier.append(subtreeHash: piece.hash, level: piece.level) { node in
                        do throws(LedgerError) {
                            while levels.count <= node.level {
                                let path = storage.tree.path(level: levels.count)
                                levels.append(
                                    LevelCursor(
                                        file: FileSystem.exists(path) ? try POSIXFile(path: path, flags: O_RDONLY) : nil
                                    ))
                            }
                            guard let stored = try levels[node.level].hash(at: node.index), stored != node.hash else {
                                return
                            }
                        } catch {
                            readFailure = error
                            return
                        }
                        nodeFault =
                            "tree node (level \(node.level), index \(node.index)) differs from the recomputed one"
                            + Self.treeRepair
                    }
                    if let readFailure { throw readFailure }
                    if let nodeFault { return fault(frame.segment, frame.offset, expected, nodeFault) }
                    while let next = pendingCheckpoints.first, next.checkpoint.treeSize == frontier.size {
                        guard frontier.rootHash == next.checkpoint.rootHash else {
                            return fault(
                                next.file, 0, nil,
                                "checkpoint root for size \(next.checkpoint.treeSize) does not match the log")
                        }
                        report.checkpoints += 1
                        pendingCheckpoints.removeFirst()
                    }
                }
                try indexCheck.check(
                    IndexedFrame(
                        location: FrameLocation(
                            firstSeq: frame.firstSeq, count: frame.count, segment: frame.segmentSeq,
                            offset: frame.offset, storedBytes: frame.storedBytes, contentBytes: frame.contentBytes,
                            inputBytes: frame.inputBytes, firstTime: frame.firstTime, lastTime: frame.lastTime),
                        calls: frame.calls, fingerprints: frame.fingerprints))
                report.frames += 1
                progress(frontier.size, max(expectedTotal, frontier.size))
            }
            return nil
        }
        while let first = pendingCheckpoints.first, first.checkpoint.treeSize == 0 {
            guard first.checkpoint.rootHash == MerkleHasher.emptyRoot else {
                return fault(first.file, 0, nil, "checkpoint root for size 0 is not the empty tree's root")
            }
            report.checkpoints += 1
            pendingCheckpoints.removeFirst()
        }
        for segmentSeq in try storage.segmentFirstSeqs() {
            let name = LedgerLayout.segmentName(firstSeq: segmentSeq)
            let file = try MappedFile(path: layout.segmentPath(firstSeq: segmentSeq))
            let bytes = file.bytes
            report.segments += 1
            report.bytes += bytes.count
            if let found = try fold(waitingFor: produced) { return found }
            if segmentSeq != frontier.size && !bytes.isEmpty {
                return fault(
                    name, 0, frontier.size,
                    "segment is named for seq \(segmentSeq) but the log continues at seq \(frontier.size)")
            }
            var offset = 0
            var end = bytes.count
            if let tail = storage.tail, tail.torn, tail.segment == name {
                end = min(end, tail.offset)
                report.tornTail = tail
            }
            while offset < end {
                let size = Zstd.frameSize(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
                guard let size else {
                    if let found = try fold(waitingFor: produced) { return found }
                    return fault(
                        name, offset, frontier.size, "no complete zstd frame starts here (torn or overwritten)")
                }
                let job = VerifyJob(
                    index: produced, segment: name, segmentSeq: segmentSeq, file: file, offset: offset, size: size)
                queue.lock.withLock {
                    queue.jobs.append(job)
                    queue.lock.broadcast(VerifyQueue.workers)
                }
                produced += 1
                offset += size
                if produced - folded >= Self.framesInFlight {
                    if let found = try fold(waitingFor: produced - Self.framesInFlight / 2) { return found }
                }
            }
        }
        if let found = try fold(waitingFor: produced) { return found }
        report.events = frontier.size
        report.rootHash = frontier.rootHash
        if let beyond = pendingCheckpoints.first {
            return fault(
                beyond.file, 0, nil,
                "checkpoint of size \(beyond.checkpoint.treeSize) is beyond the log's \(frontier.size) events: the log was cut back"
            )
        }
        try checkConsistency(checkpoints, &report)
        if report.fault == nil {
            try indexCheck.finish(logSize: frontier.size, checkpoints: try self.checkpoints())
            if let found = indexCheck.fault {
                report.fault = VerificationFault(
                    file: "index.sqlite", offset: 0, seq: found.seq,
                    reason: "the derived index " + found.reason
                        + "; run `call-ledger reindex` to rebuild it from the log")
            }
        }
        return report
    }

    /// A hashing thread: decompresses and parses frames, computing each record's leaf hash.
    private static func hashFrames(_ queue: VerifyQueue) {
        guard let decompressor = try? ZstdDecompressor() else { return }
        var content: [UInt8] = []
        var scratch: [UInt8] = []
        var joinScratch: [UInt8] = []
        var levels: [POSIXFile?] = []
        while true {
            let next = queue.lock.withLock { () -> VerifyJob? in
                while queue.jobs.isEmpty && !queue.closed { queue.lock.wait(VerifyQueue.workers) }
                return queue.jobs.isEmpty ? nil : queue.jobs.removeFirst()
            }
            guard let job = next else { return }
            var frame = VerifiedFrame(
                segment: job.segment, segmentSeq: job.segmentSeq, offset: job.offset, storedBytes: job.size)
            let problem = decompressor.decompress(
                UnsafeRawBufferPointer(rebasing: job.file.bytes[job.offset..<job.offset + job.size]), into: &content,
                maximumSize: RecordLimits.maximumFrameContentBytes)
            let contentBytes = content.count
            var sideCarFailure: SideCarError?
            if problem == nil {
                do {
                    try SealedSideCar.join(
                        &content,
                        stored: UnsafeRawBufferPointer(rebasing: job.file.bytes[job.offset..<job.offset + job.size]),
                        scratch: &joinScratch)
                } catch {
                    sideCarFailure = error
                }
            }
            if let problem {
                frame.failure = "zstd: \(problem)"
            } else if let sideCarFailure {
                frame.failure = sideCarFailure.description
            } else {
                var leaves: [SHA256Digest] = []
                content.withUnsafeBytes { raw in
                    do {
                        let parsed = try FrameContent(raw)
                        frame.firstSeq = parsed.firstSeq
                        frame.count = parsed.count
                        frame.contentBytes = contentBytes
                        frame.inputBytes = parsed.inputBytes
                        leaves.reserveCapacity(parsed.count)
                        try parsed.forEachRecord { record in
                            leaves.append(record.leafHash(scratch: &scratch))
                            LedgerStorage.collect(record, calls: &frame.calls, fingerprints: &frame.fingerprints)
                            if record.seq == parsed.firstSeq { frame.firstTime = record.time }
                            frame.lastTime = record.time
                        }
                    } catch {
                        frame.failure = "frame content: \(error)"
                    }
                }
                if frame.failure == nil {
                    do throws(LedgerError) {
                        try fold(leaves, from: frame.firstSeq, into: &frame, queue: queue, levels: &levels)
                    } catch {
                        frame.failure = "reading the stored tree: \(error)"
                    }
                }
            }
            queue.lock.withLock {
                queue.results[job.index] = frame
                queue.lock.broadcast(VerifyQueue.folder)
            }
        }
    }

    /// Folds a frame's leaves (the first is leaf `first`) into maximal complete subtrees, split at checkpoint
    /// sizes, comparing every node with the stored tree's level files.
    private static func fold(
        _ leaves: [SHA256Digest], from first: UInt64, into frame: inout VerifiedFrame, queue: VerifyQueue,
        levels: inout [POSIXFile?]
    ) throws(LedgerError) {
        let end = first + UInt64(leaves.count)
        var start = first
        var level: [SHA256Digest] = []
        while start < end {
            var height = start == 0 ? 63 : start.trailingZeroBitCount
            while height > 0
                && (start + (1 << UInt64(height)) > end
                    || queue.cuts.contains(where: { $0 > start && $0 < start + (1 << UInt64(height)) }))
            {
                height -= 1
            }
            let width = 1 << height
            level.removeAll(keepingCapacity: true)
            level.append(contentsOf: leaves[Int(start - first)..<Int(start - first) + width])
            for depth in 0...height {
                if depth > 0 {
                    for index in 0..<level.count / 2 {
                        level[index] = MerkleHasher.nodeHash(level[2 * index], level[2 * index + 1])
                    }
                    level.removeSubrange((level.count / 2)...)
                }
                let firstIndex = start >> UInt64(depth)
                while levels.count <= depth {
                    let path = FileSystem.join(
                        queue.treeDirectory, "level-\(levels.count < 10 ? "0" : "")\(levels.count).hashes")
                    levels.append(FileSystem.exists(path) ? try POSIXFile(path: path, flags: O_RDONLY) : nil)
                }
                guard let file = levels[depth] else { continue }
                let stored = try file.read(count: level.count * 32, at: Int(firstIndex) * 32)
                stored.withUnsafeBytes { raw in
                    for index in 0..<raw.count / 32 where frame.nodeFault == nil {
                        let storedHash = SHA256Digest(loadingFrom: raw.baseAddress! + index * 32)
                        guard storedHash != level[index] else { continue }
                        let nodeIndex = firstIndex + UInt64(index)
                        frame.nodeFault =
                            depth == 0
                            ? leafFault(
                                seq: nodeIndex, recomputed: level[index], stored: storedHash, tree: queue.treeDirectory)
                            : "tree node (level \(depth), index \(nodeIndex)) differs from the recomputed one"
                                + treeRepair
                    }
                }
            }
            frame.pieces.append((height, level[0]))
            start += UInt64(width)
        }
    }

    /// What a leaf hash that differs from tree/level-00 means. The stored level above tells which side changed:
    /// when the stored parent is the hash of the recomputed leaf and its stored sibling, the tree file lost the
    /// leaf (derived: `reindex` repairs it); when it is the hash of the stored leaf and its sibling, the tree
    /// still commits to a record the log no longer holds: the log was altered.
    private static func leafFault(
        seq: UInt64, recomputed: SHA256Digest, stored: SHA256Digest, tree: String
    ) -> String {
        func entry(level: String, _ index: UInt64) -> SHA256Digest? {
            let file = try? POSIXFile(path: FileSystem.join(tree, "level-\(level).hashes"), flags: O_RDONLY)
            return file?.readDigest(at: index)
        }
        let parent = entry(level: "01", seq >> 1)
        let siblingHash = entry(level: "00", seq ^ 1)
        if let parent, let siblingHash {
            func node(_ leaf: SHA256Digest) -> SHA256Digest {
                seq & 1 == 0 ? MerkleHasher.nodeHash(leaf, siblingHash) : MerkleHasher.nodeHash(siblingHash, leaf)
            }
            if node(recomputed) == parent {
                return "tree/level-00 entry \(seq) differs from the leaf hash of seq \(seq) recomputed from the log, "
                    + "while tree/level-01 agrees with the log: the tree file is damaged" + treeRepair
            }
            if node(stored) == parent {
                return "the record of seq \(seq) was altered: its leaf hash differs from the one tree/level-00 and "
                    + "tree/level-01 committed to"
            }
        }
        return "leaf hash of seq \(seq) differs from the stored tree (tree/level-00): the record or the tree was "
            + "altered (if `call-ledger reindex` makes it pass, only tree/ was damaged)"
    }

    private func loadCheckpoints(
        _ report: inout VerificationReport
    ) throws(LedgerError) -> [(checkpoint: Checkpoint, file: String)] {
        var result: [(Checkpoint, String)] = []
        for name in try FileSystem.contents(of: layout.checkpoints) where name.hasSuffix(".note") {
            let file = "checkpoints/" + name
            let note = String(decoding: try FileSystem.read(FileSystem.join(layout.checkpoints, name)), as: UTF8.self)
            do {
                let checkpoint = try Checkpoint.open(note: note, verifier: storage.verifierKey)
                guard checkpoint.origin == storage.configuration.origin else {
                    report.fault = VerificationFault(
                        file: file, offset: 0, seq: nil, reason: "origin \"\(checkpoint.origin)\" is not this ledger's")
                    return []
                }
                result.append((checkpoint, file))
            } catch {
                report.fault = VerificationFault(
                    file: file, offset: 0, seq: nil, reason: "signature check failed: \(error)")
                return []
            }
        }
        return result.sorted { $0.0.treeSize < $1.0.treeSize }
    }

    private func checkConsistency(
        _ checkpoints: [(checkpoint: Checkpoint, file: String)], _ report: inout VerificationReport
    ) throws(LedgerError) {
        var tree = MerkleTree(source: storage.tree)
        for (earlier, later) in zip(checkpoints, checkpoints.dropFirst()) {
            do {
                let proof = try tree.consistencyProof(from: earlier.checkpoint.treeSize, to: later.checkpoint.treeSize)
                try MerkleVerifier.verifyConsistency(
                    firstSize: earlier.checkpoint.treeSize, secondSize: later.checkpoint.treeSize,
                    firstRoot: earlier.checkpoint.rootHash, secondRoot: later.checkpoint.rootHash, proof: proof)
                report.consistencyProofs += 1
            } catch {
                report.fault = VerificationFault(
                    file: later.file, offset: 0, seq: nil,
                    reason: "not consistent with \(earlier.file): \(error)")
                return
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension POSIXFile {
    /// Entry `index` of a tree level file (32 bytes each), or nil past its end or when it cannot be read.
    fileprivate func readDigest(at index: UInt64) -> SHA256Digest? {
        guard index < UInt64(Int.max / 32), let bytes = try? read(count: 32, at: Int(index) * 32) else { return nil }
        return SHA256Digest(bytes: bytes)
    }
}
