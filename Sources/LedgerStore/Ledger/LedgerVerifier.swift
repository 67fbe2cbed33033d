// verify: recompute every leaf and the tree from the segments alone, compare with the stored tree, check
// every checkpoint's signature and root, and the consistency of successive checkpoints.
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

extension LedgerReader {
    /// Verifies the whole ledger from its segments. `progress` receives (events done, events expected).
    public func verify(progress: (UInt64, UInt64) -> Void = { _, _ in }) throws(LedgerError) -> VerificationReport {
        var report = VerificationReport()
        let expectedTotal = storage.size
        let checkpoints = try loadCheckpoints(&report)
        if report.fault != nil { return report }
        var pendingCheckpoints = checkpoints[...]
        var levels: [LevelCursor] = []
        var frontier = MerkleFrontier()
        var scratch: [UInt8] = []
        var content: [UInt8] = []
        var expected: UInt64 = 0
        func fault(_ file: String, _ offset: Int, _ seq: UInt64?, _ reason: String) -> VerificationReport {
            report.fault = VerificationFault(file: file, offset: offset, seq: seq, reason: reason)
            return report
        }
        for segmentSeq in try storage.segmentFirstSeqs() {
            let name = LedgerLayout.segmentName(firstSeq: segmentSeq)
            let bytes = try FileSystem.read(layout.segmentPath(firstSeq: segmentSeq))
            report.segments += 1
            report.bytes += bytes.count
            if segmentSeq != expected && !bytes.isEmpty {
                return fault(
                    name, 0, expected, "segment is named for seq \(segmentSeq) but the log continues at seq \(expected)"
                )
            }
            let scanner = SegmentScanner(bytes: bytes, name: name, decompressor: storage.decompressor)
            var offset = 0
            while offset < bytes.count {
                var leafFault: String?
                let frameResult: ScannedFrame
                do {
                    frameResult = try scanner.readFrame(at: offset, content: &content) { record in
                        guard leafFault == nil else { return }
                        guard record.seq == frontier.size else {
                            leafFault = "seq \(record.seq) is out of order (expected \(frontier.size))"
                            return
                        }
                        let leaf = record.leafHash(scratch: &scratch)
                        try frontier.append(leafHash: leaf) { node in
                            while levels.count <= node.level {
                                let path = self.storage.tree.path(level: levels.count)
                                levels.append(
                                    LevelCursor(
                                        file: FileSystem.exists(path) ? try POSIXFile(path: path, flags: O_RDONLY) : nil
                                    ))
                            }
                            if let stored = try levels[node.level].hash(at: node.index), stored != node.hash {
                                leafFault =
                                    node.level == 0
                                    ? "leaf hash of seq \(record.seq) differs from the stored tree (tree/level-00): the record or the tree was altered"
                                    : "tree node (level \(node.level), index \(node.index)) differs from the recomputed one"
                            }
                        }
                    }
                } catch {
                    return fault(name, offset, expected, error.reason)
                }
                if frameResult.firstSeq != expected {
                    return fault(
                        name, offset, expected, "frame starts at seq \(frameResult.firstSeq), expected \(expected)")
                }
                if let leafFault { return fault(name, offset, expected, leafFault) }
                report.frames += 1
                expected += UInt64(frameResult.count)
                offset += frameResult.storedBytes
                while let next = pendingCheckpoints.first, next.checkpoint.treeSize <= frontier.size {
                    if next.checkpoint.treeSize < frontier.size {
                        var tree = MerkleTree(source: storage.tree)
                        let root = try? tree.rootHash(treeSize: next.checkpoint.treeSize)
                        if root != next.checkpoint.rootHash {
                            return fault(
                                next.file, 0, nil,
                                "checkpoint root for size \(next.checkpoint.treeSize) does not match the log")
                        }
                    } else if frontier.rootHash != next.checkpoint.rootHash {
                        return fault(
                            next.file, 0, nil,
                            "checkpoint root for size \(next.checkpoint.treeSize) does not match the log")
                    }
                    report.checkpoints += 1
                    pendingCheckpoints.removeFirst()
                }
                progress(expected, max(expectedTotal, expected))
            }
        }
        report.events = expected
        report.rootHash = frontier.rootHash
        if let beyond = pendingCheckpoints.first {
            return fault(
                beyond.file, 0, nil,
                "checkpoint of size \(beyond.checkpoint.treeSize) is beyond the log's \(expected) events: the log was cut back"
            )
        }
        try checkConsistency(checkpoints, &report)
        return report
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
