// The transcript projection's state file: a SQLite database in the ledger's `projections/` directory with, per
// call, its summary and copies of its transcript records (call.started, call.ended, transcript.segment,
// enrichment.result) grouped by seq bucket, so a transcript is read without decompressing the log. Copies keep
// their sealed parts as ciphertext: the state holds no plaintext the log does not, and erasing a data key makes
// the copies unreadable too.
import LedgerCore
import LedgerStore

/// One generation of the transcript state: `projections/transcript-<generation>.sqlite`. A rebuild writes the
/// next generation beside the current one and then removes the older ones, so a crash never leaves a half-built
/// state in use.
final class TranscriptState {
    /// The projection's name.
    static let projection = "transcript"
    /// The version of the fold and of this schema; a state of another version is rebuilt.
    static let version: Int64 = 3
    /// Records of one call whose seqs fall in the same bucket of this many seqs share one stored row.
    static let bucketSize: UInt64 = 16_384

    let database: SQLiteDatabase
    let path: String
    let generation: Int

    private init(path: String, generation: Int, database: SQLiteDatabase) {
        self.path = path
        self.generation = generation
        self.database = database
    }

    /// The path of generation `generation` in `directory`.
    static func path(in directory: String, generation: Int) -> String {
        FileSystem.join(directory, "\(projection)-\(generation).sqlite")
    }

    /// The generations present in `directory`, newest last.
    static func generations(in directory: String) throws(LedgerError) -> [Int] {
        guard FileSystem.exists(directory) else { return [] }
        let prefix = projection + "-"
        return try FileSystem.contents(of: directory).compactMap { name -> Int? in
            guard name.hasPrefix(prefix), name.hasSuffix(".sqlite") else { return nil }
            return Int(name.dropFirst(prefix.count).dropLast(".sqlite".count))
        }.sorted()
    }

    /// Opens the newest generation for catching up, or nil when there is none.
    static func openCurrent(in directory: String) throws(LedgerError) -> TranscriptState? {
        guard let generation = try generations(in: directory).last else { return nil }
        let path = path(in: directory, generation: generation)
        let database = try SQLiteDatabase(path: path)
        try database.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        return TranscriptState(path: path, generation: generation, database: database)
    }

    /// Creates generation `generation` as a temporary file written without a journal; `publish()` makes it
    /// current.
    static func createForRebuild(in directory: String, generation: Int) throws(LedgerError) -> TranscriptState {
        try FileSystem.createDirectory(directory)
        let path = path(in: directory, generation: generation)
        let temporary = path + ".rebuild"
        for stale in [temporary, path, path + "-wal", path + "-shm", path + "-journal"] {
            try FileSystem.remove(stale)
        }
        let database = try SQLiteDatabase(path: temporary)
        try database.execute(
            """
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA page_size=16384;
            CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE calls(
                call TEXT PRIMARY KEY, tenant TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
                started_at INTEGER, connected_to_agent_at INTEGER, ended_at INTEGER, duration_ms INTEGER,
                agent TEXT, queue TEXT, channel TEXT, disconnect_reason TEXT, final_segments INTEGER NOT NULL,
                partial_segments INTEGER NOT NULL, enrichments INTEGER NOT NULL, transcript_end_ms INTEGER NOT NULL,
                started_version INTEGER, ended_version INTEGER
            ) WITHOUT ROWID;
            CREATE TABLE records(
                call TEXT NOT NULL, bucket INTEGER NOT NULL, records BLOB NOT NULL, partials BLOB NOT NULL);
            CREATE UNIQUE INDEX records_by_call ON records(call, bucket);
            """)
        try database.statement("INSERT INTO meta(key, value) VALUES('version', ?1), ('seq', 0)")
            .bind(.integer(version)).run()
        return TranscriptState(path: temporary, generation: generation, database: database)
    }

    /// Makes a rebuilt generation durable and current, and removes the older generations.
    func publish(in directory: String) throws(LedgerError) {
        let final = Self.path(in: directory, generation: generation)
        try FileSystem.moveDurably(path, to: final)
        for older in try Self.generations(in: directory) where older < generation {
            let olderPath = Self.path(in: directory, generation: older)
            for file in [olderPath, olderPath + "-wal", olderPath + "-shm", olderPath + "-journal"] {
                try FileSystem.remove(file)
            }
        }
    }

    /// A value from the `meta` table.
    func meta(_ key: String) throws(LedgerError) -> Int64? {
        let statement = try database.statement("SELECT value FROM meta WHERE key = ?1").bind(.text(key))
        return try statement.step() ? statement.integer(0) : nil
    }

    /// Records the next seq to fold.
    func setCheckpoint(_ seq: UInt64) throws(LedgerError) {
        try database.statement("UPDATE meta SET value = ?1 WHERE key = 'seq'").bind(.integer(Int64(seq))).run()
    }

