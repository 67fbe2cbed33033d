// Seeds for the record, value and frame targets, taken from a real ledger (one `tools/fuzz` writes with the
// CLI): every decompressed frame, every record, and every record with its opened parts in the value target's
// input layout.
import Foundation
import LedgerCore

@testable import LedgerStore

/// Writes seed files from a ledger.
enum SeedExport {
    /// How many seeds of each kind were written.
    struct Counts {
        var records = 0
        var values = 0
        var frames = 0
    }

    /// Why seeds could not be exported.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads every segment of the ledger at `ledger` (opening parts with `keyFile`) and writes seeds into
    /// `directory`/record, `directory`/value and `directory`/frame.
    static func export(ledger: String, keyFile: String, to directory: String) throws -> Counts {
        let reader = try LedgerReader(directory: ledger, keyFilePath: keyFile, requireKeys: true)
        let manager = FileManager.default
        for target in ["record", "value", "frame"] {
            try manager.createDirectory(
                atPath: "\(directory)/\(target)", withIntermediateDirectories: true, attributes: nil)
        }
        let decompressor = try ZstdDecompressor()
        var counts = Counts()
        let segments = try manager.contentsOfDirectory(atPath: reader.layout.segments).sorted()
        for name in segments where LedgerLayout.segmentFirstSeq(name: name) != nil {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: "\(reader.layout.segments)/\(name)")))
            let scanner = SegmentScanner(bytes: bytes, name: name, decompressor: decompressor)
            var offset = 0
            var content: [UInt8] = []
            var seeds: [(target: String, bytes: [UInt8])] = []
            var failure: (any Error)?
            while offset < bytes.count {
                let frame = try scanner.readFrame(at: offset, content: &content) { record in
                    let recordBytes = Array(record.bytes)
                    seeds.append(("record", recordBytes))
                    var value: [UInt8] = []
                    value.appendVarint(UInt64(recordBytes.count))
                    value.append(contentsOf: recordBytes)
                    do {
                        for case .opened(let items) in try reader.openParts(of: record) {
                            value.appendVarint(UInt64(items.count))
                            value.append(contentsOf: items)
                        }
                    } catch {
                        failure = error
                    }
                    seeds.append(("value", value))
                }
                if let failure { throw Failure(description: "\(name) at \(offset): \(failure)") }
                seeds.append(("frame", content))
                offset += frame.storedBytes
            }
            for seed in seeds {
                let path = "\(directory)/\(seed.target)/\(name)-\(SHA256.hash(seed.bytes).hex.prefix(16))"
                try Data(seed.bytes).write(to: URL(fileURLWithPath: path))
                switch seed.target {
                case "record": counts.records += 1
                case "value": counts.values += 1
                default: counts.frames += 1
                }
            }
        }
        return counts
    }
}
