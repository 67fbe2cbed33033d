// Frame encoding for the writer: a frame's header and records become its stored bytes, in the sealed side-car
// layout (FORMAT.md §2.1: zstd content without the sealed bytes, then the side-car) and with compact records
// (§2.2) unless ledger.json asks for the inline layout or plain records.
import CZstd
import LedgerCore

extension LedgerWriter {
    /// The stored bytes of a frame with `header` and length-prefixed `records` (inline form): compressed with
    /// `compressor`, its sealed bytes in a side-car after the zstd frame unless `sealed_side_car` is false, its
    /// records compact unless `compact_records` is false (or a record is one that form cannot restore).
    func encodeFrame(header: [UInt8], records: [UInt8], compressor: ZstdCompressor) throws(LedgerError) -> [UInt8] {
        var content = (header: header, records: records)
        var sideCar: [UInt8] = []
        if configuration.sealedSideCar ?? true {
            do {
                if let split = try SealedSideCar.split(header: header, records: records) {
                    content = (split.header, split.records)
                    sideCar = split.sideCar
                }
            } catch {
                throw .invalidRequest("a staged record does not parse: \(error)")
            }
        }
        if configuration.compactRecords ?? true,
            let compact = CompactRecords.compact(header: content.header, records: content.records)
        {
            content = compact
        }
        var compressed: [UInt8] = []
        do throws(ZstdError) {
            compressed.reserveCapacity(content.records.count / 3 + sideCar.count)
            try compressor.compress(content.header, content.records, appendingTo: &compressed)
            compressed.append(contentsOf: sideCar)
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
