// What the writer takes as evidence (issue 12: "accepted implies readable", "derived files are never evidence"):
// its idempotency set holds whatever the log holds, however index.sqlite was damaged; it refuses to open over a
// log that contradicts a checkpoint it signed; and it never writes a frame readers would refuse.
import Foundation
import LedgerCore
import LedgerStore
import LedgerTestSupport
import Testing

/// A ledger of `events` simulated events in frames of `batch`, closed; returns its directory and the events.
private func closedLedger(
    _ scratch: ScratchDirectory, events count: Int = 1000, batch: Int = 100, segmentBytes: Int? = nil,
    checkpoint: Bool = false
) throws -> (directory: String, events: [DecodedEvent]) {
    var options = LedgerCreationOptions()
    options.origin = "test.example/evidence"
    options.maximumBatchEvents = batch
    if let segmentBytes { options.segmentSizeLimit = segmentBytes }
    let directory = scratch.file("ledger")
    try LedgerWriter.create(directory: directory, options: options)
    let events = try decodeLines(simulatedLines(calls: 6, seed: 21))
    try #require(events.count >= count + 100)
    let writer = try LedgerWriter(directory: directory)
    _ = try writer.append(Array(events.prefix(count)))
    if checkpoint { _ = try writer.checkpoint() }
    try writer.close()
    return (directory, events)
}

/// Runs `/usr/bin/sqlite3 DATABASE SQL`, requiring success; returns its output.
@discardableResult
private func sqlite(_ database: String, _ sql: String) throws -> String {
    let result = try LedgerTestSupport.run("/usr/bin/sqlite3", [database, sql])
    try #require(result.status == 0, "\(result.stderr)")
    return result.stdout
}

/// The segment files' names and bytes, to compare before and after.
private func segmentBytes(_ directory: String) throws -> [String: Data] {
    let names = try FileManager.default.contentsOfDirectory(atPath: directory + "/segments")
    var files: [String: Data] = [:]
    for name in names { files[name] = try Data(contentsOf: URL(fileURLWithPath: directory + "/segments/" + name)) }
    return files
}

/// The idempotency fingerprint of `key` as index.sqlite stores it: the first 8 bytes of its SHA-256, as hex.
private func fingerprintHex(_ key: String) -> String {
    String(SHA256.hash(Array(key.utf8)).hex.prefix(16))
}

@Suite struct IdempotencyIndependentOfIndexTests {
    /// A deleted `frames` row must not make the events of that frame new again.
    @Test func anEventWhoseFrameRowWasDeletedIsStillADuplicate() throws {
        let scratch = ScratchDirectory()
        let (directory, events) = try closedLedger(scratch, checkpoint: true)
        try sqlite(directory + "/index.sqlite", "DELETE FROM frames WHERE first_seq = 300")
        let writer = try LedgerWriter(directory: directory)
        let again = try writer.append([events[350], events[1000]])
        try writer.close()
        #expect(again.map(\.status) == [.duplicate, .appended])
        #expect(again.map(\.seq) == [350, 1000])
        #expect(try LedgerReader(directory: directory).size == 1001, "an event was appended a second time")
    }

    /// An event committed earlier by the same writer (its frame no longer in flight) and delivered again is a
    /// duplicate: the writer's reading connection must see frames indexed after it opened.
    @Test func aReDeliveryOfAnEventCommittedEarlierInTheSameSessionIsADuplicate() throws {
        let scratch = ScratchDirectory()
        let (directory, events) = try closedLedger(scratch, events: 200)
        let writer = try LedgerWriter(directory: directory)
        _ = try writer.append(Array(events[200..<400]))
        let again = try writer.append([events[250], events[400]])
        try writer.close()
        #expect(again.map(\.status) == [.duplicate, .appended])
        #expect(again.map(\.seq) == [250, 400])
        #expect(try LedgerReader(directory: directory).size == 401, "an event was appended a second time")
    }

    /// An altered fingerprint must not make the event holding it new again.
    @Test func anEventWhoseFingerprintWasAlteredIsStillADuplicate() throws {
        let scratch = ScratchDirectory()
        let (directory, events) = try closedLedger(scratch, checkpoint: true)
        // Seq 350 is the 51st fingerprint of the frame at 300: bytes 401-408 of its blob (SQLite counts from 1).
        try sqlite(
            directory + "/index.sqlite",
            "UPDATE frames SET fingerprints = substr(fingerprints, 1, 400) || zeroblob(8) || substr(fingerprints, 409) "
                + "WHERE first_seq = 300")
        let writer = try LedgerWriter(directory: directory)
        let again = try writer.append(Array(events.prefix(1000)))
        try writer.close()
        #expect(again.allSatisfy { $0.status == .duplicate })
        #expect(again[350].seq == 350)
        #expect(try LedgerReader(directory: directory).size == 1000, "an event was appended a second time")
    }

