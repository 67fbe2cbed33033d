// The mechanics every projection's state shares: a SQLite file per generation in the ledger's `projections/`
// directory with a `meta` table (the fold's version and the checkpoint seq), opened for catching up in WAL
// mode, or written whole by a rebuild without a journal and then published by an atomic rename.
import LedgerCore
import LedgerStore

/// One generation of a projection's state: `projections/<name>-<generation>.sqlite`. A rebuild writes the next
/// generation beside the current one and then removes the older ones, so a crash never leaves a half-built
/// state in use.
final class ProjectionStateFile {
    let name: String
    let database: SQLiteDatabase
    let path: String
    let generation: Int

    private init(name: String, path: String, generation: Int, database: SQLiteDatabase) {
        self.name = name
        self.path = path
        self.generation = generation
        self.database = database
    }

    /// The path of generation `generation` of projection `name` in `directory`.
    static func path(name: String, in directory: String, generation: Int) -> String {
        FileSystem.join(directory, "\(name)-\(generation).sqlite")
    }

    /// The generations of projection `name` present in `directory`, newest last.
    static func generations(name: String, in directory: String) throws(LedgerError) -> [Int] {
        guard FileSystem.exists(directory) else { return [] }
        let prefix = name + "-"
        return try FileSystem.contents(of: directory).compactMap { file -> Int? in
            guard file.hasPrefix(prefix), file.hasSuffix(".sqlite") else { return nil }
            return Int(file.dropFirst(prefix.count).dropLast(".sqlite".count))
        }.sorted()
    }

    /// Opens the newest generation of projection `name` for catching up, or nil when there is none.
    static func openCurrent(name: String, in directory: String) throws(LedgerError) -> ProjectionStateFile? {
        guard let generation = try generations(name: name, in: directory).last else { return nil }
        let path = path(name: name, in: directory, generation: generation)
        let database = try SQLiteDatabase(path: path)
        try database.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        return ProjectionStateFile(name: name, path: path, generation: generation, database: database)
    }

    /// Opens the newest generation of projection `name` read-only, or nil when there is none.
    static func openCurrentForReading(name: String, in directory: String) throws(LedgerError) -> ProjectionStateFile? {
        guard let generation = try generations(name: name, in: directory).last else { return nil }
        let path = path(name: name, in: directory, generation: generation)
        return ProjectionStateFile(
            name: name, path: path, generation: generation, database: try SQLiteDatabase(path: path, readOnly: true))
    }

    /// Creates the next generation of projection `name` as a temporary file written without a journal, with
    /// `schema` and a `meta` table at `version`; `publish(in:)` makes it current.
    static func createForRebuild(
        name: String, version: Int64, schema: String, in directory: String
    )
        throws(LedgerError) -> ProjectionStateFile
    {
        try FileSystem.createDirectory(directory)
        let generation = (try generations(name: name, in: directory).last ?? 0) + 1
        let path = path(name: name, in: directory, generation: generation)
        let temporary = path + ".rebuild"
        for stale in [temporary, path, path + "-wal", path + "-shm", path + "-journal"] {
            try FileSystem.remove(stale)
        }
        let database = try SQLiteDatabase(path: temporary)
        try database.execute(
            """
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA page_size=16384;
            CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
            \(schema)
            """)
        try database.statement("INSERT INTO meta(key, value) VALUES('version', ?1), ('seq', 0)")
            .bind(.integer(version)).run()
        return ProjectionStateFile(name: name, path: temporary, generation: generation, database: database)
    }

    /// Makes a rebuilt generation durable and current, and removes the older generations.
    func publish(in directory: String) throws(LedgerError) {
        try FileSystem.moveDurably(path, to: Self.path(name: name, in: directory, generation: generation))
        for older in try Self.generations(name: name, in: directory) where older < generation {
            let olderPath = Self.path(name: name, in: directory, generation: older)
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

    /// Every row of every table, as text, tables by name and rows in sorted order, blobs as their SHA-256:
    /// what "identical state" means for the tests.
    func dump() throws(LedgerError) -> [String] {
        let tables = try database.statement(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        var names: [String] = []
        while try tables.step() { names.append(tables.text(0)) }
        var lines: [String] = []
        for table in names {
            let rows = try database.statement("SELECT * FROM \"\(table)\"")
            var rendered: [String] = []
            while try rows.step() {
                var columns: [String] = []
                for column in 0..<rows.columnCount {
                    switch rows.columnKind(column) {
                    case .null: columns.append("null")
                    case .integer: columns.append(String(rows.integer(column)))
                    case .text: columns.append(rows.text(column))
                    case .blob: columns.append(SHA256.hash(rows.blob(column)).hex)
                    }
                }
                rendered.append("\(table) " + columns.joined(separator: " | "))
            }
            lines.append(contentsOf: rendered.sorted())
        }
        return lines
    }
}

/// A projection's fold: which records it reads, and how it applies them to its state.
protocol ProjectionFold: SendableMetatype {
    /// The projection's name, and its state files' prefix.
    static var projection: String { get }
    /// The version of the fold and its schema; a state of another version is rebuilt.
    static var version: Int64 { get }
    /// The projection's tables.
    static var schema: String { get }
    /// Whether the fold reads `record`; run on the reading thread, so it must not touch the fold.
    static func wants(_ record: RecordView) -> Bool
    /// A fold into `file`; `restoring` when the state may already hold rows (a catch-up).
    init(into file: ProjectionStateFile, restoring: Bool)
    /// The calls the fold has touched.
    var callCount: Int { get }
    /// Time spent applying records, in nanoseconds (decoding excluded where the fold can tell).
    var applyNanos: UInt64 { get }
    /// Folds one record.
    mutating func apply(_ record: RecordView) throws(LedgerError)
    /// Writes what is pending and records `seq` as the next seq to fold.
    mutating func finish(checkpoint seq: UInt64) throws(LedgerError)
}
