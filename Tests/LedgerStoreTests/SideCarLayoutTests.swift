// The sealed side-car layout (FORMAT.md §2.1) through the LedgerStore API: a last frame whose side-car never
// reached the disk is a torn tail the writer cuts, and a damaged side-car byte inside the log is corruption that
// verify locates at its frame.
import Foundation
import LedgerStore
import LedgerTestSupport
import Testing

@Suite struct SideCarLayoutTests {
    /// A ledger of 1,000 simulated events in frames of 100, its only segment's path and bytes.
    private func ledger(_ scratch: ScratchDirectory) throws -> (directory: String, segment: String, bytes: [UInt8]) {
        let directory = scratch.file("ledger")
        let events = try decodeLines(simulatedLines(calls: 4, seed: 4))
        try #require(events.count >= 1000)
        try createLedger(
            at: directory, origin: "test.example/side-car", batch: 100, appending: Array(events.prefix(1000)))
        let names = try FileManager.default.contentsOfDirectory(atPath: directory + "/segments").sorted()
        let segment = directory + "/segments/" + (try #require(names.last))
        return (directory, segment, Array(try Data(contentsOf: URL(fileURLWithPath: segment))))
    }

    /// Offsets of the side-car headers in `bytes` (magic 0x184D2A51 whose declared size fits in the file).
    private func sideCars(_ bytes: [UInt8]) -> [(offset: Int, end: Int)] {
        var found: [(Int, Int)] = []
        var index = 0
        while index + 8 <= bytes.count {
            if bytes[index..<index + 4].elementsEqual([0x51, 0x2A, 0x4D, 0x18]) {
                let size = bytes[index + 4..<index + 8].reversed().reduce(0) { $0 << 8 | Int($1) }
                if index + 8 + size <= bytes.count {
                    found.append((index, index + 8 + size))
                    index += 8 + size
                    continue
                }
            }
            index += 1
        }
        return found
    }

    @Test func aLastFrameWhoseSideCarNeverReachedTheDiskIsATornTailTheWriterCuts() throws {
        let scratch = ScratchDirectory()
        let (directory, segment, bytes) = try ledger(scratch)
        let last = try #require(sideCars(bytes).last)
        try #require(last.end == bytes.count, "the last frame has no side-car")
        // The zstd frame is complete, its side-car is not there at all.
        try Data(bytes[..<last.offset]).write(to: URL(fileURLWithPath: segment), options: .atomic)
        let reader = try LedgerReader(directory: directory)
        #expect(reader.tail?.torn == true)
        #expect(reader.size == 900)
        let writer = try LedgerWriter(directory: directory)
        #expect(writer.recovery.truncatedTail != nil && writer.durableSize == 900)
        try writer.close()
        #expect(try LedgerReader(directory: directory).verify().fault == nil)
    }

    @Test func aDamagedSlotOrBitmapInsideTheLogIsCorruptionVerifyLocates() throws {
        let scratch = ScratchDirectory()
        let (directory, segment, bytes) = try ledger(scratch)
        let first = try #require(sideCars(bytes).first)
        try #require(try LedgerReader(directory: directory).verify().fault == nil)
        // A byte of the first slot's sealed bytes: the part's digest, so its leaf, no longer matches.
        var damaged = bytes
        damaged[first.end - 1 - (first.end - first.offset) / 2] ^= 0x01
        try Data(damaged).write(to: URL(fileURLWithPath: segment), options: .atomic)
        // Written atomically (a new file renamed over the old): verify's hashing threads may still read the
        // mapping of the file it replaces.
        let fault = try #require(try LedgerReader(directory: directory).verify().fault)
        #expect(fault.seq.map { $0 < 100 } == true, "\(fault)")
        // The first slot marked erased while it still holds sealed bytes: the joined digest differs too.
        damaged = bytes
        damaged[first.offset + 8] |= 0x01
        try Data(damaged).write(to: URL(fileURLWithPath: segment), options: .atomic)
        let marked = try #require(try LedgerReader(directory: directory).verify().fault)
        #expect(marked.seq.map { $0 < 100 } == true, "\(marked)")
        // The side-car's declared size one byte short: it no longer tiles its frame's slots.
        damaged = bytes
        damaged[first.offset + 4] &-= 1
        try Data(damaged).write(to: URL(fileURLWithPath: segment), options: .atomic)
        let short = try #require(try LedgerReader(directory: directory).verify().fault)
        #expect(short.offset == 0, "\(short)")
    }
}
