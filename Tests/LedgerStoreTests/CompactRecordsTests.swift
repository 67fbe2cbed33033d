// Compact records (FORMAT.md §2.2) through the LedgerStore API: frames store their records compact, readers expand
// them to the bytes the writer hashed, events with timestamps in every zone and order read back as received, a
// record the form cannot restore is stored plain, and damaged compact content is refused, never misread.
import Foundation
import LedgerCore
import LedgerSimulator
import LedgerStore
import LedgerTestSupport
import Testing

@Suite struct CompactRecordsTests {
    /// The decompressed content, as stored, of every zstd frame of the segments of `directory`, in order.
    private func frameContents(_ directory: String) throws -> [[UInt8]] {
        try FileManager.default.contentsOfDirectory(atPath: directory + "/segments").sorted().flatMap { name in
            try SegmentFrame.all(in: directory + "/segments/" + name, expanding: false).map(\.content)
        }
    }

    /// Splits content into its header (magic and three varints) and its length-prefixed records.
    private func split(_ content: [UInt8]) throws -> (header: [UInt8], records: [UInt8]) {
        try content.withUnsafeBytes { raw in
            var reader = ByteReader(raw, offset: 4)
            for _ in 0..<3 { _ = try reader.readVarint() }
            return (Array(content[..<reader.offset]), Array(content[reader.offset...]))
        }
    }

    /// A ledger of `lines` written in frames of `batch` events.
    private func write(_ lines: [String], batch: Int, in scratch: ScratchDirectory) throws -> String {
        try ledger(in: scratch, origin: "test.example/compact", batch: batch, lines: lines)
    }

    @Test func framesHoldCompactRecordsThatExpandToWhatTheWriterHashed() throws {
        let scratch = ScratchDirectory()
        let directory = try write(simulatedLines(calls: 4, seed: 11), batch: 200, in: scratch)
        let contents = try frameContents(directory)
        try #require(contents.count >= 5)
        for content in contents {
            #expect(content.withUnsafeBytes { CompactRecords.isCompact($0) })
            var expanded = content
            try CompactRecords.expand(&expanded)
            #expect(expanded.count > content.count)
            // Compacting the expanded content gives back the stored bytes.
            let (header, records) = try split(expanded)
            let again = try #require(CompactRecords.compact(header: header, records: records))
            #expect(again.header + again.records == content)
        }
        // Every leaf recomputed from the expanded records matches the tree and the signed checkpoints.
        #expect(try LedgerReader(directory: directory).verify().fault == nil)
    }

