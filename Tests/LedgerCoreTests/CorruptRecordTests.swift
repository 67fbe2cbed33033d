// Records whose bytes were corrupted after they were written (a flipped bit on disk, a hand-edited segment, an
// input found by tools/fuzz): decoding them must throw a DecodingError, never trap.
import Foundation
import LedgerCore
import Synchronization
import Testing

/// The record of one small event, encoded at `time`.
private func record(time: Int64, occurred: String = "2026-11-26T09:00:00Z") throws -> [UInt8] {
    let line = """
        {"type":"call.ended","call":"c1","tenant":"t","source":"s","idempotency":"i","occurred":"\(occurred)",\
        "body":{"disconnected_at":"\(occurred)"}}
        """
    var decoder = EventDecoder()
    let bytes = Array(line.utf8)
    let event = try bytes.withUnsafeBytes { raw in try decoder.decode(raw, lineNumber: 1) }
    var encoder = try RecordEncoder()
    var keys = InMemoryKeys()
    var out: [UInt8] = []
    _ = try encoder.encode(event, seq: 1, time: time, keys: &keys, appendingTo: &out)
    return out
}

/// Parses `bytes` as a record and reads it every way a reader does.
private func readRecord(_ bytes: [UInt8]) throws {
    try bytes.withUnsafeBytes { raw in
        let view = try RecordView(raw)
        var out: [UInt8] = []
        try EventRenderer.render(view, parts: [], into: &out)
        _ = try EventValue.body(of: view, parts: [])
    }
}

@Suite struct CorruptRecordTests {
    /// Micros of `year`-01-01T00:00:00Z.
    private static func startOf(year: Int) -> Int64 {
        Int64(Timestamp.daysFromCivil(year: year, month: 1, day: 1)) * 86_400_000_000
    }

    @Test(arguments: [
        Timestamp(micros: .max), Timestamp(micros: .min),
        Timestamp(micros: RecordLimits.readableTimestampMicros.upperBound + 1),
        Timestamp(micros: RecordLimits.readableTimestampMicros.lowerBound - 1),
        Timestamp(micros: .max - 1, zone: .offset(minutes: 600)),
    ])
    func timestampsOutsideTheReadableRangeAreRejectedWhenDecoded(timestamp: Timestamp) {
        var bytes: [UInt8] = []
        timestamp.encode(to: &bytes)
        bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(throws: DecodingError.self) { try Timestamp.decode(&reader) }
        }
    }

    @Test(arguments: [
        Timestamp(micros: startOf(year: 10_000) - 1), Timestamp(micros: startOf(year: 0)),
        Timestamp(micros: startOf(year: 0) + 60_000_000, zone: .offset(minutes: -1)),
    ])
    func timestampsAtTheEdgesOfTheRangeDecodeAndRender(timestamp: Timestamp) throws {
        var bytes: [UInt8] = []
        timestamp.encode(to: &bytes)
        let decoded = try bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            return try Timestamp.decode(&reader)
        }
        #expect(decoded == timestamp)
        #expect(decoded.formatted.count >= 20)
    }

    @Test(arguments: [
        Int64.min, Int64.max, RecordLimits.readableTimestampMicros.upperBound + 1,
        RecordLimits.readableTimestampMicros.lowerBound - 1,
    ])
    func recordWithAnAcceptanceTimeOutsideTheRangeIsRejected(time: Int64) throws {
        let bytes = try record(time: time)
        #expect(throws: DecodingError.self) { try readRecord(bytes) }
    }

    @Test func recordWithAnOccurredTimeCorruptedOutOfRangeThrowsInsteadOfTrapping() throws {
        let time: Int64 = 1_764_147_600_000_000
        let bytes = try record(time: time)
        // The occurred time follows the version byte, seq, time and the occurred flag.
        var prefix: [UInt8] = [RecordEncoder.formatVersion]
        prefix.appendVarint(1)
        prefix.appendZigzag(time)
        prefix.append(1)
        var written: [UInt8] = []
        Timestamp.parse("2026-11-26T09:00:00Z")?.encode(to: &written)
        #expect(Array(bytes[prefix.count..<prefix.count + written.count]) == written)
        var corrupt: [UInt8] = []
        Timestamp(micros: Self.startOf(year: -5), fractionDigits: 0).encode(to: &corrupt)
        let damaged = prefix + corrupt + bytes[(prefix.count + written.count)...]
        #expect(throws: DecodingError.self) { try readRecord(damaged) }
    }

    /// A record whose body claims 2^64 - 1 members after one real one: a member reader asked for that one member
    /// returns once it has it (it used to count through the claimed members: a hang tools/fuzz found), and a
    /// reader of the whole body throws at the end of the bytes. The read runs on a thread of its own with a deadline
    /// counted from when it starts, not a test time limit, which also counts the time the test waits to be run.
    @Test func memberReaderStopsAtTheChosenMembersWhenARecordClaimsAHugeFieldCount() throws {
        let bytes = try record(time: 1_764_147_600_000_000)
        let bodyRange = try bytes.withUnsafeBytes { raw in try RecordView(raw).bodyRange }
        let body = Array(bytes[bodyRange])
        try #require(body.count < 128 && bytes[bodyRange.lowerBound - 1] == UInt8(body.count))
        try #require(body.prefix(2) == [ValueTag.fields.rawValue, 1])
        var claimed: [UInt8] = [ValueTag.fields.rawValue]
        claimed.appendVarint(.max)
        claimed += body[2...]
        let damaged = Array(
            bytes[..<(bodyRange.lowerBound - 1)] + [UInt8(claimed.count)] + claimed + bytes[bodyRange.upperBound...])
        let read = Mutex<[Int]?>(nil)
        let finished = DispatchSemaphore(value: 0)
        Thread {
            let indices = try? damaged.withUnsafeBytes { raw in
                let view = try RecordView(raw)
                var indices: [Int] = []
                try EventValue.MemberReader(type: .callEnded, members: ["disconnected_at"]).read(view) { index, _ in
                    indices.append(index)
                }
                return indices
            }
            read.withLock { $0 = indices }
            finished.signal()
        }.start()
        try #require(finished.wait(timeout: .now() + 30) == .success, "the member reader did not return within 30 s")
        #expect(read.withLock { $0 } == [0])
        #expect(throws: DecodingError.self) { try readRecord(damaged) }
    }
}
