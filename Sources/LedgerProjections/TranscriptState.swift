// The transcript projection's state file: a SQLite database in the ledger's `projections/` directory with, per
// call, its summary and copies of its transcript records (call.started, call.ended, transcript.segment,
// enrichment.result) grouped by seq bucket, so a transcript is read without decompressing the log. Copies keep
// their sealed parts as ciphertext: the state holds no plaintext the log does not, and erasing a data key makes
// the copies unreadable too.
import LedgerCore
import LedgerStore

/// The transcript projection's tables, in one generation of its state file.
struct TranscriptState {
    /// The projection's name.
    static let projection = "transcript"
    /// The version of the fold and of this schema; a state of another version is rebuilt.
    static let version: Int64 = 4
    /// Records of one call whose seqs fall in the same bucket of this many seqs share one stored row.
    static let bucketSize: UInt64 = 16_384
    /// The tables.
    static let schema = """
        CREATE TABLE calls(
            call TEXT PRIMARY KEY, tenant TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
            started_at INTEGER, connected_to_agent_at INTEGER, ended_at INTEGER, duration_ms INTEGER,
            agent TEXT, queue TEXT, channel TEXT, disconnect_reason TEXT, hold_ms INTEGER, hold_count INTEGER,
            final_segments INTEGER NOT NULL,
            partial_segments INTEGER NOT NULL, enrichments INTEGER NOT NULL, transcript_end_ms INTEGER NOT NULL,
            started_version INTEGER, ended_version INTEGER
        ) WITHOUT ROWID;
        CREATE TABLE records(
            call TEXT NOT NULL, bucket INTEGER NOT NULL, records BLOB NOT NULL, partials BLOB NOT NULL);
        CREATE UNIQUE INDEX records_by_call ON records(call, bucket);
        """

    let file: ProjectionStateFile
    var database: SQLiteDatabase { file.database }

    /// Appends record copies and partial pointers to the call's row for `bucket`.
    func append(call: String, bucket: UInt64, records: [UInt8], partials: [UInt8]) throws(LedgerError) {
        try database.statement(
            """
            INSERT INTO records(call, bucket, records, partials) VALUES(?1, ?2, ?3, ?4)
            ON CONFLICT(call, bucket) DO UPDATE
            SET records = CAST(records || excluded.records AS BLOB),
                partials = CAST(partials || excluded.partials AS BLOB)
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
        channel, disconnect_reason, hold_ms, hold_count, final_segments, partial_segments, enrichments, \
        transcript_end_ms, started_version, ended_version
        """

    /// Stores `summary`, replacing the call's previous one.
    func store(_ summary: CallSummary) throws(LedgerError) {
        func optional(_ value: Int64?) -> SQLiteValue { value.map { .integer($0) } ?? .null }
        func optional(_ value: String?) -> SQLiteValue { value.map { .text($0) } ?? .null }
        try database.statement(
            "INSERT OR REPLACE INTO calls(\(Self.summaryColumns)) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20)"
        ).bind(
            .text(summary.call), .text(summary.tenant), .integer(Int64(summary.firstSeq)),
            .integer(Int64(summary.lastSeq)), optional(summary.startedAt), optional(summary.connectedToAgentAt),
            optional(summary.endedAt), optional(summary.durationMs), optional(summary.agent), optional(summary.queue),
            optional(summary.channel), optional(summary.disconnectReason), optional(summary.holdMs),
            optional(summary.holdCount), .integer(Int64(summary.finalSegments)),
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

    /// Every stored summary, by first seq. The rows are read in key order and sorted here: SQLite would copy every
    /// row through its sorter first (no index orders the table by first seq), which took a quarter of the read.
    func summaries() throws(LedgerError) -> [CallSummary] {
        let statement = try database.statement("SELECT \(Self.summaryColumns) FROM calls")
        var stored: [CallSummary] = []
        while try statement.step() { stored.append(try Self.summary(from: statement)) }
        return Self.ordered(stored) { $0.firstSeq }
    }

    /// The call table (`TranscriptRenderer.callTable`) of every stored call, by first seq, rendered from the
    /// stored rows without a summary or a string per call: each row's line is written into one buffer as it is
    /// read (the text columns' bytes straight from SQLite), then the lines are copied out in first-seq order.
    /// Only the columns the table needs are read. On 11,400 calls this took the listing from 19 to about 7 ms.
    func callTable() throws(LedgerError) -> [UInt8] {
        let statement = try database.statement(
            """
            SELECT call, first_seq, started_at, ended_at, duration_ms, agent, queue, final_segments, transcript_end_ms
            FROM calls
            """)
        func optionalInteger(_ column: Int32) -> Int64? {
            statement.isNull(column) ? nil : statement.integer(column)
        }
        var lines: [UInt8] = []
        var order: [(firstSeq: UInt64, start: Int, end: Int)] = []
        while try statement.step() {
            let start = lines.count
            let startedAt = optionalInteger(2)
            let shownDurationMs = CallSummary.shownDuration(
                durationMs: optionalInteger(4), startedAt: startedAt, endedAt: optionalInteger(3),
                transcriptEndMs: statement.integer(8))
            TranscriptRenderer.appendCallLine(
                startedAt: startedAt, shownDurationMs: shownDurationMs,
                finalSegments: Int(truncatingIfNeeded: statement.integer(7)), to: &lines
            ) { column, out in
                switch column {
                case .call: statement.appendText(0, to: &out)
                case .agent: statement.appendText(5, to: &out)
                case .queue: statement.appendText(6, to: &out)
                }
            }
            order.append((try statement.unsignedInteger(1), start, lines.count))
        }
        order.sort { $0.firstSeq < $1.firstSeq || ($0.firstSeq == $1.firstSeq && $0.start < $1.start) }
        var table = TranscriptRenderer.callTableHeader
        table.reserveCapacity(table.count + lines.count)
        for line in order { table.append(contentsOf: lines[line.start..<line.end]) }
        return table
    }

    /// `items` ordered by `key`. Plain (key, index) pairs are sorted and the items then taken in that order:
    /// sorting the items themselves retained and released their strings at every comparison.
    private static func ordered<Item>(_ items: [Item], by key: (Item) -> UInt64) -> [Item] {
        var order = items.indices.map { (key: key(items[$0]), index: $0) }
        order.sort { $0.key < $1.key }
        return order.map { items[$0.index] }
    }

    private static func summary(from row: SQLiteStatement) throws(LedgerError) -> CallSummary {
        func optionalInteger(_ column: Int32) -> Int64? { row.isNull(column) ? nil : row.integer(column) }
        func optionalText(_ column: Int32) -> String? { row.isNull(column) ? nil : row.text(column) }
        var summary = try CallSummary(
            call: row.text(0), tenant: row.text(1), firstSeq: row.unsignedInteger(2), lastSeq: row.unsignedInteger(3))
        summary.startedAt = optionalInteger(4)
        summary.connectedToAgentAt = optionalInteger(5)
        summary.endedAt = optionalInteger(6)
        summary.durationMs = optionalInteger(7)
        summary.agent = optionalText(8)
        summary.queue = optionalText(9)
        summary.channel = optionalText(10)
        summary.disconnectReason = optionalText(11)
        summary.holdMs = optionalInteger(12)
        summary.holdCount = optionalInteger(13)
        summary.finalSegments = Int(row.integer(14))
        summary.partialSegments = Int(row.integer(15))
        summary.enrichments = Int(row.integer(16))
        summary.transcriptEndMs = row.integer(17)
        summary.startedVersion = optionalInteger(18)
        summary.endedVersion = optionalInteger(19)
        return summary
    }
}
