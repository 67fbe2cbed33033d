// The writer and reader through the LedgerStore API: durability bookkeeping, idempotency, group commit,
// segment rolling, reindexing, recovery of a torn tail, and corruption located by verify.
import Foundation
import LedgerCore
import LedgerStore
import LedgerTestSupport
import Testing

private func makeLedger(
    _ scratch: ScratchDirectory, configure: (inout LedgerCreationOptions) -> Void = { _ in }
)
    throws -> String
{
    var options = LedgerCreationOptions()
    options.origin = "test.example/ledger"
    configure(&options)
    let directory = scratch.file("ledger")
    try LedgerWriter.create(directory: directory, options: options)
    return directory
}

private func allEvents(_ directory: String, _ selection: EventSelection = .init()) throws -> [[String: Any]] {
    let reader = try LedgerReader(directory: directory)
    var events: [[String: Any]] = []
    try reader.events(selection) { line in events.append(try! jsonObject(String(decoding: line, as: UTF8.self))) }
    return events
}

@Suite struct LedgerWriterTests {
    @Test func appendedEventsReadBackInOrderWithSealedPartsOpened() throws {
        let scratch = ScratchDirectory()
        let directory = try makeLedger(scratch)
        let lines = simulatedLines(calls: 2, seed: 7)
        let writer = try LedgerWriter(directory: directory)
        let results = try writer.append(try decodeLines(lines))
        try writer.close()
        #expect(results.map(\.seq) == (0..<UInt64(lines.count)).map { $0 })
        #expect(results.allSatisfy { $0.status == .appended })
        let events = try allEvents(directory)
        #expect(events.count == lines.count)
        for (line, event) in zip(lines, events) {
            let input = try jsonObject(line)
            #expect(event["idempotency"] as? String == input["idempotency"] as? String)
            #expect(
                NSDictionary(dictionary: event["body"] as! [String: Any])
                    == NSDictionary(dictionary: input["body"] as! [String: Any]))
        }
    }

    /// Transcript parts are often stored as deltas of the previous part of the same call and class; reading
    /// one event alone must fetch its bases and still give the exact body.
    @Test func singleEventsReadAloneMatchTheirInput() throws {
        let scratch = ScratchDirectory()
        let directory = try makeLedger(scratch) { $0.maximumBatchEvents = 64 }
        let lines = simulatedLines(calls: 2, seed: 17)
        let writer = try LedgerWriter(directory: directory)
        _ = try writer.append(try decodeLines(lines))
        try writer.close()
        let finals = lines.indices.filter { lines[$0].contains(#""final":true"#) }
        try #require(finals.count > 10)
        for index in finals.suffix(10) {
            let events = try allEvents(directory, EventSelection(from: UInt64(index), to: UInt64(index)))
            try #require(events.count == 1)
            let input = try jsonObject(lines[index])
            #expect(
                NSDictionary(dictionary: events[0]["body"] as! [String: Any])
                    == NSDictionary(dictionary: input["body"] as! [String: Any]))
        }
    }

    @Test func duplicateIdempotencyKeysAreNotAppendedAgain() throws {
        let scratch = ScratchDirectory()
        let directory = try makeLedger(scratch)
        let events = try decodeLines(simulatedLines(calls: 2, seed: 3))
        try #require(events.count >= 150)
        do {
            let writer = try LedgerWriter(directory: directory)
            _ = try writer.append(Array(events.prefix(100)))
            let again = try writer.append([events[5], events[100], events[100]])
            #expect(again.map(\.status) == [.duplicate, .appended, .duplicate])
            #expect(again.map(\.seq) == [5, 100, 100])
            try writer.close()
        }
        let reopened = try LedgerWriter(directory: directory)
        let results = try reopened.append(Array(events.prefix(150)))
        #expect(results.filter { $0.status == .duplicate }.count == 101)
        #expect(results.last!.seq == 149)
        try reopened.close()
        #expect(try LedgerReader(directory: directory).size == 150)
    }

    @Test func concurrentAppendsShareFrames() throws {
        let scratch = ScratchDirectory()
        let directory = try makeLedger(scratch)
        let events = try decodeLines(simulatedLines(calls: 2, seed: 11)).prefix(400)
        let writer = try LedgerWriter(directory: directory)
        let group = DispatchGroup()
        for thread in 0..<16 {
            group.enter()
            Thread {
                for index in stride(from: thread, to: events.count, by: 16) {
                    let result = try! writer.append([events[events.startIndex + index]])
                    precondition(result[0].status == .appended)
                }
                group.leave()
            }.start()
        }
        group.wait()
        try writer.close()
        let stats = try LedgerReader(directory: directory).statistics()
        #expect(stats.events == 400)
        #expect(stats.frames < 400, "400 concurrent single-event appends must group into fewer frames")
    }

    @Test func segmentsRollAtTheConfiguredSizeAndEveryOneDecodes() throws {
        let scratch = ScratchDirectory()
        let directory = try makeLedger(scratch) {
            $0.segmentSizeLimit = 32 << 10
            $0.maximumBatchEvents = 100
        }
        let writer = try LedgerWriter(directory: directory)
        _ = try writer.append(try decodeLines(simulatedLines(calls: 3, seed: 5)))
        try writer.close()
        let reader = try LedgerReader(directory: directory)
        let stats = try reader.statistics()
        #expect(stats.segments > 3)
        let report = try reader.verify()
        #expect(report.fault == nil)
        #expect(report.events == stats.events)
        #expect(report.segments == stats.segments)
    }

    @Test func aSegmentSealedOnDemandMayBeShortAndBothVerifiersReadTheLogAcrossIt() throws {
        let scratch = ScratchDirectory()
        let directory = try makeLedger(scratch)
        let first = try decodeLines(simulatedLines(calls: 2, seed: 5))
        let second = try decodeLines(simulatedLines(calls: 1, seed: 6))
        var writer = try LedgerWriter(directory: directory)
        #expect(try writer.sealSegment() == nil, "an empty ledger has nothing to seal")
        _ = try writer.append(first)
        #expect(try writer.sealSegment() == 0)
        #expect(try writer.sealSegment() == nil, "the new segment holds no event yet")
        try writer.close()
        let segments = directory + "/segments/"
        let sealed = LedgerLayout.segmentName(firstSeq: UInt64(first.count))
        #expect(try FileManager.default.contentsOfDirectory(atPath: segments).sorted().last == sealed)
        #expect(try Data(contentsOf: URL(fileURLWithPath: segments + sealed)).isEmpty)
        let verifier = Repository.root.appendingPathComponent("tools/verify").path
        let withEmptyNewest = try run(verifier, ["ledger", directory])
        #expect(withEmptyNewest.status == 0, "\(withEmptyNewest.stdout) \(withEmptyNewest.stderr)")
        #expect(try LedgerReader(directory: directory).verify().fault == nil)
        // A writer opened on the empty newest segment appends there.
        writer = try LedgerWriter(directory: directory)
        _ = try writer.append(second)
        try writer.close()
        let names = try FileManager.default.contentsOfDirectory(atPath: segments).sorted()
        #expect(names == [LedgerLayout.segmentName(firstSeq: 0), sealed])
        let reader = try LedgerReader(directory: directory)
        let report = try reader.verify()
        #expect(report.fault == nil && report.events == UInt64(first.count + second.count))
        #expect(try allEvents(directory).count == first.count + second.count)
        let python = try run(verifier, ["ledger", directory])
        #expect(python.status == 0, "\(python.stdout) \(python.stderr)")
    }

    @Test func reindexRebuildsTheIndexExactly() throws {
        let scratch = ScratchDirectory()
        let directory = try makeLedger(scratch) { $0.maximumBatchEvents = 50 }
        let writer = try LedgerWriter(directory: directory)
        _ = try writer.append(try decodeLines(simulatedLines(calls: 2, seed: 9)))
        _ = try writer.checkpoint()
        try writer.close()
        let before = try dumpIndex(directory)
        _ = try LedgerWriter.reindex(directory: directory)
        #expect(try dumpIndex(directory) == before)
        try FileManager.default.removeItem(atPath: directory + "/index.sqlite")
        _ = try LedgerWriter.reindex(directory: directory)
        #expect(try dumpIndex(directory) == before)
    }

    @Test func atomicAppendIsOneFrame() throws {
        let scratch = ScratchDirectory()
        let directory = try makeLedger(scratch) { $0.maximumBatchEvents = 10 }
        let writer = try LedgerWriter(directory: directory)
        let results = try writer.appendAtomically(Array(try decodeLines(simulatedLines(calls: 2, seed: 2)).prefix(95)))
        try writer.close()
        #expect(results.count == 95)
        #expect(try LedgerReader(directory: directory).statistics().frames == 1)
    }

    @Test func secondWriterIsLockedOut() throws {
        let scratch = ScratchDirectory()
        let directory = try makeLedger(scratch)
        let writer = try LedgerWriter(directory: directory)
        #expect {
            _ = try LedgerWriter(directory: directory)
        } throws: { error in
            "\(error)".contains("locked by another writer")
        }
        try writer.close()
    }
}