    /// An index row claiming a new event's key must not make that event a duplicate (it is appended).
    @Test func aFingerprintPlantedForANewKeyDoesNotMakeItADuplicate() throws {
        let scratch = ScratchDirectory()
        let (directory, events) = try closedLedger(scratch, checkpoint: true)
        let planted = fingerprintHex(events[1000].idempotency)
        try sqlite(
            directory + "/index.sqlite",
            "UPDATE frames SET fingerprints = substr(fingerprints, 1, 400) || X'\(planted)' "
                + "|| substr(fingerprints, 409) WHERE first_seq = 300")
        let writer = try LedgerWriter(directory: directory)
        let results = try writer.append([events[1000]])
        try writer.close()
        #expect(results.map(\.status) == [.appended])
        #expect(results.map(\.seq) == [1000])
        #expect(try LedgerReader(directory: directory).size == 1001)
    }

    /// A frame whose fingerprints were all overwritten (a damaged page) must not let its events in again.
    @Test func zeroedFingerprintsOfAFrameDoNotLetItsEventsInAgain() throws {
        let scratch = ScratchDirectory()
        let (directory, events) = try closedLedger(scratch, checkpoint: true)
        try sqlite(directory + "/index.sqlite", "UPDATE frames SET fingerprints = zeroblob(800) WHERE first_seq = 0")
        let writer = try LedgerWriter(directory: directory)
        let again = try writer.append(Array(events.prefix(100)))
        try writer.close()
        #expect(again.allSatisfy { $0.status == .duplicate })
        #expect(try LedgerReader(directory: directory).size == 1000)
    }
}

@Suite struct SignedCheckpointAtOpenTests {
    private func lastSegment(_ directory: String) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory + "/segments").sorted()
        return directory + "/segments/" + (try #require(names.last))
    }

    /// Opening for writing must fail, naming the checkpoint and where the log ends, and change no segment.
    private func expectRefusal(_ directory: String, mentioning fragments: [String]) throws {
        let before = try segmentBytes(directory)
        #expect {
            _ = try LedgerWriter(directory: directory)
        } throws: { error in
            let text = "\(error)"
            return fragments.allSatisfy { text.contains($0) }
        }
        #expect(try segmentBytes(directory) == before, "the writer changed the log")
    }

    @Test func aLastFrameTruncatedBelowASignedCheckpointIsNotCutAndTheWriterRefuses() throws {
        let scratch = ScratchDirectory()
        let (directory, _) = try closedLedger(scratch, checkpoint: true)
        let path = try lastSegment(directory)
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        let size = try handle.seekToEnd()
        try handle.truncate(atOffset: size - 100)
        try handle.close()
        try expectRefusal(directory, mentioning: ["00000000000000001000.note", "1000 events", "seq 900"])
    }

    @Test func aLastFrameRemovedWholeBelowASignedCheckpointMakesTheWriterRefuse() throws {
        let scratch = ScratchDirectory()
        let (directory, _) = try closedLedger(scratch, checkpoint: true)
        let offset = try sqlite(directory + "/index.sqlite", "SELECT offset FROM frames WHERE first_seq = 900")
        let path = try lastSegment(directory)
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.truncate(atOffset: try #require(UInt64(offset.trimmingCharacters(in: .whitespacesAndNewlines))))
        try handle.close()
        try expectRefusal(directory, mentioning: ["00000000000000001000.note", "1000 events", "seq 900"])
    }

    @Test func aDamagedLastFrameBelowASignedCheckpointIsNotCutAsATornWrite() throws {
        let scratch = ScratchDirectory()
        let (directory, _) = try closedLedger(scratch, checkpoint: true)
        let path = try lastSegment(directory)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        // The last frame's zstd frame ends where its side-car (magic 0x184D2A51, FORMAT.md §2.1) starts.
        let sideCar = try #require(
            (0..<original.count - 4).last { original[$0..<$0 + 4].elementsEqual([0x51, 0x2A, 0x4D, 0x18]) })
        var bytes = original
        bytes[sideCar - 40] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
        try expectRefusal(directory, mentioning: ["00000000000000001000.note", "1000 events", "seq 900"])

        // A damaged slot of the side-car is not cut either: no checksum covers it, so the writer opens, and
        // verify finds the leaf it no longer gives.
        bytes = original
        bytes[bytes.count - 40] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
        try LedgerWriter(directory: directory).close()
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes, "the writer changed the log")
        let fault = try #require(try LedgerReader(directory: directory).verify().fault)
        #expect(fault.seq.map { $0 >= 900 } == true, "\(fault)")
    }

    @Test func aSegmentTruncatedInTheMiddleOfTheLogMakesTheWriterRefuse() throws {
        let scratch = ScratchDirectory()
        let (directory, _) = try closedLedger(scratch, segmentBytes: 32 << 10, checkpoint: true)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory + "/segments").sorted()
        try #require(names.count >= 3)
        let path = directory + "/segments/" + names[1]
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        let size = try handle.seekToEnd()
        try handle.truncate(atOffset: size - 10)
        try handle.close()
        try expectRefusal(directory, mentioning: [names[1]])
    }

    /// Without a checkpoint over them, a torn last frame is still cut (FORMAT.md §2): the refusal is only for
    /// signed events.
    @Test func aTornFrameAfterTheLastSignedCheckpointIsStillCut() throws {
        let scratch = ScratchDirectory()
        let (directory, events) = try closedLedger(scratch, checkpoint: true)
        do {
            let writer = try LedgerWriter(directory: directory)
            _ = try writer.append(Array(events[1000..<1050]))
            try writer.close()
        }
        let path = try lastSegment(directory)
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        let size = try handle.seekToEnd()
        try handle.truncate(atOffset: size - 50)
        try handle.close()
        let writer = try LedgerWriter(directory: directory)
        #expect(writer.recovery.truncatedTail != nil && writer.durableSize == 1000)
        try writer.close()
    }
}

