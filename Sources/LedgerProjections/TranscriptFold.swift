// The transcript projection's fold: recognises the records it keeps, updates the call summaries and gathers,
// per call and seq bucket, copies of the records a current transcript shows (call events, final segments,
// enrichments) and pointers to partial segments, writing a bucket's rows once the scan has left it. Partials
// are most segments but rarely shown (only while their utterance has no final), so they are read from the log
// when needed rather than copied.
import Dispatch
import LedgerCore
import LedgerStore

/// Folds records, in seq order, into a `TranscriptState`.
struct TranscriptFold {
    private let state: TranscriptState
    /// Whether the state may already hold summaries (a catch-up) rather than start empty (a rebuild).
    private let restoring: Bool
    private var summaries: [String: CallSummary] = [:]
    private var pending: [String: PendingRow] = [:]
    private var bucket: UInt64 = 0
    /// Time spent copying records and updating summaries' counters, then writing them, in nanoseconds.
    private(set) var applyNanos: UInt64 = 0

    init(into state: TranscriptState, restoring: Bool) {
        self.state = state
        self.restoring = restoring
    }

    /// The calls the fold has touched.
    var callCount: Int { summaries.count }

    /// Folds one record of the log.
    mutating func apply(_ record: RecordView) throws(LedgerError) {
        guard let kind = TranscriptRecordKind(record) else { return }
        let call = record.call
        if restoring && summaries[call] == nil, let stored = try state.summary(call: call) {
            summaries[call] = stored
        }
        let head: SegmentHead?
        do {
            head = kind == .segment ? try SegmentHead(record) : nil
            try summaries[call, default: CallSummary(first: record)].apply(record, kind: kind, head: head)
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
        if let head, !head.isFinal {
            let key = SegmentHead.key(source: record.string(record.sourceRange), utterance: head.utterance)
            pending[call, default: PendingRow()].partials.appendPartialPointer(
                PartialPointer(seq: record.seq, endMs: head.endMs, key: key))
        } else {
            pending[call, default: PendingRow()].records.appendRecordCopy(record.bytes)
        }
        applyNanos += DispatchTime.now().uptimeNanoseconds - start
    }

    /// Writes what is pending and the touched summaries, and records `seq` as the next seq to fold.
    mutating func finish(checkpoint seq: UInt64) throws(LedgerError) {
        let start = DispatchTime.now().uptimeNanoseconds
        try writeRecords()
        for summary in summaries.values { try state.store(summary) }
        try state.setCheckpoint(seq)
        applyNanos += DispatchTime.now().uptimeNanoseconds - start
    }

    private mutating func writeRecords() throws(LedgerError) {
        for (call, row) in pending {
            try state.append(call: call, bucket: bucket, records: row.records, partials: row.partials)
        }
        pending.removeAll(keepingCapacity: true)
    }
}

/// What a call's row for the current bucket will get.
private struct PendingRow {
    var records: [UInt8] = []
    var partials: [UInt8] = []
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
    /// Appends a partial pointer: seq as 8 bytes little-endian, end ms as 8 bytes little-endian, the key's
    /// length as 2 bytes little-endian, then the key.
    mutating func appendPartialPointer(_ pointer: PartialPointer) {
        appendUInt64LE(pointer.seq)
        appendUInt64LE(UInt64(bitPattern: pointer.endMs))
        let key = Array(pointer.key.utf8.prefix(Int(UInt16.max)))
        append(UInt8(truncatingIfNeeded: key.count))
        append(UInt8(truncatingIfNeeded: key.count >> 8))
        append(contentsOf: key)
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

    private static func forEach(
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
