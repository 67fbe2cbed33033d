// index.sqlite: the derived index of frames, calls, idempotency fingerprints and checkpoints. It can be
// deleted at any time; `reindex` (or opening the ledger for writing) rebuilds it from the log.
import LedgerCore

/// Where one frame lives and what it holds.
public struct FrameLocation: Sendable, Equatable {
    /// First seq in the frame.
    public var firstSeq: UInt64
    /// Number of events.
    public var count: Int
    /// First seq of the segment holding the frame (its file name).
    public var segment: UInt64
    /// Byte offset in the segment.
    public var offset: Int
    /// Compressed size.
    public var storedBytes: Int
    /// Decompressed size.
    public var contentBytes: Int
    /// Interchange bytes of the frame's events.
    public var inputBytes: Int
    /// Acceptance time of the first and last event (UTC µs).
    public var firstTime: Int64
    /// Acceptance time of the last event (UTC µs).
    public var lastTime: Int64
}

/// Per-call facts gathered while indexing one frame.
struct CallActivity {
    var tenant: String
    var firstSeq: UInt64
    var lastSeq: UInt64
    var count: Int
    var firstTime: Int64
    var lastTime: Int64

    /// Counts one more event of the call; returns nothing so that `dictionary[key]?.add(...)` tells
    /// whether the call was already present.
    mutating func add(seq: UInt64, time: Int64) {
        lastSeq = seq
        count += 1
        lastTime = time
    }
}

/// The index database. Not thread-safe.
final class LedgerIndex {
    /// Bumped when the schema changes; a mismatch triggers a rebuild.
    static let schemaVersion = 1
    let database: SQLiteDatabase

    /// Opens the index, creating its tables; `readOnly` opens an existing index for queries, without writing to
    /// its directory (see `SQLiteDatabase.openForReading`).
    init(path: String, readOnly: Bool = false) throws(LedgerError) {
        database = readOnly ? try SQLiteDatabase.openForReading(path: path) : try SQLiteDatabase(path: path)
        guard !readOnly else { return }
        try Self.createTables(database)
    }

    private init(database: SQLiteDatabase) {
        self.database = database
    }

    /// An empty index in memory, for a reader that rebuilds what it needs from the log.
    static func inMemory() throws(LedgerError) -> LedgerIndex {
        let index = LedgerIndex(database: try SQLiteDatabase(path: ":memory:"))
        try createTables(index.database)
        return index
    }

    /// A copy of this index in memory, for a reader that must add frames the stored index lacks.
    func copyInMemory() throws(LedgerError) -> LedgerIndex {
        LedgerIndex(database: try database.copyInMemory())
    }

    private static func createTables(_ database: SQLiteDatabase) throws(LedgerError) {
        try database.execute(
            """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            CREATE TABLE IF NOT EXISTS info(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS frames(
                first_seq INTEGER PRIMARY KEY, event_count INTEGER NOT NULL, segment INTEGER NOT NULL,
                offset INTEGER NOT NULL, stored_bytes INTEGER NOT NULL, content_bytes INTEGER NOT NULL,
                input_bytes INTEGER NOT NULL, first_time INTEGER NOT NULL, last_time INTEGER NOT NULL,
                fingerprints BLOB NOT NULL);
            CREATE INDEX IF NOT EXISTS frames_by_segment ON frames(segment, offset, stored_bytes);
            CREATE TABLE IF NOT EXISTS calls(
                call TEXT PRIMARY KEY, tenant TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
                event_count INTEGER NOT NULL, first_time INTEGER NOT NULL, last_time INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS call_frames(
                call TEXT NOT NULL, frame_seq INTEGER NOT NULL, PRIMARY KEY(call, frame_seq)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS frame_seals(first_seq INTEGER PRIMARY KEY, seal BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS checkpoints(
                tree_size INTEGER PRIMARY KEY, root_hash BLOB NOT NULL, note TEXT NOT NULL);
            INSERT OR IGNORE INTO info(key, value) VALUES ('schema', \(schemaVersion));
            """)
    }

    /// The number of events the index covers (end of its last frame).
    func indexedSize() throws(LedgerError) -> UInt64 {
        guard let last = try lastFrame() else { return 0 }
        return last.firstSeq + UInt64(last.count)
    }

    /// The index's schema version.
    func schema() throws(LedgerError) -> Int {
        let statement = try database.statement("SELECT value FROM info WHERE key = 'schema'")
        // Reset once read: a statement left on a row pins this connection to the snapshot it read.
        defer { statement.rewind() }
        return try statement.step() ? Int(statement.integer(0)) : 0
    }

    private static let frameColumns =
        "first_seq, event_count, segment, offset, stored_bytes, content_bytes, input_bytes, first_time, last_time"

    /// A frame row; seqs, counts, offsets and sizes are checked non-negative (an edited index is an error).
    private func frame(from statement: SQLiteStatement) throws(LedgerError) -> FrameLocation {
        try FrameLocation(
            firstSeq: statement.unsignedInteger(0), count: Int(statement.unsignedInteger(1)),
            segment: statement.unsignedInteger(2), offset: Int(statement.unsignedInteger(3)),
            storedBytes: Int(statement.unsignedInteger(4)), contentBytes: Int(statement.unsignedInteger(5)),
            inputBytes: Int(statement.unsignedInteger(6)), firstTime: statement.integer(7),
            lastTime: statement.integer(8))
    }