@Suite struct AtomicFrameLimitTests {
    /// An atomic batch is one frame: one that readers would refuse is refused before anything is staged, the log
    /// unchanged, and the writer goes on appending (no data key of the refused batch is cached unstored).
    @Test func anAtomicBatchOverTheFrameLimitIsRefusedBeforeAnythingIsStaged() throws {
        let scratch = ScratchDirectory()
        let (directory, events) = try closedLedger(scratch, events: 200)
        let before = try segmentBytes(directory)
        let batch = Array(events[200..<400])
        let writer = try LedgerWriter(directory: directory)
        #expect {
            _ = try writer.appendAtomically(batch, frameContentLimit: 16 << 10)
        } throws: { error in
            let text = "\(error)"
            return text.contains("200 events") && text.contains("16384 bytes") && text.contains("split")
        }
        #expect(writer.durableSize == 200)
        #expect(try segmentBytes(directory) == before, "the refused batch changed the log")
        let appended = try writer.append(batch)
        try writer.close()
        #expect(appended.map(\.seq) == (200..<400).map { UInt64($0) })
        let reader = try LedgerReader(directory: directory)
        #expect(try reader.verify().fault == nil)
        var lines: [[UInt8]] = []
        try reader.events(EventSelection(from: 200, to: 399)) { lines.append($0) }
        let bodies = try lines.map { line in
            let body = try jsonObject(String(decoding: line, as: UTF8.self))["body"] ?? [:]
            return String(
                decoding: try JSONSerialization.data(withJSONObject: body, options: .sortedKeys), as: UTF8.self)
        }
        let expected = try simulatedLines(calls: 6, seed: 21)[200..<400].map { line in
            let body = try jsonObject(line)["body"] ?? [:]
            return String(
                decoding: try JSONSerialization.data(withJSONObject: body, options: .sortedKeys), as: UTF8.self)
        }
        #expect(bodies == expected, "events of the refused batch, appended afterwards, do not read back")
    }

    /// The same batch under the readers' limit is one frame.
    @Test func anAtomicBatchWithinTheLimitIsOneFrame() throws {
        let scratch = ScratchDirectory()
        let (directory, events) = try closedLedger(scratch, events: 200)
        let writer = try LedgerWriter(directory: directory)
        let results = try writer.appendAtomically(Array(events[200..<400]), frameContentLimit: 4 << 20)
        try writer.close()
        #expect(results.allSatisfy { $0.status == .appended })
        #expect(try LedgerReader(directory: directory).statistics().frames == 3)
    }
}

/// Data keys for `RecordEncoder` in tests: one fixed key for every (call, class).
private struct FixedKeys: DataKeyProvider {
    let key: SymmetricKey
    mutating func dataKey(call: String, dataClass: DataClass) throws -> SymmetricKey { key }
}

@Suite struct RecordBoundTests {
    /// The bound the writer checks frames against before sealing is never below what sealing writes, for events
    /// of every simulated type (parts compressed, stored raw, or as deltas).
    @Test func noRecordIsLargerThanItsBound() throws {
        var encoder = try RecordEncoder()
        var keys = FixedKeys(key: try SymmetricKey.random())
        let events = try decodeLines(simulatedLines(calls: 3, seed: 5))
        try #require(Set(events.map(\.type)).count >= 6)
        for (seq, event) in events.enumerated() {
            var record: [UInt8] = []
            _ = try encoder.encode(
                event, seq: UInt64(1) << 62 + UInt64(seq), time: Int64.min + 1, keys: &keys, appendingTo: &record)
            let bound = RecordEncoder.maximumRecordBytes(event)
            #expect(record.count <= bound, "\(event.idempotency): \(record.count) bytes, bound \(bound)")
        }
    }
}