/// Every index table's rows, as text, in a stable order.
func dumpIndex(_ directory: String) throws -> String {
    let result = try run(
        "/usr/bin/sqlite3",
        [
            directory + "/index.sqlite",
            "SELECT * FROM frames ORDER BY first_seq; SELECT * FROM calls ORDER BY call; "
                + "SELECT * FROM call_frames ORDER BY call, frame_seq; SELECT * FROM checkpoints ORDER BY tree_size;",
        ])
    #expect(result.status == 0, "\(result.stderr)")
    return result.stdout
}

@Suite struct RecoveryAndCorruptionTests {
    private func ledgerWithFrames(_ scratch: ScratchDirectory) throws -> (String, [UInt64]) {
        let directory = try makeLedger(scratch) { $0.maximumBatchEvents = 100 }
        let writer = try LedgerWriter(directory: directory)
        let events = try decodeLines(simulatedLines(calls: 4, seed: 4))
        try #require(events.count >= 1000)
        _ = try writer.append(Array(events.prefix(1000)))
        try writer.close()
        return (directory, [])
    }

    private func segmentPath(_ directory: String) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory + "/segments").sorted()
        return directory + "/segments/" + names.last!
    }

    @Test func tornTailIsTruncatedOnOpenAndReported() throws {
        let scratch = ScratchDirectory()
        let (directory, _) = try ledgerWithFrames(scratch)
        let path = try segmentPath(directory)
        let handle = FileHandle(forWritingAtPath: path)!
        let size = try handle.seekToEnd()
        try handle.write(contentsOf: Data([0x28, 0xB5, 0x2F, 0xFD, 0x64, 0x00, 0x01]))
        try handle.close()
        let writer = try LedgerWriter(directory: directory)
        let tail = try #require(writer.recovery.truncatedTail)
        #expect(tail.offset == Int(size) && tail.bytes == 7)
        #expect(writer.durableSize == 1000)
        try writer.close()
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64 == size)
        #expect(try LedgerReader(directory: directory).verify().fault == nil)
    }

    @Test func aTruncatedLastFrameIsReadAroundByReadersAndCutOnlyByTheWriter() throws {
        let scratch = ScratchDirectory()
        let (directory, _) = try ledgerWithFrames(scratch)
        let path = try segmentPath(directory)
        let handle = FileHandle(forUpdatingAtPath: path)!
        let size = try handle.seekToEnd()
        try handle.truncate(atOffset: size - 100)
        try handle.close()
        let torn = try Data(contentsOf: URL(fileURLWithPath: path))
        let reader = try LedgerReader(directory: directory)
        #expect(reader.tail?.torn == true)
        #expect(reader.size == 900)
        let report = try reader.verify()
        #expect(report.fault == nil && report.events == 900 && report.tornTail != nil)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == torn, "a reader changed the log")
        let writer = try LedgerWriter(directory: directory)
        #expect(writer.recovery.truncatedTail != nil && writer.durableSize == 900)
        try writer.close()
        #expect(try LedgerReader(directory: directory).verify().fault == nil)
    }

    /// A frame that decompresses with a valid zstd checksum holds exactly the bytes the writer wrote: when its
    /// records do not decode, that is corruption to report (segment, offset, first seq), never a tail to cut.
    @Test func aChecksummedLastFrameThatDoesNotDecodeIsReportedNotCut() throws {
        let scratch = ScratchDirectory()
        let (directory, _) = try ledgerWithFrames(scratch)
        let path = try segmentPath(directory)
        let content = Array("CLF1".utf8) + [0xE8, 0x07, 0x01, 0x00, 0x03, 0x09, 0x00, 0x00]
        var frame: [UInt8] = []
        try ZstdCompressor(level: 3).compress(content, appendingTo: &frame)
        let handle = FileHandle(forUpdatingAtPath: path)!
        let offset = try handle.seekToEnd()
        try handle.write(contentsOf: Data(frame))
        try handle.close()
        let corrupt = try Data(contentsOf: URL(fileURLWithPath: path))
        let name = (path as NSString).lastPathComponent
        for open in [{ _ = try LedgerReader(directory: directory) }, { _ = try LedgerWriter(directory: directory) }] {
            #expect {
                try open()
            } throws: { error in
                "\(error)".contains("segment \(name) at byte offset \(offset) (first affected seq 1000)")
            }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == corrupt, "the corrupt frame was cut")
        let report = try LedgerReader(directory: directory, allowingCorruptTail: true).verify()
        #expect(report.fault?.offset == Int(offset) && report.fault?.seq == 1000)
    }

    @Test func flippedByteIsLocatedBySegmentOffsetAndSeq() throws {
        let scratch = ScratchDirectory()
        let (directory, _) = try ledgerWithFrames(scratch)
        let path = try segmentPath(directory)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let frames = try frameTable(directory)
        let target = frames[4]
        let flipAt = target.offset + target.length / 2
        bytes[flipAt] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: path))
        let report = try LedgerReader(directory: directory).verify()
        let fault = try #require(report.fault)
        #expect(fault.file == (path as NSString).lastPathComponent)
        #expect(fault.offset == target.offset)
        #expect(fault.seq == target.firstSeq)
    }

    @Test func alteredStoredTreeIsDetected() throws {
        let scratch = ScratchDirectory()
        let (directory, _) = try ledgerWithFrames(scratch)
        let path = directory + "/tree/level-00.hashes"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[32 * 17 + 3] ^= 1
        try bytes.write(to: URL(fileURLWithPath: path))
        let fault = try #require(try LedgerReader(directory: directory).verify().fault)
        #expect(fault.reason.contains("seq 17"))
    }

    private func frameTable(_ directory: String) throws -> [(firstSeq: UInt64, offset: Int, length: Int)] {
        let result = try run(
            "/usr/bin/sqlite3",
            [directory + "/index.sqlite", "SELECT first_seq, offset, stored_bytes FROM frames ORDER BY first_seq"])
        return result.stdout.split(separator: "\n").map { row in
            let fields = row.split(separator: "|").map { Int($0)! }
            return (UInt64(fields[0]), fields[1], fields[2])
        }
    }
}