    /// The last indexed frame.
    func lastFrame() throws(LedgerError) -> FrameLocation? {
        let statement = try database.statement(
            "SELECT \(Self.frameColumns) FROM frames ORDER BY first_seq DESC LIMIT 1")
        // Reset once read: a statement left on a row pins this connection to the snapshot it read.
        defer { statement.rewind() }
        return try statement.step() ? frame(from: statement) : nil
    }

    /// The frame holding `seq`.
    func frame(containing seq: UInt64) throws(LedgerError) -> FrameLocation? {
        let statement = try database.statement(
            "SELECT \(Self.frameColumns) FROM frames WHERE first_seq <= ?1 ORDER BY first_seq DESC LIMIT 1")
        try statement.bind(.integer(Int64(seq)))
        // Reset once read: a statement left on a row pins this connection to the snapshot it read.
        defer { statement.rewind() }
        guard try statement.step() else { return nil }
        let found = try frame(from: statement)
        return seq < found.firstSeq + UInt64(found.count) ? found : nil
    }

    /// Frames whose events overlap `range` of seqs, in order.
    func frames(overlapping range: Range<UInt64>) throws(LedgerError) -> [FrameLocation] {
        var result: [FrameLocation] = []
        if let first = try frame(containing: range.lowerBound) { result.append(first) }
        let statement = try database.statement(
            "SELECT \(Self.frameColumns) FROM frames WHERE first_seq > ?1 AND first_seq < ?2 ORDER BY first_seq")
        try statement.bind(.integer(Int64(range.lowerBound)), .integer(Int64(clamping: range.upperBound)))
        while try statement.step() { result.append(try frame(from: statement)) }
        return result
    }

    /// Per segment the index lists frames in, where its last listed frame ends (offset plus stored bytes).
    func segmentEnds() throws(LedgerError) -> [(segment: UInt64, end: Int)] {
        let statement = try database.statement(
            "SELECT segment, max(offset + stored_bytes) FROM frames GROUP BY segment ORDER BY segment")
        var result: [(segment: UInt64, end: Int)] = []
        while try statement.step() {
            // A negative value cannot be a segment or an offset: report a segment no file can match.
            result.append((UInt64(exactly: statement.integer(0)) ?? .max, Int(exactly: statement.integer(1)) ?? .max))
        }
        return result
    }

    /// The frames of segment `segment`, in file order.
    func frames(inSegment segment: UInt64) throws(LedgerError) -> [FrameLocation] {
        let statement = try database.statement(
            "SELECT \(Self.frameColumns) FROM frames WHERE segment = ?1 ORDER BY offset")
        try statement.bind(.integer(Int64(segment)))
        var result: [FrameLocation] = []
        while try statement.step() { result.append(try frame(from: statement)) }
        return result
    }

    /// The frames that hold events of `call`, in order.
    func frames(ofCall call: String) throws(LedgerError) -> [FrameLocation] {
        let statement = try database.statement(
            """
            SELECT \(Self.frameColumns.split(separator: ",").map { "f." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", "))
            FROM call_frames c JOIN frames f ON f.first_seq = c.frame_seq WHERE c.call = ?1 ORDER BY c.frame_seq
            """)
        try statement.bind(.text(call))
        var result: [FrameLocation] = []
        while try statement.step() { result.append(try frame(from: statement)) }
        return result
    }

    /// The number of events the index counts for `call` and its last seq, or nil when it has no row for it.
    func eventCount(call: String) throws(LedgerError) -> (events: Int, lastSeq: UInt64)? {
        let statement = try database.statement("SELECT event_count, last_seq FROM calls WHERE call = ?1")
        try statement.bind(.text(call))
        // Reset once read: a statement left on a row pins this connection to the snapshot it read.
        defer { statement.rewind() }
        guard try statement.step(), let events = Int(exactly: statement.integer(0)),
            let lastSeq = UInt64(exactly: statement.integer(1))
        else { return nil }
        return (events, lastSeq)
    }

    /// The number of events accepted at or before `time` (UTC µs): the seq bound for `--as-of TIME`.
    func size(asOfTime time: Int64) throws(LedgerError) -> (frame: FrameLocation?, bound: UInt64) {
        let statement = try database.statement(
            "SELECT \(Self.frameColumns) FROM frames WHERE first_time <= ?1 ORDER BY first_seq DESC LIMIT 1")
        try statement.bind(.integer(time))
        // Reset once read: a statement left on a row pins this connection to the snapshot it read.
        defer { statement.rewind() }
        guard try statement.step() else { return (nil, 0) }
        let found = try frame(from: statement)
        return (found, found.firstSeq)
    }