    @Test func timestampsInEveryZoneAndOrderReadBackAsReceived() throws {
        var generator = SeededGenerator(seed: 0xC0FFEE)
        var input: [String] = []
        var expected: [(occurred: String, producer: String, server: String)] = []
        func stamp() -> String {
            // Any instant from 1950 to 2080, in any order, with 0 to 6 fraction digits and any zone form.
            let seconds = Int64.random(in: -631_152_000...3_471_292_800, using: &generator)
            let date = Date(timeIntervalSince1970: TimeInterval(seconds))
            var calendar = Calendar(identifier: .gregorian)
            let minutes = [0, 0, 330, -480, 1439, -1439, 45][Int.random(in: 0..<7, using: &generator)]
            calendar.timeZone = TimeZone(secondsFromGMT: minutes * 60) ?? .gmt
            let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            let digits = Int.random(in: 0...6, using: &generator)
            let fraction =
                digits == 0
                ? "" : "." + String((0..<digits).map { _ in "0123456789".randomElement(using: &generator) ?? "0" })
            let zone: String
            switch (minutes, Bool.random(using: &generator)) {
            case (0, true): zone = "Z"
            case (0, false): zone = "-00:00"
            default:
                zone = String(format: "%@%02d:%02d", minutes < 0 ? "-" : "+", abs(minutes) / 60, abs(minutes) % 60)
            }
            return String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0,
                parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0) + fraction + zone
        }
        for index in 0..<600 {
            let times = (stamp(), stamp(), stamp())
            expected.append(times)
            input.append(
                """
                {"type":"audio.fragment.received","call":"call-\(index % 7)","tenant":"t","source":"test/1",\
                "idempotency":"fragment-\(index)","occurred":"\(times.0)","body":{"stream":"s",\
                "fragment_number":"\(index)","track":"AUDIO_FROM_CUSTOMER","producer_timestamp":"\(times.1)",\
                "server_timestamp":"\(times.2)","duration_ms":2000,"bytes":100,\
                "sha256":"\(String(repeating: "ab", count: 32))"}}
                """)
        }
        let scratch = ScratchDirectory()
        let directory = try write(input, batch: 97, in: scratch)
        #expect(try frameContents(directory).allSatisfy { $0.withUnsafeBytes { CompactRecords.isCompact($0) } })
        let reader = try LedgerReader(directory: directory)
        #expect(try reader.verify().fault == nil)
        var lines: [[UInt8]] = []
        try reader.events(EventSelection()) { lines.append($0) }
        try #require(lines.count == expected.count)
        for (line, times) in zip(lines, expected) {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
            let body = try #require(object["body"] as? [String: Any])
            #expect(object["occurred"] as? String == times.occurred)
            #expect(body["producer_timestamp"] as? String == times.producer)
            #expect(body["server_timestamp"] as? String == times.server)
        }
    }

    @Test func slotErasureReadsCompactRecordsAsItReadsTheirExpandedForm() throws {
        let scratch = ScratchDirectory()
        let directory = try write(simulatedLines(calls: 6, seed: 13), batch: 150, in: scratch)
        let segments = try FileManager.default.contentsOfDirectory(atPath: directory + "/segments").sorted()
        var compared = 0
        for name in segments where name.hasSuffix(".zst") {
            let path = directory + "/segments/" + name
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            for frame in try SegmentFrame.all(in: path, expanding: false) {
                guard frame.content.withUnsafeBytes({ SealedSideCar.hasSideCar($0) }) else { continue }
                #expect(frame.content.starts(with: CompactRecords.sideCarMagic))
                let stored = Array(bytes[frame.offset..<frame.offset + frame.size])
                var expanded = frame.content
                try CompactRecords.expand(&expanded)
                // Every part, the parts of calls whose id ends in an even byte, and no part.
                let choices: [(UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool] = [
                    { _, _ in true }, { call, _ in (call.last ?? 0) % 2 == 0 }, { _, _ in false },
                ]
                for erase in choices {
                    let compact = try frame.content.withUnsafeBytes { content in
                        try stored.withUnsafeBytes {
                            try SealedSideCar.erasure(content: content, stored: $0, erase: erase)
                        }
                    }
                    let plain = try expanded.withUnsafeBytes { content in
                        try stored.withUnsafeBytes {
                            try SealedSideCar.erasure(content: content, stored: $0, erase: erase)
                        }
                    }
                    #expect(compact.writes == plain.writes)
                    #expect(compact.erasedByCall == plain.erasedByCall)
                }
                let all = try frame.content.withUnsafeBytes { content in
                    try stored.withUnsafeBytes {
                        try SealedSideCar.erasure(content: content, stored: $0) { _, _ in true }
                    }
                }
                #expect(!all.writes.isEmpty)
                compared += 1
            }
        }
        #expect(compared >= 3)
    }

    @Test func aRecordTheFormCannotRestoreLeavesTheFramePlain() throws {
        let scratch = ScratchDirectory()
        let directory = try write(simulatedLines(calls: 1, seed: 3), batch: 50, in: scratch)
        var content = try #require(try frameContents(directory).first)
        try CompactRecords.expand(&content)
        let (header, records) = try split(content)
        #expect(CompactRecords.compact(header: header, records: records) != nil)
        // The first record's seq (0) written as a two-byte varint: expanding would write it in one byte, so the
        // record's bytes, and its leaf, would change.
        let recordStart = try records.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            return try reader.readLengthPrefixedRange().lowerBound
        }
        let length = recordStart == 1 ? Int(records[0]) : Int(records[0] & 0x7F) | Int(records[1]) << 7
        try #require(records[recordStart + 1] == 0x00)
        var longSeq = records
        longSeq.replaceSubrange(recordStart + 1..<recordStart + 2, with: [0x80, 0x00])
        var prefix: [UInt8] = []
        prefix.appendVarint(UInt64(length + 1))
        longSeq.replaceSubrange(0..<recordStart, with: prefix)
        #expect(CompactRecords.compact(header: header, records: longSeq) == nil)
    }

    @Test func bodiesNestedDeeperThanReadersAcceptAreRefused() throws {
        // One record of compact content (`CLF3`) whose body, flagged as holding timestamps so that readers walk
        // it, is a null inside `depth` nested arrays.
        func content(depth: Int) -> [UInt8] {
            var record: [UInt8] = [1, 0, 2] + [UInt8](repeating: 0, count: 5)
            let body = Array([[UInt8]](repeating: [0x09, 0x01], count: depth).joined()) + [0x00]
            record.appendVarint(UInt64(body.count))
            record += body + [0]
            var content = Array("CLF3".utf8) + [7, 1, 0]
            content.appendVarint(UInt64(record.count))
            return content + record
        }
        var accepted = content(depth: 72)
        try CompactRecords.expand(&accepted)
        #expect(accepted.starts(with: Array("CLF1".utf8)))
        var refused = content(depth: 73)
        #expect(throws: DecodingError.self) { try CompactRecords.expand(&refused) }
    }

    @Test func damagedCompactContentIsRefusedOrExpandsWithoutCrashing() throws {
        let scratch = ScratchDirectory()
        let directory = try write(simulatedLines(calls: 2, seed: 5), batch: 120, in: scratch)
        let content = try #require(try frameContents(directory).first)
        var generator = SeededGenerator(seed: 77)
        var refused = 0
        for round in 0..<2_000 {
            var damaged = content
            if round % 4 == 0 {
                damaged.removeLast(Int.random(in: 1..<damaged.count - 4, using: &generator))
            } else {
                for _ in 0...Int.random(in: 0..<3, using: &generator) {
                    let index = Int.random(in: 4..<damaged.count, using: &generator)
                    damaged[index] ^= UInt8.random(in: 1...255, using: &generator)
                }
            }
            do { try CompactRecords.expand(&damaged) } catch { refused += 1 }
        }
        // Every cut is refused (a record or the header ends early); flipped bytes inside a string only change it.
        #expect(refused >= 500)
    }
}