@Suite struct StoredProofTests {
    @Test func proofsFromTheStoredTreeVerifyAgainstTheCheckpoint() throws {
        let scratch = ScratchDirectory()
        let directory = try makeLedger(scratch) { $0.maximumBatchEvents = 37 }
        let writer = try LedgerWriter(directory: directory)
        _ = try writer.append(Array(try decodeLines(simulatedLines(calls: 3, seed: 8)).prefix(500)))
        let (checkpoint, _) = try writer.checkpoint()
        try writer.close()
        let reader = try LedgerReader(directory: directory)
        for seq in [UInt64(0), 1, 36, 37, 255, 256, 499] {
            let proof = try reader.inclusionProof(seq: seq)
            let entry = Base64.decode(proof.entry)!
            try MerkleVerifier.verifyInclusion(
                leaf: seq, treeSize: proof.treeSize, leafHash: MerkleHasher.leafHash(entry),
                proof: proof.inclusionProof.map { SHA256Digest(hex: $0)! }, root: checkpoint.rootHash)
        }
        let partial = try reader.inclusionProof(seq: 10, treeSize: 100)
        #expect(partial.consistencyProof != nil)
        let consistency = try reader.consistencyProof(from: 100, to: 500)
        try MerkleVerifier.verifyConsistency(
            firstSize: 100, secondSize: 500, firstRoot: SHA256Digest(hex: consistency.fromRootHash)!,
            secondRoot: checkpoint.rootHash, proof: consistency.proof.map { SHA256Digest(hex: $0)! })
    }
}