    /// Records a committed frame, its calls and its idempotency fingerprints (with the writer's `seal` of them,
    /// see `FingerprintSeal`), in one transaction.
    func add(
        frame: FrameLocation, calls: [String: CallActivity], fingerprints: [UInt8], seal: SHA256Digest? = nil
    ) throws(LedgerError) {
        try database.transaction { () throws(LedgerError) in
            if let seal { try store(seal: seal, firstSeq: frame.firstSeq) }
            let insert = try database.statement(
                """
                INSERT INTO frames(\(Self.frameColumns), fingerprints) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                """)
            try insert.bind(
                .integer(Int64(frame.firstSeq)), .integer(Int64(frame.count)), .integer(Int64(frame.segment)),
                .integer(Int64(frame.offset)), .integer(Int64(frame.storedBytes)), .integer(Int64(frame.contentBytes)),
                .integer(Int64(frame.inputBytes)), .integer(frame.firstTime), .integer(frame.lastTime),
                .blob(fingerprints))
            try insert.run()
            let upsert = try database.statement(
                """
                INSERT INTO calls(call, tenant, first_seq, last_seq, event_count, first_time, last_time)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                ON CONFLICT(call) DO UPDATE SET last_seq = excluded.last_seq,
                    event_count = event_count + excluded.event_count, last_time = excluded.last_time
                """)
            let link = try database.statement("INSERT OR IGNORE INTO call_frames(call, frame_seq) VALUES (?1, ?2)")
            for (call, activity) in calls.sorted(by: { $0.key < $1.key }) {
                try upsert.bind(
                    .text(call), .text(activity.tenant), .integer(Int64(activity.firstSeq)),
                    .integer(Int64(activity.lastSeq)), .integer(Int64(activity.count)), .integer(activity.firstTime),
                    .integer(activity.lastTime))
                try upsert.run()
                upsert.rewind()
                try link.bind(.text(call), .integer(Int64(frame.firstSeq)))
                try link.run()
                link.rewind()
            }
        }
    }

    /// Every frame in seq order, with its idempotency fingerprints (8-byte little-endian each) and their seal, if
    /// the writer stored one.
    func forEachFrameFingerprints(
        _ body: (FrameLocation, [UInt8], SHA256Digest?) throws(LedgerError) -> Void
    ) throws(LedgerError) {
        let columns = Self.frameColumns.split(separator: ",").map { "f." + $0.trimmingCharacters(in: .whitespaces) }
        let statement = try database.statement(
            """
            SELECT \(columns.joined(separator: ", ")), f.fingerprints, s.seal
            FROM frames f LEFT JOIN frame_seals s ON s.first_seq = f.first_seq ORDER BY f.first_seq
            """)
        while try statement.step() {
            let seal = statement.isNull(10) ? nil : SHA256Digest(bytes: statement.blob(10))
            try body(frame(from: statement), statement.blob(9), seal)
        }
    }

    /// Replaces the idempotency fingerprints of the frame at `firstSeq` with ones read from the log, and their seal.
    func replaceFingerprints(firstSeq: UInt64, fingerprints: [UInt8], seal: SHA256Digest) throws(LedgerError) {
        try database.transaction { () throws(LedgerError) in
            try database.statement("UPDATE frames SET fingerprints = ?2 WHERE first_seq = ?1").bind(
                .integer(Int64(firstSeq)), .blob(fingerprints)
            ).run()
            try store(seal: seal, firstSeq: firstSeq)
        }
    }

    private func store(seal: SHA256Digest, firstSeq: UInt64) throws(LedgerError) {
        try database.statement("INSERT OR REPLACE INTO frame_seals(first_seq, seal) VALUES (?1, ?2)").bind(
            .integer(Int64(firstSeq)), .blob(seal.bytes)
        ).run()
    }

    /// Records a checkpoint.
    func add(checkpoint: Checkpoint, note: String) throws(LedgerError) {
        let statement = try database.statement(
            "INSERT OR REPLACE INTO checkpoints(tree_size, root_hash, note) VALUES (?1, ?2, ?3)")
        try statement.bind(.integer(Int64(checkpoint.treeSize)), .blob(checkpoint.rootHash.bytes), .text(note))
        try statement.run()
    }

    /// The note of every checkpoint the index holds, by tree size.
    func checkpointNotes() throws(LedgerError) -> [UInt64: String] {
        let statement = try database.statement("SELECT tree_size, note FROM checkpoints")
        defer { statement.rewind() }
        var notes: [UInt64: String] = [:]
        while try statement.step() {
            guard let size = UInt64(exactly: statement.integer(0)) else { continue }
            notes[size] = statement.text(1)
        }
        return notes
    }

    /// The latest checkpoint's size, if any.
    func latestCheckpointSize() throws(LedgerError) -> UInt64? {
        let statement = try database.statement("SELECT max(tree_size) FROM checkpoints")
        // Reset once read: a statement left on a row pins this connection to the snapshot it read.
        defer { statement.rewind() }
        guard try statement.step(), !statement.isNull(0) else { return nil }
        return try statement.unsignedInteger(0)
    }

    /// Drops every row, for a rebuild from the log.
    func clear() throws(LedgerError) {
        try database.execute(
            """
            DELETE FROM frames; DELETE FROM frame_seals; DELETE FROM calls; DELETE FROM call_frames;
            DELETE FROM checkpoints;
            """)
    }
}
