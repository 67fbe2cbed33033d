// verify's check of index.sqlite against the log: every row must be what indexing the log yields (FORMAT.md §9).
// The frames and call_frames rows are compared with the log frame by frame as verify reads it, the calls and
// checkpoints rows once the whole log was read. The index is read in one transaction, so a writer indexing new
// frames meanwhile is seen either wholly or not at all.
import LedgerCore

/// What index.sqlite must hold for one frame of the log, as verify read it from the segments.
struct IndexedFrame {
    /// Where the frame is and what it holds.
    var location: FrameLocation
    /// Its events' calls.
    var calls: [String: CallActivity]
    /// Its events' idempotency fingerprints (8 bytes each, little-endian).
    var fingerprints: [UInt8]
}

/// Compares index.sqlite with the frames of the log, fed in seq order. Not thread-safe.
final class IndexCheck {
    private let database: SQLiteDatabase
    private let frames: SQLiteStatement
    private let links: SQLiteStatement
    private var frameRow = false
    private var linkRow = false
    private var calls: [String: CallActivity] = [:]
    /// Events covered by the index's frame rows when the check started.
    private let indexedSize: UInt64
    /// Whether frames beyond `indexedSize` are left out (a writer holds the lock and may not have indexed them
    /// yet) rather than reported as missing.
    private let toleratesTail: Bool
    private var open = true
    /// The first difference found: the first seq it concerns (if any) and what it is.
    private(set) var fault: (seq: UInt64?, reason: String)?

    private static let frameColumns =
        "first_seq, event_count, segment, offset, stored_bytes, content_bytes, input_bytes, first_time, last_time, "
        + "fingerprints"

    /// Starts a read transaction on `index` and its two cursors.
    init(index: LedgerIndex, toleratesTail: Bool) throws(LedgerError) {
        database = index.database
        try database.execute("BEGIN")
        indexedSize = try index.indexedSize()
        self.toleratesTail = toleratesTail
        frames = try database.statement("SELECT \(Self.frameColumns) FROM frames ORDER BY first_seq")
        links = try database.statement("SELECT frame_seq, call FROM call_frames ORDER BY frame_seq, call")
        frameRow = try frames.step()
        linkRow = try links.step()
    }

    /// Ends the read transaction.
    func close() {
        guard open else { return }
        open = false
        frames.rewind()
        links.rewind()
        try? database.execute("COMMIT")
    }

    private func fail(_ seq: UInt64?, _ reason: String) {
        if fault == nil { fault = (seq, reason) }
    }

    /// Compares the index's rows for `frame` (the next frame of the log) with it.
    func check(_ frame: IndexedFrame) throws(LedgerError) {
        guard fault == nil else { return }
        let location = frame.location
        let first = location.firstSeq
        if first >= indexedSize {
            if !toleratesTail {
                fail(
                    first,
                    "has no row for the frame at seq \(first) (segment \(LedgerLayout.segmentName(firstSeq: location.segment)), "
                        + "offset \(location.offset)): the index is behind the log")
            }
            return
        }
        if frameRow && frames.integer(0) < Int64(clamping: first) {
            return fail(
                UInt64(clamping: frames.integer(0)),
                "holds a row for a frame at seq \(frames.integer(0)), where no frame of the log starts")
        }
        guard frameRow, frames.integer(0) == Int64(clamping: first) else {
            return fail(
                first,
                "has no row for the frame at seq \(first) (segment \(LedgerLayout.segmentName(firstSeq: location.segment)), "
                    + "offset \(location.offset)): its events are missing from every lookup")
        }
        let expected: [(String, Int64)] = [
            ("event_count", Int64(location.count)), ("segment", Int64(clamping: location.segment)),
            ("offset", Int64(location.offset)), ("stored_bytes", Int64(location.storedBytes)),
            ("content_bytes", Int64(location.contentBytes)), ("input_bytes", Int64(location.inputBytes)),
            ("first_time", location.firstTime), ("last_time", location.lastTime),
        ]
        var differing: [String] = []
        for (column, (name, value)) in expected.enumerated() where frames.integer(Int32(column + 1)) != value {
            differing.append(name)
        }
        if frames.blob(9) != frame.fingerprints { differing.append("fingerprints") }
        guard differing.isEmpty else {
            return fail(
                first,
                "its row for the frame at seq \(first) differs from the log in \(differing.joined(separator: ", "))")
        }
        frameRow = try frames.step()

        var listed: [String] = []
        while linkRow && links.integer(0) <= Int64(clamping: first) {
            if links.integer(0) < Int64(clamping: first) {
                return fail(
                    UInt64(clamping: links.integer(0)),
                    "call_frames lists call \(links.text(1)) in a frame at seq \(links.integer(0)), where no frame of "
                        + "the log starts")
            }
            listed.append(links.text(1))
            linkRow = try links.step()
        }
        let held = frame.calls.keys.sorted()
        if let missing = held.first(where: { !listed.contains($0) }) {
            return fail(
                first,
                "call_frames does not list the frame at seq \(first) among call \(missing)'s frames, though it holds "
                    + "\(frame.calls[missing]?.count ?? 0) of its events: they are missing from `cat --call` and "
                    + "every other lookup of the call")
        }
        if let extra = listed.first(where: { frame.calls[$0] == nil }) {
            return fail(
                first,
                "call_frames lists the frame at seq \(first) among call \(extra)'s frames, but it holds none of its events"
            )
        }
        for (call, activity) in frame.calls {
            if var known = calls[call] {
                known.lastSeq = activity.lastSeq
                known.count += activity.count
                known.lastTime = activity.lastTime
                calls[call] = known
            } else {
                calls[call] = activity
            }
        }
    }