@Suite struct CheckpointAndKeyFileTests {
    @Test func checkpointsAreWrittenEveryNEventsAndVerifyAsAChain() throws {
        let scratch = ScratchDirectory()
        let directory = try makeLedger(scratch) {
            $0.checkpointEveryEvents = 100
            $0.maximumBatchEvents = 40
        }
        let writer = try LedgerWriter(directory: directory)
        _ = try writer.append(Array(try decodeLines(simulatedLines(calls: 2, seed: 12)).prefix(450)))
        try writer.close()
        let reader = try LedgerReader(directory: directory)
        let checkpoints = try reader.checkpoints()
        #expect(checkpoints.map(\.checkpoint.treeSize) == [120, 240, 360])
        for (earlier, later) in zip(checkpoints, checkpoints.dropFirst()) {
            #expect(later.checkpoint.treeSize - earlier.checkpoint.treeSize >= 100)
        }
        let report = try reader.verify()
        #expect(report.fault == nil)
        #expect(report.checkpoints == checkpoints.count && report.consistencyProofs == checkpoints.count - 1)
    }

    @Test func aCheckpointIsWrittenOnceTheConfiguredSecondsHavePassed() throws {
        let scratch = ScratchDirectory()
        let directory = try makeLedger(scratch) { $0.checkpointEverySeconds = 1 }
        let events = try decodeLines(simulatedLines(calls: 1, seed: 13))
        let writer = try LedgerWriter(directory: directory)
        _ = try writer.append(Array(events.prefix(10)))
        #expect(try LedgerReader(directory: directory).checkpoints().isEmpty)
        Thread.sleep(forTimeInterval: 1.2)
        _ = try writer.append(Array(events.dropFirst(10).prefix(10)))
        try writer.close()
        let checkpoints = try LedgerReader(directory: directory).checkpoints()
        #expect(checkpoints.map(\.checkpoint.treeSize) == [20])
    }

    @Test func keyFileIsPrivateAndARelaxedOneIsRefused() throws {
        let scratch = ScratchDirectory()
        let directory = try makeLedger(scratch)
        let keyPath = directory + ".key"
        let mode = try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as! Int
        #expect(mode == 0o600)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: keyPath)
        #expect {
            _ = try LedgerWriter(directory: directory)
        } throws: { error in
            "\(error)".contains("chmod 600")
        }
        #expect(!(try String(contentsOfFile: directory + "/ledger.json", encoding: .utf8)).contains("master"))
    }
}
