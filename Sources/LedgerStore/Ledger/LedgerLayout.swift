// The ledger directory's layout and its configuration file, ledger.json (FORMAT.md §1).
import Foundation

/// Paths inside a ledger directory.
public struct LedgerLayout: Sendable {
    /// The ledger directory.
    public let directory: String

    /// A layout rooted at `directory`.
    public init(directory: String) {
        self.directory = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
    }

    /// `ledger.json`: format version and settings.
    public var configuration: String { FileSystem.join(directory, "ledger.json") }
    /// `verifier.key`: the C2SP verifier key for checkpoints.
    public var verifierKey: String { FileSystem.join(directory, "verifier.key") }
    /// `segments/`.
    public var segments: String { FileSystem.join(directory, "segments") }
    /// `tree/`.
    public var tree: String { FileSystem.join(directory, "tree") }
    /// `checkpoints/`.
    public var checkpoints: String { FileSystem.join(directory, "checkpoints") }
    /// `index.sqlite`.
    public var index: String { FileSystem.join(directory, "index.sqlite") }
    /// `keys.sqlite`.
    public var keys: String { FileSystem.join(directory, "keys.sqlite") }
    /// `projections/`: the projections' SQLite state, derived from the log and rebuildable.
    public var projections: String { FileSystem.join(directory, "projections") }
    /// `segments/COMPACTING`: present while a compaction rewrites a segment; recovery then rebuilds the index.
    public var compactionMarker: String { FileSystem.join(segments, "COMPACTING") }
    /// `LOCK`.
    public var lock: String { FileSystem.join(directory, "LOCK") }

    /// The default key file: beside the ledger directory, never inside it (`/data/ledger` → `/data/ledger.key`).
    public var defaultKeyFile: String { directory + ".key" }

    /// The file name of the segment whose first event is `firstSeq`.
    public static func segmentName(firstSeq: UInt64) -> String {
        let digits = String(firstSeq)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".zst"
    }

    /// The first seq encoded in a segment file name, or nil if it is not one.
    public static func segmentFirstSeq(name: String) -> UInt64? {
        guard name.count == 24, name.hasSuffix(".zst") else { return nil }
        return UInt64(name.prefix(20))
    }

    /// The path of a segment file.
    public func segmentPath(firstSeq: UInt64) -> String {
        FileSystem.join(segments, Self.segmentName(firstSeq: firstSeq))
    }

    /// The path of the checkpoint note for `treeSize`.
    public func checkpointPath(treeSize: UInt64) -> String {
        let digits = String(treeSize)
        return FileSystem.join(checkpoints, String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".note")
    }
}

/// The settings in `ledger.json`.
public struct LedgerConfiguration: Codable, Sendable, Equatable {
    /// On-disk format version; this build reads and writes 1.
    public var format: Int
    /// The checkpoint origin line (and signer key name).
    public var origin: String
    /// A segment is rolled once it reaches this many bytes.
    public var segmentSizeLimit: Int
    /// A checkpoint is written once this many events were appended since the last one.
    public var checkpointEveryEvents: Int
    /// A checkpoint is written once this many seconds passed since the last one (and events were appended).
    public var checkpointEverySeconds: Int
    /// Largest accepted interchange event, in bytes.
    public var maximumEventBytes: Int
    /// Most events committed in one frame.
    public var maximumBatchEvents: Int
    /// zstd compression level of frames.
    public var compressionLevel: Int
    /// Whether new frames keep their sealed bytes in a side-car (FORMAT.md §2.1); absent means yes. `false`
    /// writes them inline in the zstd content, as ledgers did before the side-car.
    public var sealedSideCar: Bool?
    /// Whether new frames store compact records (FORMAT.md §2.2); absent means yes. `false` writes each record
    /// with its seq and absolute times, as ledgers did before compact records.
    public var compactRecords: Bool?

    /// The format version this build supports.
    public static let currentFormat = 1

    /// Default settings for a ledger with `origin`.
    public init(origin: String) {
        self.format = Self.currentFormat
        self.origin = origin
        self.segmentSizeLimit = 64 << 20
        self.checkpointEveryEvents = 100_000
        self.checkpointEverySeconds = 300
        self.maximumEventBytes = 1 << 20
        self.maximumBatchEvents = 1000
        self.compressionLevel = 5
    }

    enum CodingKeys: String, CodingKey {
        case format, origin
        case segmentSizeLimit = "segment_size_limit"
        case checkpointEveryEvents = "checkpoint_every_events"
        case checkpointEverySeconds = "checkpoint_every_seconds"
        case maximumEventBytes = "maximum_event_bytes"
        case maximumBatchEvents = "maximum_batch_events"
        case compressionLevel = "compression_level"
        case sealedSideCar = "sealed_side_car"
        case compactRecords = "compact_records"
    }

    /// Reads and checks `ledger.json`.
    static func load(_ layout: LedgerLayout) throws(LedgerError) -> LedgerConfiguration {
        guard FileSystem.exists(layout.configuration) else {
            throw .notALedger(path: layout.directory, reason: "no ledger.json (run `call-ledger init DIR` first)")
        }
        let bytes = try FileSystem.read(layout.configuration)
        let configuration: LedgerConfiguration
        do {
            configuration = try JSONDecoder().decode(LedgerConfiguration.self, from: Data(bytes))
        } catch {
            throw .notALedger(path: layout.directory, reason: "ledger.json is not valid: \(error)")
        }
        guard configuration.format == currentFormat else {
            throw .notALedger(
                path: layout.directory,
                reason: "format \(configuration.format) is not supported (this build reads format \(currentFormat))")
        }
        guard configuration.segmentSizeLimit >= 4096, configuration.maximumBatchEvents >= 1,
            configuration.maximumEventBytes >= 256, configuration.checkpointEveryEvents >= 1,
            configuration.checkpointEverySeconds >= 1, (1...19).contains(configuration.compressionLevel)
        else {
            throw .notALedger(path: layout.directory, reason: "ledger.json holds an out-of-range setting")
        }
        return configuration
    }

    /// Writes `ledger.json` atomically.
    func save(_ layout: LedgerLayout) throws(LedgerError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try encoder.encode(self) } catch {
            throw .invalidRequest("cannot encode ledger.json: \(error)")
        }
        try FileSystem.writeAtomically(Array(data) + [0x0A], to: layout.configuration)
    }
}
