// Frame encoding for the writer: a frame's header and records become its stored bytes, in the sealed side-car
// layout (FORMAT.md §2.1: zstd content without the sealed bytes, then the side-car) unless ledger.json asks for
// the inline layout.
import CZstd
import LedgerCore

extension LedgerWriter {
    /// The stored bytes of a frame with `header` and length-prefixed `records` (inline form): compressed with
    /// `compressor`, its sealed bytes in a side-car after the zstd frame unless `sealed_side_car` is false.
    func encodeFrame(header: [UInt8], records: [UInt8], compressor: ZstdCompressor) throws(LedgerError) -> [UInt8] {
        var split: (header: [UInt8], records: [UInt8], sideCar: [UInt8])?
        if configuration.sealedSideCar ?? true {
            do { split = try SealedSideCar.split(header: header, records: records) } catch {
                throw .invalidRequest("a staged record does not parse: \(error)")
            }
        }
        var compressed: [UInt8] = []
        do throws(ZstdError) {
            if let split {
                compressed.reserveCapacity(split.records.count / 3 + split.sideCar.count)
                try compressor.compress(split.header, split.records, appendingTo: &compressed)
                compressed.append(contentsOf: split.sideCar)
            } else {
                try compressor.compress(header, records, appendingTo: &compressed)
            }
        } catch {
            throw .zstd(operation: error.operation, reason: error.reason)
        }
        return compressed
    }

    /// The content size a frame's stored bytes declare in their zstd frame header (what the index records as
    /// `content_bytes`); 0 if the header does not say, which a frame this writer made always does.
    static func contentBytes(ofStored stored: [UInt8]) -> Int {
        let size = stored.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        guard size != ZSTD_CONTENTSIZE_ERROR, size != ZSTD_CONTENTSIZE_UNKNOWN else { return 0 }
        return Int(clamping: size)
    }
}