    /// Appends record copies and partial pointers to the call's row for `bucket`.
    func append(call: String, bucket: UInt64, records: [UInt8], partials: [UInt8]) throws(LedgerError) {
        try database.statement(
            """
            INSERT INTO records(call, bucket, records, partials) VALUES(?1, ?2, ?3, ?4)
            ON CONFLICT(call, bucket) DO UPDATE
            SET records = records || excluded.records, partials = partials || excluded.partials
            """
        ).bind(.text(call), .integer(Int64(bucket)), .blob(records), .blob(partials)).run()
    }

    /// The call's rows in buckets up to `lastBucket`, in seq order: record copies and partial pointers.
    func rows(call: String, lastBucket: UInt64) throws(LedgerError) -> [(records: [UInt8], partials: [UInt8])] {
        let statement = try database.statement(
            "SELECT records, partials FROM records WHERE call = ?1 AND bucket <= ?2 ORDER BY bucket"
        ).bind(.text(call), .integer(Int64(min(lastBucket, UInt64(Int64.max)))))
        var rows: [([UInt8], [UInt8])] = []
        while try statement.step() { rows.append((statement.blob(0), statement.blob(1))) }
        return rows
    }

    private static let summaryColumns = """
        call, tenant, first_seq, last_seq, started_at, connected_to_agent_at, ended_at, duration_ms, agent, queue, \
        channel, disconnect_reason, final_segments, partial_segments, enrichments, transcript_end_ms, \
        started_version, ended_version
        """

    /// Stores `summary`, replacing the call's previous one.
    func store(_ summary: CallSummary) throws(LedgerError) {
        func optional(_ value: Int64?) -> SQLiteValue { value.map { .integer($0) } ?? .null }
        func optional(_ value: String?) -> SQLiteValue { value.map { .text($0) } ?? .null }
        try database.statement(
            "INSERT OR REPLACE INTO calls(\(Self.summaryColumns)) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)"
        ).bind(
            .text(summary.call), .text(summary.tenant), .integer(Int64(summary.firstSeq)),
            .integer(Int64(summary.lastSeq)), optional(summary.startedAt), optional(summary.connectedToAgentAt),
            optional(summary.endedAt), optional(summary.durationMs), optional(summary.agent), optional(summary.queue),
            optional(summary.channel), optional(summary.disconnectReason), .integer(Int64(summary.finalSegments)),
            .integer(Int64(summary.partialSegments)), .integer(Int64(summary.enrichments)),
            .integer(summary.transcriptEndMs), optional(summary.startedVersion), optional(summary.endedVersion)
        ).run()
    }

    /// The stored summary of `call`, or nil.
    func summary(call: String) throws(LedgerError) -> CallSummary? {
        let statement = try database.statement("SELECT \(Self.summaryColumns) FROM calls WHERE call = ?1")
            .bind(.text(call))
        return try statement.step() ? Self.summary(from: statement) : nil
    }

    /// Every stored summary, by first seq.
    func summaries() throws(LedgerError) -> [CallSummary] {
        let statement = try database.statement("SELECT \(Self.summaryColumns) FROM calls ORDER BY first_seq")
        var result: [CallSummary] = []
        while try statement.step() { result.append(Self.summary(from: statement)) }
        return result
    }

    private static func summary(from row: SQLiteStatement) -> CallSummary {
        func optionalInteger(_ column: Int32) -> Int64? { row.isNull(column) ? nil : row.integer(column) }
        func optionalText(_ column: Int32) -> String? { row.isNull(column) ? nil : row.text(column) }
        var summary = CallSummary(
            call: row.text(0), tenant: row.text(1), firstSeq: UInt64(row.integer(2)), lastSeq: UInt64(row.integer(3)))
        summary.startedAt = optionalInteger(4)
        summary.connectedToAgentAt = optionalInteger(5)
        summary.endedAt = optionalInteger(6)
        summary.durationMs = optionalInteger(7)
        summary.agent = optionalText(8)
        summary.queue = optionalText(9)
        summary.channel = optionalText(10)
        summary.disconnectReason = optionalText(11)
        summary.finalSegments = Int(row.integer(12))
        summary.partialSegments = Int(row.integer(13))
        summary.enrichments = Int(row.integer(14))
        summary.transcriptEndMs = row.integer(15)
        summary.startedVersion = optionalInteger(16)
        summary.endedVersion = optionalInteger(17)
        return summary
    }

    /// Every row of every table, as text, in a fixed order: what "identical state" means for the tests.
    func dump() throws(LedgerError) -> [String] {
        var lines = ["meta version \(try meta("version") ?? -1) seq \(try meta("seq") ?? -1)"]
        for summary in try summaries() { lines.append("calls \(summary)") }
        let statement = try database.statement(
            "SELECT call, bucket, records, partials FROM records ORDER BY call, bucket")
        while try statement.step() {
            let records = SHA256.hash(statement.blob(2)).hex
            let partials = SHA256.hash(statement.blob(3)).hex
            lines.append("records \(statement.text(0)) \(statement.integer(1)) \(records) \(partials)")
        }
        return lines
    }
}
