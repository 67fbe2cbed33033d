// Seeds for the record, value, frame and sidecar targets, taken from a real ledger (one `tools/fuzz` writes with
// the CLI): every decompressed frame, every record, every record with its opened parts in the value target's input
// layout, and every frame split into its side-car layout, compact and plain, in the sidecar target's.
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
        var sideCars = 0
    }

    /// Why seeds could not be exported.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads every segment of the ledger at `ledger` (opening parts with `keyFile`) and writes seeds into
    /// `directory`/record, `directory`/value, `directory`/frame and `directory`/sidecar.
    static func export(ledger: String, keyFile: String, to directory: String) throws -> Counts {
        let reader = try LedgerReader(directory: ledger, keyFilePath: keyFile, requireKeys: true)
        let manager = FileManager.default
        for target in ["record", "value", "frame", "sidecar"] {
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
                seeds.append(contentsOf: sideCarSeeds(content).map { ("sidecar", $0) })
                offset += frame.storedBytes
            }
            for seed in seeds {
                let path = "\(directory)/\(seed.target)/\(name)-\(SHA256.hash(seed.bytes).hex.prefix(16))"
                try Data(seed.bytes).write(to: URL(fileURLWithPath: path))
                switch seed.target {
                case "record": counts.records += 1
                case "value": counts.values += 1
                case "sidecar": counts.sideCars += 1
                default: counts.frames += 1
                }
            }
        }
        return counts
    }

    /// The sidecar target's inputs for one frame's inline content: split into the side-car layout as the writer
    /// does, plain (`CLF2`) and compact (`CLF4`), each as varint length, content, then the side-car's bitmap and
    /// slots. None for a frame without sealed parts.
    static func sideCarSeeds(_ content: [UInt8]) -> [[UInt8]] {
        let parts = content.withUnsafeBytes { raw -> (header: [UInt8], records: [UInt8])? in
            var reader = ByteReader(raw, offset: 4)
            for _ in 0..<3 { guard (try? reader.readVarint()) != nil else { return nil } }
            return (Array(raw[..<reader.offset]), Array(raw[reader.offset...]))
        }
        guard let parts, let split = try? SealedSideCar.split(header: parts.header, records: parts.records) else {
            return []
        }
        var forms = [split.header + split.records]
        if let compact = CompactRecords.compact(header: split.header, records: split.records) {
            forms.append(compact.header + compact.records)
        }
        return forms.map { form in
            var seed: [UInt8] = []
            seed.appendVarint(UInt64(form.count))
            return seed + form + split.sideCar.dropFirst(8)
        }
    }
}