    /// After the last frame: rows left over, the calls table, and the checkpoints table against `checkpoints`
    /// (the signed notes in `checkpoints/`).
    func finish(logSize: UInt64, checkpoints: [(checkpoint: Checkpoint, note: String)]) throws(LedgerError) {
        defer { close() }
        guard fault == nil else { return }
        if frameRow {
            return fail(
                UInt64(clamping: frames.integer(0)),
                "holds a row for a frame at seq \(frames.integer(0)), beyond the log's \(logSize) events")
        }
        if linkRow {
            return fail(
                UInt64(clamping: links.integer(0)),
                "call_frames lists call \(links.text(1)) in a frame at seq \(links.integer(0)), beyond the log's "
                    + "\(logSize) events")
        }
        let rows = try database.statement(
            "SELECT call, tenant, first_seq, last_seq, event_count, first_time, last_time FROM calls ORDER BY call")
        var seen: Set<String> = []
        while try rows.step() {
            let call = rows.text(0)
            guard let activity = calls[call] else {
                return fail(nil, "has a row for call \(call), which has no event in the log")
            }
            seen.insert(call)
            let expected: [(String, Int64)] = [
                ("first_seq", Int64(clamping: activity.firstSeq)), ("last_seq", Int64(clamping: activity.lastSeq)),
                ("event_count", Int64(activity.count)), ("first_time", activity.firstTime),
                ("last_time", activity.lastTime),
            ]
            var differing = rows.text(1) == activity.tenant ? [] : ["tenant"]
            for (column, (name, value)) in expected.enumerated() where rows.integer(Int32(column + 2)) != value {
                differing.append(name)
            }
            guard differing.isEmpty else {
                return fail(
                    activity.firstSeq,
                    "its row of call \(call) differs from the log in \(differing.joined(separator: ", "))")
            }
        }
        if let missing = calls.keys.sorted().first(where: { !seen.contains($0) }) {
            return fail(calls[missing]?.firstSeq, "has no row for call \(missing), which the log holds")
        }
        let stored = try database.statement("SELECT tree_size, root_hash, note FROM checkpoints ORDER BY tree_size")
        var signed = checkpoints[...]
        while try stored.step() {
            let size = UInt64(clamping: stored.integer(0))
            guard let next = signed.first, next.checkpoint.treeSize == size else {
                return fail(nil, "has a checkpoint row of size \(size) that no note in checkpoints/ signs")
            }
            guard stored.blob(1) == next.checkpoint.rootHash.bytes, stored.text(2) == next.note else {
                return fail(nil, "its checkpoint row of size \(size) differs from checkpoints/ (root or note)")
            }
            signed.removeFirst()
        }
        if let missing = signed.first {
            fail(nil, "has no checkpoint row for the signed checkpoint of size \(missing.checkpoint.treeSize)")
        }
    }
}
