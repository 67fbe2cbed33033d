// After a compaction: the projections that keep byte-exact copies of records (transcript, CRM) get, for the
// affected calls only, the same copies with the erased sealed parts compacted, which is what a rebuild from the
// compacted log would store; then SQLite is made to drop the old bytes (secure_delete, WAL truncated), so no
// erased ciphertext is left in any projection file. The other calls' rows are not touched.
import LedgerCore
public import LedgerStore

/// What removing erased ciphertext from the projections did.
public struct ProjectionErasure: Sendable, Equatable {
    /// Transcript rows (call, bucket) rewritten.
    public var transcriptRows = 0
    /// CRM write copies rewritten.
    public var crmWrites = 0
    /// Sealed parts compacted in the copies.
    public var parts = 0
}

extension ProjectionEngine {
    /// Brings the transcript and CRM projections up to the log, then replaces, in the rows of the calls that
    /// `erased` names (keys `call + "\u{0}" + class`), every record copy holding a sealed part of an erased
    /// pair by its compacted form, in one transaction per projection with SQLite's `secure_delete` on, and
    /// truncates the WAL, so the old copies' bytes are gone from the files. Equal to a rebuild from the compacted
    /// log for those calls; every other row stays as it was. A projection without state is left alone: nothing of
    /// it holds erased bytes, and its first build reads the compacted log.
    public func removeErasedCiphertext(_ erased: Set<String>) throws(LedgerError) -> ProjectionErasure {
        var result = ProjectionErasure()
        let calls = Set(erased.compactMap { $0.split(separator: "\u{0}", maxSplits: 1).first.map(String.init) })
        guard !calls.isEmpty else { return result }
        if let transcript = try erasable(TranscriptFold.self) {
            try Self.erasing(transcript) { () throws(LedgerError) in
                for call in calls.sorted() {
                    let rows = try transcript.database.statement(
                        "SELECT bucket, records FROM records WHERE call = ?1 ORDER BY bucket"
                    ).bind(.text(call))
                    var changed: [(bucket: Int64, records: [UInt8])] = []
                    while try rows.step() {
                        let stripped = try Self.withoutCiphertext(copies: rows.blob(1), erased: erased)
                        guard let stripped else { continue }
                        changed.append((rows.integer(0), stripped.bytes))
                        result.parts += stripped.parts
                    }
                    rows.rewind()
                    for row in changed {
                        try transcript.database.statement(
                            "UPDATE records SET records = ?3 WHERE call = ?1 AND bucket = ?2"
                        ).bind(.text(call), .integer(row.bucket), .blob(row.records)).run()
                        result.transcriptRows += 1
                    }
                }
            }
        }
        if let crm = try erasable(CRMFold.self) {
            try Self.erasing(crm) { () throws(LedgerError) in
                for call in calls.sorted() {
                    let rows = try crm.database.statement(
                        "SELECT object, id_field, external_id, seq, copy FROM writes WHERE call = ?1 ORDER BY seq"
                    ).bind(.text(call))
                    var changed: [(object: String, field: String, id: String, seq: Int64, copy: [UInt8])] = []
                    while try rows.step() {
                        let copy = rows.blob(4)
                        let parsed = copy.withUnsafeBytes {
                            raw -> Result<(bytes: [UInt8], compacted: Int)?, LedgerError> in
                            do { return .success(try RecordView(raw).withoutCiphertext(of: erased)) } catch {
                                return .failure(
                                    .invalidRequest(
                                        "a CRM write copy of call \(call) no longer parses: \(error); run "
                                            + "`call-ledger rebuild crm`"))
                            }
                        }
                        guard let stripped = try parsed.get() else { continue }
                        changed.append((rows.text(0), rows.text(1), rows.text(2), rows.integer(3), stripped.bytes))
                        result.parts += stripped.compacted
                    }
                    rows.rewind()
                    for row in changed {
                        try crm.database.statement(
                            "UPDATE writes SET copy = ?5 WHERE object = ?1 AND id_field = ?2 AND external_id = ?3 AND seq = ?4"
                        ).bind(
                            .text(row.object), .text(row.field), .text(row.id), .integer(row.seq), .blob(row.copy)
                        ).run()
                        result.crmWrites += 1
                    }
                }
            }
        }
        return result
    }

    /// The state of projection `Fold`, caught up with the log, on a connection of its own (so that no statement
    /// of the catch-up keeps the WAL from being truncated); nil when the projection has no state.
    private func erasable<Fold: ProjectionFold>(_: Fold.Type) throws(LedgerError) -> ProjectionStateFile? {
        guard !(try ProjectionStateFile.generations(name: Fold.projection, in: directory)).isEmpty else { return nil }
        _ = try current(Fold.self)
        guard let file = try ProjectionStateFile.openCurrent(name: Fold.projection, in: directory) else {
            throw .invalidRequest("the \(Fold.projection) projection has no state in \(directory)")
        }
        return file
    }

    /// Runs `body` in one transaction on `file` with `secure_delete` on (freed bytes are overwritten with
    /// zeros), then checkpoints the WAL into the database and truncates it.
    private static func erasing(
        _ file: ProjectionStateFile, _ body: () throws(LedgerError) -> Void
    ) throws(LedgerError) {
        try file.database.execute("PRAGMA secure_delete=ON;")
        try file.database.transaction { () throws(LedgerError) in try body() }
        try file.database.execute("PRAGMA wal_checkpoint(TRUNCATE);")
    }

    /// A blob of record copies (FORMAT.md §9.1) with every sealed part of an erased pair compacted, and how many
    /// parts were; nil when none was.
    static func withoutCiphertext(
        copies: [UInt8], erased: Set<String>
    ) throws(LedgerError) -> (bytes: [UInt8], parts: Int)? {
        var output: [UInt8] = []
        var parts = 0
        try RecordCopies.forEach(in: copies) { record throws(LedgerError) in
            let bytes: [UInt8]
            if let stripped = record.withoutCiphertext(of: erased) {
                parts += stripped.compacted
                bytes = stripped.bytes
            } else {
                bytes = Array(record.bytes)
            }
            guard let length = UInt32(exactly: bytes.count) else {
                throw .invalidRequest("a record copy of \(bytes.count) bytes does not fit a projection row")
            }
            withUnsafeBytes(of: length.littleEndian) { output.append(contentsOf: $0) }
            output.append(contentsOf: bytes)
        }
        return parts > 0 ? (output, parts) : nil
    }
}
