// verify --projections: projection state is derived, so it is checked by recomputing it. Each projection folded
// from the log is written into a scratch generation (in a directory of the caller's choosing, never the ledger's)
// up to the stored state's checkpoint, and the two are compared table by table, row by row. A difference names
// the projection, table, call and columns: ids and column names, never stored values (they may be personal).
import LedgerCore
public import LedgerStore

/// What checking one projection's stored state found.
public struct ProjectionCheck: Sendable, Equatable, Codable {
    /// The projection.
    public var projection: String
    /// The generation of its state file, when there is one.
    public var generation: Int?
    /// The stored checkpoint (next seq to fold) the state was compared at.
    public var checkpoint: UInt64?
    /// Rows compared (stored and recomputed, all tables).
    public var rows: Int
    /// `ok`, `differs`, `absent` (no state yet: the next read builds it), `behind` (ok, and the next read folds
    /// the events since its checkpoint), `wrong` (another fold version, or a checkpoint beyond the log: the next
    /// read rebuilds it), or `not-recomputed` (qa: its results depend on the scorecard files it was given).
    public var status: String
    /// Events appended since the checkpoint.
    public var eventsBehind: UInt64 = 0

    enum CodingKeys: String, CodingKey {
        case projection, generation, checkpoint, rows, status
        case eventsBehind = "events_behind"
    }
}

/// One difference between a projection's stored state and its recomputation from the log.
public struct ProjectionDifference: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The projection.
    public var projection: String
    /// The table, or `meta` for the state's version and checkpoint.
    public var table: String
    /// The call the row belongs to, when the table has a `call` column.
    public var call: String?
    /// The row's identifying columns (ids, seqs, names: never values that may be personal), by column name.
    public var key: [String: String]
    /// `missing` (the log yields the row, the state lacks it), `extra` (the state holds a row the log does not
    /// yield), `changed` (both hold it, with other values), `version` or `checkpoint`.
    public var kind: String
    /// The columns whose values differ (for `changed`).
    public var columns: [String]

    /// One line for a person.
    public var description: String {
        var text = "\(projection): table \(table)"
        if let call { text += ", call \(call)" }
        let others = key.filter { $0.key != "call" }.sorted { $0.key < $1.key }
        if !others.isEmpty { text += " (" + others.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")" }
        switch kind {
        case "missing": text += ": row missing from the stored state"
        case "extra": text += ": row the log does not yield"
        case "changed": text += ": differs in " + columns.joined(separator: ", ")
        default: text += ": " + columns.joined(separator: ", ")
        }
        return text
    }
}

extension ProjectionEngine {
    /// The columns a difference may show the value of: ids, seqs, names of policies and scorecards, never a value
    /// derived from an event's content.
    private static let identifyingColumns: Set<String> = [
        "call", "bucket", "seq", "scope", "target", "policy", "projection", "name", "hold", "class", "digest",
        "question", "object", "id_field",
    ]

    /// Checks every projection's stored state: its version and checkpoint against the log, and, when `scratch`
    /// (an empty directory outside the ledger) is given, its rows against a recomputation from the log up to the
    /// same checkpoint. The stored state is only read.
    public func check(
        scratch: String?
    ) throws(LedgerError) -> (checks: [ProjectionCheck], differences: [ProjectionDifference]) {
        var checks: [ProjectionCheck] = []
        var differences: [ProjectionDifference] = []
        for fold in Self.folds {
            let (check, found) = try check(fold, scratch: scratch)
            checks.append(check)
            differences.append(contentsOf: found)
        }
        let qa = try ProjectionStateFile.generations(name: QAState.projection, in: directory).last
        checks.append(
            ProjectionCheck(
                projection: QAState.projection, generation: qa, checkpoint: nil, rows: 0,
                status: qa == nil ? "absent" : "not-recomputed"))
        return (checks, differences)
    }

    private func check<Fold: ProjectionFold>(
        _: Fold.Type, scratch: String?
    ) throws(LedgerError) -> (ProjectionCheck, [ProjectionDifference]) {
        var check = ProjectionCheck(
            projection: Fold.projection, generation: nil, checkpoint: nil, rows: 0, status: "ok")
        guard let stored = try ProjectionStateFile.openCurrentForReading(name: Fold.projection, in: directory) else {
            check.status = "absent"
            return (check, [])
        }
        check.generation = stored.generation
        func wrong(_ kind: String, _ reason: String) -> (ProjectionCheck, [ProjectionDifference]) {
            check.status = "wrong"
            return (
                check,
                [
                    ProjectionDifference(
                        projection: Fold.projection, table: "meta", call: nil, key: [:], kind: kind, columns: [reason])
                ]
            )
        }
        let version = try stored.meta("version")
        guard version == Fold.version else {
            return wrong(
                "version",
                "state of fold version \(version.map(String.init) ?? "none"), this build folds \(Fold.version)")
        }
        guard let seqValue = try stored.meta("seq"), let seq = UInt64(exactly: seqValue) else {
            return wrong("checkpoint", "no checkpoint seq")
        }
        check.checkpoint = seq
        guard seq <= reader.size else {
            return wrong("checkpoint", "checkpoint seq \(seq) is beyond the log's \(reader.size) events")
        }
        check.eventsBehind = reader.size - seq
        if seq < reader.size { check.status = "behind" }
        guard let scratch else { return (check, []) }
        let recomputed = try ProjectionStateFile.createForRebuild(
            name: Fold.projection, version: Fold.version, schema: Fold.schema, in: scratch)
        _ = try recomputed.database.transaction { () throws(LedgerError) -> ProjectionRun in
            try fold(Fold.self, into: recomputed, from: 0, to: seq) { _, _, _ in }
        }
        var differences: [ProjectionDifference] = []
        for table in try Self.tables(of: recomputed.database) where table != "meta" {
            let (found, rows) = try Self.compare(
                table: table, stored: stored.database, recomputed: recomputed.database, projection: Fold.projection)
            differences.append(contentsOf: found)
            check.rows += rows
        }
        if !differences.isEmpty { check.status = "differs" }
        return (check, differences)
    }

