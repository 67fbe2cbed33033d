// Torn commit groups (FORMAT.md §2): several frames made durable by one fdatasync may reach the disk out of order
// after a power loss, so a torn frame can be followed by intact frames of its own group. Those frames were never
// acknowledged: a writer's recovery cuts from the torn frame, a reader stops before it, and nothing else about the
// torn-tail rule loosens (a damaged frame followed by a later group's frame is still corruption). A power loss
// leaves the derived files (index.sqlite, tree/) as they were before the group, since the writer updates them
// only after the group's sync: the tests put them back so.
import Foundation
import LedgerCore
import LedgerStore
import LedgerTestSupport
import Testing

@Suite struct CommitGroupTornTests {
    /// A ledger of 500 simulated events in frames of 100 (single-frame commits), closed, with the events that
    /// follow them.
    private func ledger(_ scratch: ScratchDirectory) throws -> (directory: String, events: [DecodedEvent]) {
        var options = LedgerCreationOptions()
        options.origin = "test.example/groups"
        options.maximumBatchEvents = 100
        let directory = scratch.file("ledger")
        try LedgerWriter.create(directory: directory, options: options)
        let events = try decodeLines(simulatedLines(calls: 6, seed: 33))
        try #require(events.count >= 1000)
        let writer = try LedgerWriter(directory: directory)
        _ = try writer.append(Array(events.prefix(500)))
        try writer.close()
        return (directory, events)
    }

    /// The derived files (index and tree) as they are now, to put back as a power loss would leave them.
    private func derivedFiles(_ directory: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name.hasPrefix("index.sqlite")
        {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: directory + "/tree") {
            files["tree/" + name] = try Data(contentsOf: URL(fileURLWithPath: directory + "/tree/" + name))
        }
        return files
    }

