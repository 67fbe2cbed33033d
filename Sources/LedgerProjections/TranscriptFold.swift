// The transcript projection's fold: recognises the records it keeps, updates the call summaries and gathers,
// per call and seq bucket, copies of the records a current transcript shows (call events, final segments,
// enrichments) and pointers to partial segments, writing a bucket's rows once the scan has left it. Partials
// are most segments but rarely shown (only while their utterance has no final), so they are read from the log
// when needed rather than copied.
import Dispatch
import LedgerCore
import LedgerStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Folds records, in seq order, into a `TranscriptState`.
struct TranscriptFold: ProjectionFold {
    static let projection = TranscriptState.projection
    static let version = TranscriptState.version
    static let schema = TranscriptState.schema

    static func wants(_ record: RecordView) -> Bool {
        TranscriptRecordKind(record) != nil
    }

    private let state: TranscriptState
    /// Whether the state may already hold summaries (a catch-up) rather than start empty (a rebuild).
    private let restoring: Bool
    private var calls = CallTable()
    /// By call slot.
    private var summaries: [CallSummary] = []
    /// By call slot: what the current bucket's row of the call will get.
    private var pending: [PendingRow] = []
    /// The slots with something pending.
    private var touched: [Int] = []
    private var bucket: UInt64 = 0
    /// Time spent copying records and updating summaries' counters, then writing them, in nanoseconds.
    private(set) var applyNanos: UInt64 = 0

    init(into file: ProjectionStateFile, restoring: Bool) {
        self.state = TranscriptState(file: file)
        self.restoring = restoring
    }

    /// The calls the fold has touched.
    var callCount: Int { summaries.count }

    /// Folds one record of the log.
    mutating func apply(_ record: RecordView) throws(LedgerError) {
        guard let kind = TranscriptRecordKind(record) else { return }
        let (slot, isNew) = calls.slot(of: UnsafeRawBufferPointer(rebasing: record.bytes[record.callRange]))
        if isNew {
            let stored = restoring ? try state.summary(call: calls.names[slot]) : nil
            summaries.append(stored ?? CallSummary(first: record))
            pending.append(PendingRow())
        }
        let head: SegmentHead?
        do {
            head = kind == .segment ? try SegmentHead(record) : nil
            try summaries[slot].apply(record, kind: kind, head: head)
        } catch {
            throw .invalidRequest(
                "event \(record.seq) (\(record.typeName)) cannot be folded into the transcript projection: \(error)")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let recordBucket = record.seq / TranscriptState.bucketSize
        if recordBucket != bucket {
            try writeRecords()
            bucket = recordBucket
        }
        if pending[slot].isEmpty { touched.append(slot) }
        if let head, !head.isFinal {
            pending[slot].partials.appendPartialPointer(
                seq: record.seq, endMs: head.endMs,
                source: UnsafeRawBufferPointer(rebasing: record.bytes[record.sourceRange]),
                utterance: try Self.utterance(of: record))
        } else {
            pending[slot].records.appendRecordCopy(record.bytes)
        }
        applyNanos += DispatchTime.now().uptimeNanoseconds - start
    }

    private static let utteranceMember = EventValue.MemberReader(type: .transcriptSegment, members: ["utterance"])

    private static func utterance(of record: RecordView) throws(LedgerError) -> String {
        var utterance = ""
        do { try utteranceMember.read(record) { _, value in utterance = value.string ?? "" } } catch {
            throw .invalidRequest("event \(record.seq) (transcript.segment) has an unreadable utterance: \(error)")
        }
        return utterance
    }

    /// Writes what is pending and the touched summaries, and records `seq` as the next seq to fold.
    mutating func finish(checkpoint seq: UInt64) throws(LedgerError) {
        let start = DispatchTime.now().uptimeNanoseconds
        try writeRecords()
        for summary in summaries { try state.store(summary) }
        try state.file.setCheckpoint(seq)
        applyNanos += DispatchTime.now().uptimeNanoseconds - start
    }

    private mutating func writeRecords() throws(LedgerError) {
        for slot in touched {
            try state.append(
                call: calls.names[slot], bucket: bucket, records: pending[slot].records,
                partials: pending[slot].partials)
            // The buffers go with the row: kept for every call ever met, they held the fold's memory at the sum of
            // each call's largest bucket (580 MB at 10M events) instead of the calls of the current bucket.
            pending[slot] = PendingRow()
        }
        touched.removeAll(keepingCapacity: true)
    }
}

/// Call ids seen by a fold, each given a slot, found from the id's bytes without building a String per record:
/// a 64-bit FNV-1a hash finds the candidates and the bytes are compared to rule out collisions.
struct CallTable {
    /// Slot ids by slot.
    private(set) var names: [String] = []
    private var ids: [[UInt8]] = []
    private var byHash: [UInt64: Int] = [:]
    /// Slots whose hash collided with an earlier slot's.
    private var collided: [UInt64: [Int]] = [:]