    private static func tables(of database: SQLiteDatabase) throws(LedgerError) -> [String] {
        let statement = try database.statement("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        var names: [String] = []
        while try statement.step() { names.append(statement.text(0)) }
        return names
    }

    /// The columns of `table` and the ones that identify a row (primary key, else the first unique index, else
    /// all of them).
    private static func layout(
        of table: String, in database: SQLiteDatabase
    ) throws(LedgerError) -> (columns: [String], key: [Int]) {
        let info = try database.statement("SELECT name, pk FROM pragma_table_info(?1)").bind(.text(table))
        var columns: [String] = []
        var primary: [(position: Int64, column: Int)] = []
        while try info.step() {
            if info.integer(1) > 0 { primary.append((info.integer(1), columns.count)) }
            columns.append(info.text(0))
        }
        if !primary.isEmpty { return (columns, primary.sorted { $0.position < $1.position }.map(\.column)) }
        let indexes = try database.statement(
            "SELECT name FROM pragma_index_list(?1) WHERE \"unique\" = 1 ORDER BY name"
        ).bind(.text(table))
        guard try indexes.step() else { return (columns, Array(columns.indices)) }
        let index = indexes.text(0)
        let indexed = try database.statement("SELECT name FROM pragma_index_info(?1) ORDER BY seqno").bind(.text(index))
        var key: [Int] = []
        while try indexed.step() {
            if let position = columns.firstIndex(of: indexed.text(0)) { key.append(position) }
        }
        return (columns, key.isEmpty ? Array(columns.indices) : key)
    }

    /// Every row of `table` by its key: each column's value as text, blobs as their SHA-256.
    private static func rows(
        of table: String, columns: [String], key: [Int], in database: SQLiteDatabase
    ) throws(LedgerError) -> [[String]: [String]] {
        let list = columns.map { "\"\($0)\"" }.joined(separator: ", ")
        let statement = try database.statement("SELECT \(list) FROM \"\(table)\"")
        var result: [[String]: [String]] = [:]
        while try statement.step() {
            var values: [String] = []
            for column in 0..<Int32(columns.count) {
                switch statement.columnKind(column) {
                case .null: values.append("null")
                case .integer: values.append(String(statement.integer(column)))
                case .text: values.append("t:" + statement.text(column))
                case .blob: values.append("b:" + SHA256.hash(statement.blob(column)).hex)
                }
            }
            result[key.map { values[$0] }] = values
        }
        return result
    }

    /// The differences between `table` in the stored and the recomputed state, and the rows compared.
    private static func compare(
        table: String, stored: SQLiteDatabase, recomputed: SQLiteDatabase, projection: String
    ) throws(LedgerError) -> ([ProjectionDifference], Int) {
        let (columns, key) = try layout(of: table, in: recomputed)
        let expected = try rows(of: table, columns: columns, key: key, in: recomputed)
        let (storedColumns, _) = try layout(of: table, in: stored)
        guard storedColumns == columns else {
            return (
                [
                    ProjectionDifference(
                        projection: projection, table: table, call: nil, key: [:], kind: "changed",
                        columns: ["the table's columns (\(storedColumns.joined(separator: ", ")))"])
                ], 0
            )
        }
        let actual = try rows(of: table, columns: columns, key: key, in: stored)
        let callColumn = columns.firstIndex(of: "call")
        func difference(_ values: [String], _ kind: String, _ changed: [String] = []) -> ProjectionDifference {
            var shown: [String: String] = [:]
            for position in key where identifyingColumns.contains(columns[position]) {
                shown[columns[position]] = Self.plain(values[position])
            }
            return ProjectionDifference(
                projection: projection, table: table, call: callColumn.map { Self.plain(values[$0]) }, key: shown,
                kind: kind, columns: changed)
        }
        var differences: [ProjectionDifference] = []
        for rowKey in Set(expected.keys).union(actual.keys).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            switch (expected[rowKey], actual[rowKey]) {
            case (let wanted?, nil): differences.append(difference(wanted, "missing"))
            case (nil, let found?): differences.append(difference(found, "extra"))
            case (let wanted?, let found?) where wanted != found:
                let changed = columns.indices.filter { wanted[$0] != found[$0] }.map { columns[$0] }
                differences.append(difference(wanted, "changed", changed))
            default: break
            }
        }
        return (differences, expected.count + actual.count)
    }

    /// A rendered value without its type prefix.
    private static func plain(_ value: String) -> String {
        value.hasPrefix("t:") || value.hasPrefix("b:") ? String(value.dropFirst(2)) : value
    }
}