    /// Puts `files` back (see `derivedFiles`), removing index and tree files written since.
    private func restore(_ files: [String: Data], in directory: String) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name.hasPrefix("index.sqlite")
        {
            try FileManager.default.removeItem(atPath: directory + "/" + name)
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: directory + "/tree") {
            try FileManager.default.removeItem(atPath: directory + "/tree/" + name)
        }
        for (name, data) in files { try data.write(to: URL(fileURLWithPath: directory + "/" + name)) }
    }

    /// Stages `events` without committing, then commits them as one group (frames of 100); returns the segment's
    /// size before the group.
    private func commitGroup(_ directory: String, _ events: ArraySlice<DecodedEvent>) throws -> UInt64 {
        let before = try segmentSize(directory)
        let writer = try LedgerWriter(directory: directory)
        for event in events { _ = try writer.stage(event) }
        _ = try writer.commit()
        try writer.close()
        return before
    }

    private func lastSegment(_ directory: String) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory + "/segments").sorted()
        return directory + "/segments/" + (try #require(names.last))
    }

    private func segmentSize(_ directory: String) throws -> UInt64 {
        let attributes = try FileManager.default.attributesOfItem(atPath: try lastSegment(directory))
        return try #require(attributes[.size] as? UInt64)
    }

    /// Overwrites 512 bytes at `offset` of the last segment with zeros (a page that never reached the disk).
    private func zeroPage(_ directory: String, at offset: UInt64) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: try lastSegment(directory)))
        try handle.seek(toOffset: offset)
        handle.write(Data(count: 512))
        try handle.close()
    }

    @Test func aTornFirstFrameOfTheLastGroupIsCutWithTheIntactFramesOfItsGroup() throws {
        let scratch = ScratchDirectory()
        let (directory, events) = try ledger(scratch)
        let derived = try derivedFiles(directory)
        let groupStart = try commitGroup(directory, events[500..<750])
        try restore(derived, in: directory)
        try zeroPage(directory, at: groupStart + 64)

        let reader = try LedgerReader(directory: directory)
        #expect(reader.size == 500, "a reader reads up to the torn frame and stops")
        #expect(try segmentSize(directory) > groupStart + 64, "a reader cut the log")

        let writer = try LedgerWriter(directory: directory)
        #expect(writer.recovery.truncatedTail?.offset == Int(groupStart))
        #expect(writer.durableSize == 500)
        let again = try writer.append(Array(events[500..<750]))
        #expect(again.allSatisfy { $0.status == .appended }, "events of the cut group were taken as duplicates")
        try writer.close()
        #expect(try LedgerReader(directory: directory).verify().fault == nil)
    }

    @Test func aTornGroupWhoseLastFrameIsAlsoCutShortIsCut() throws {
        let scratch = ScratchDirectory()
        let (directory, events) = try ledger(scratch)
        let derived = try derivedFiles(directory)
        let groupStart = try commitGroup(directory, events[500..<800])
        try restore(derived, in: directory)
        try zeroPage(directory, at: groupStart + 64)
        let handle = try #require(FileHandle(forUpdatingAtPath: try lastSegment(directory)))
        try handle.truncate(atOffset: try segmentSize(directory) - 100)
        try handle.close()

        let writer = try LedgerWriter(directory: directory)
        #expect(writer.recovery.truncatedTail?.offset == Int(groupStart) && writer.durableSize == 500)
        try writer.close()
    }

    /// A reader opened while the writer writes a group can see the file end at any byte of it (a write that
    /// spans pages becomes visible page by page): inside a zstd frame, inside the side-car's or the marker's
    /// 8-byte header or payload. Each is a tail still being written, never corruption.
    @Test func aReaderSeesTheLastGroupCutAtAnyByteAsATailStillBeingWritten() throws {
        let scratch = ScratchDirectory()
        let (directory, events) = try ledger(scratch)
        let derived = try derivedFiles(directory)
        let groupStart = Int(try commitGroup(directory, events[500..<800]))
        try restore(derived, in: directory)
        let segment = try lastSegment(directory)
        let whole = Array(try Data(contentsOf: URL(fileURLWithPath: segment)))
        var previous = 500 as UInt64
        var failures: [String] = []
        // Every byte around the start of each zstd or skippable frame (and its 8-byte header), a sample elsewhere.
        let starts = (groupStart..<whole.count - 3).filter { index in
            (whole[index] & 0xF0 == 0x50 && whole[index + 1...index + 3].elementsEqual([0x2A, 0x4D, 0x18]))
                || whole[index...index + 3].elementsEqual([0x28, 0xB5, 0x2F, 0xFD])
        }
        let lengths = Set((groupStart...whole.count).filter { $0 % 97 == 0 } + [whole.count])
            .union(starts.flatMap { max($0 - 2, groupStart)...min($0 + 24, whole.count) })
        for length in lengths.sorted() {
            try Data(whole[..<length]).write(to: URL(fileURLWithPath: segment))
            do {
                let reader = try LedgerReader(directory: directory)
                if reader.size < previous || reader.tail.map({ !$0.torn }) == true {
                    failures.append("\(length): size \(reader.size), tail \(String(describing: reader.tail))")
                }
                previous = reader.size
            } catch {
                failures.append("\(length): \(error)")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) cuts misread, first: \(failures.first ?? "")")
        #expect(previous == 800)
    }

    @Test func aDamagedFrameFollowedByALaterGroupIsCorruptionAndNothingIsCut() throws {
        let scratch = ScratchDirectory()
        let (directory, events) = try ledger(scratch)
        let derived = try derivedFiles(directory)
        let groupStart = try commitGroup(directory, events[500..<750])
        _ = try commitGroup(directory, events[750..<950])
        try restore(derived, in: directory)
        try zeroPage(directory, at: groupStart + 64)
        let damaged = try Data(contentsOf: URL(fileURLWithPath: try lastSegment(directory)))

        for open in [{ _ = try LedgerReader(directory: directory) }, { _ = try LedgerWriter(directory: directory) }] {
            #expect {
                try open()
            } throws: { error in
                "\(error)".contains("byte offset \(groupStart) (first affected seq 500)")
            }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: try lastSegment(directory))) == damaged, "bytes were cut")
    }

    @Test func aDamagedSingleFrameCommitFollowedByAnotherIsCorruption() throws {
        let scratch = ScratchDirectory()
        let (directory, events) = try ledger(scratch)
        let derived = try derivedFiles(directory)
        let start = try segmentSize(directory)
        do {
            let writer = try LedgerWriter(directory: directory)
            _ = try writer.append(Array(events[500..<600]))
            _ = try writer.append(Array(events[600..<700]))
            try writer.close()
        }
        try restore(derived, in: directory)
        try zeroPage(directory, at: start + 64)
        #expect(throws: LedgerError.self) { _ = try LedgerWriter(directory: directory) }
    }
}