    /// The slot of `id`, and whether it was just added.
    mutating func slot(of id: UnsafeRawBufferPointer) -> (slot: Int, isNew: Bool) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in id { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        func matches(_ slot: Int) -> Bool {
            guard ids[slot].count == id.count, !id.isEmpty else { return ids[slot].count == id.count }
            return ids[slot].withUnsafeBytes { memcmp($0.baseAddress!, id.baseAddress!, id.count) == 0 }
        }
        if let slot = byHash[hash] {
            if matches(slot) { return (slot, false) }
            if let slot = collided[hash]?.first(where: matches) { return (slot, false) }
            collided[hash, default: []].append(names.count)
        } else {
            byHash[hash] = names.count
        }
        ids.append(Array(id))
        names.append(String(decoding: id, as: UTF8.self))
        return (names.count - 1, true)
    }
}

/// What a call's row for the current bucket will get.
private struct PendingRow {
    var records: [UInt8] = []
    var partials: [UInt8] = []

    var isEmpty: Bool { records.isEmpty && partials.isEmpty }
}

/// Where a partial segment is in the log, and what the summary and the supersede rule need of it.
struct PartialPointer: Equatable {
    /// Its seq.
    var seq: UInt64
    /// Its end, in ms from call start.
    var endMs: Int64
    /// Its utterance key (`SegmentHead.key`).
    var key: String
}

extension [UInt8] {
    /// Appends a partial pointer: seq as 8 bytes little-endian, end ms as 8 bytes little-endian, the length of
    /// the key as 2 bytes little-endian, then the key (`SegmentHead.key`: source, a zero byte, utterance).
    mutating func appendPartialPointer(
        seq: UInt64, endMs: Int64, source: UnsafeRawBufferPointer, utterance: String
    ) {
        appendUInt64LE(seq)
        appendUInt64LE(UInt64(bitPattern: endMs))
        let utteranceBytes = utterance.utf8.prefix(Int(UInt16.max) - 1 - source.count)
        let count = source.count + 1 + utteranceBytes.count
        append(UInt8(truncatingIfNeeded: count))
        append(UInt8(truncatingIfNeeded: count >> 8))
        append(contentsOf: source)
        append(0)
        append(contentsOf: utteranceBytes)
    }

    /// Appends a stored copy of a record: its length as 4 bytes little-endian, then its bytes.
    mutating func appendRecordCopy(_ record: UnsafeRawBufferPointer) {
        let count = UInt32(record.count)
        for shift in stride(from: 0, to: 32, by: 8) { append(UInt8(truncatingIfNeeded: count >> UInt32(shift))) }
        append(contentsOf: record)
    }
}

/// Reads stored record copies back.
enum RecordCopies {
    /// Calls `body` with each record copy in `blob`.
    static func forEach(in blob: [UInt8], _ body: (RecordView) throws(LedgerError) -> Void) throws(LedgerError) {
        var failure: LedgerError?
        blob.withUnsafeBytes { raw in
            do throws(LedgerError) {
                try forEach(in: raw, body)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// Calls `body` with each record copy in the bytes of a blob.
    static func forEach(
        in blob: UnsafeRawBufferPointer, _ body: (RecordView) throws(LedgerError) -> Void
    ) throws(LedgerError) {
        var offset = 0
        while offset < blob.count {
            guard offset + 4 <= blob.count else { throw damaged(offset, "a record length is cut short") }
            var count = 0
            for index in 0..<4 { count |= Int(blob[offset + index]) << (8 * index) }
            offset += 4
            guard offset + count <= blob.count else { throw damaged(offset, "a record runs past the end of its row") }
            let record: RecordView
            do {
                record = try RecordView(UnsafeRawBufferPointer(rebasing: blob[offset..<offset + count]))
            } catch {
                throw damaged(offset, "\(error)")
            }
            try body(record)
            offset += count
        }
    }

    /// Calls `body` with each partial pointer in `blob`.
    static func forEachPartial(
        in blob: [UInt8], _ body: (PartialPointer) throws(LedgerError) -> Void
    )
        throws(LedgerError)
    {
        var offset = 0
        func integer(_ width: Int) throws(LedgerError) -> UInt64 {
            guard offset + width <= blob.count else { throw damaged(offset, "a partial pointer is cut short") }
            var value: UInt64 = 0
            for index in 0..<width { value |= UInt64(blob[offset + index]) << (8 * UInt64(index)) }
            offset += width
            return value
        }
        while offset < blob.count {
            let seq = try integer(8)
            let endMs = Int64(bitPattern: try integer(8))
            let count = Int(try integer(2))
            guard offset + count <= blob.count else { throw damaged(offset, "a partial pointer's key is cut short") }
            let key = String(decoding: blob[offset..<offset + count], as: UTF8.self)
            offset += count
            try body(PartialPointer(seq: seq, endMs: endMs, key: key))
        }
    }

    private static func damaged(_ offset: Int, _ reason: String) -> LedgerError {
        .invalidRequest(
            "the transcript projection's state is damaged at byte \(offset) of a row (\(reason)); run `call-ledger rebuild transcript`"
        )
    }
}
