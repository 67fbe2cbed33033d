// The plaintext of a sealed part as stored before encryption: a form byte, then the items as they are, as one
// zstd frame, or as one zstd frame compressed against the items of an earlier part of the same call and class
// (a transcript's partials repeat each other). Compressing before AES-GCM is what lets transcript parts
// shrink at all: ciphertext is incompressible.

/// Encodes and decodes sealed-part plaintext (FORMAT.md §3).
public enum SealedPlaintext {
    /// Form byte: the items follow as they are.
    public static let raw: UInt8 = 0x00
    /// Form byte: one zstd frame follows whose content is the items.
    public static let zstd: UInt8 = 0x01
    /// Form byte: a varint `back`, then one zstd frame whose content is the items, compressed with the items
    /// of the same class's part of event `seq - back` (same call, so same data key) as raw-content history.
    public static let delta: UInt8 = 0x02
    /// Parts smaller than this are never compressed.
    static let compressionThreshold = 24

    /// Appends the stored plaintext of `items` to `out`: compressed against `base` (its distance back and its
    /// items) when there is one, else on its own, or raw when compression does not make it smaller.
    public static func encode(
        _ items: [UInt8], base: (back: UInt64, items: [UInt8])?, compressor: ZstdCompressor, into out: inout [UInt8]
    ) throws(ZstdError) {
        let start = out.count
        out.append(raw)
        out.append(contentsOf: items)
        guard items.count >= compressionThreshold else { return }
        var candidate: [UInt8]
        if let base {
            candidate = [delta]
            candidate.appendVarint(base.back)
            try compressor.compress(items, dictionary: base.items, appendingTo: &candidate)
        } else {
            candidate = [zstd]
            try compressor.compress(items, appendingTo: &candidate)
        }
        if candidate.count < out.count - start {
            out.removeSubrange(start...)
            out.append(contentsOf: candidate)
        }
    }

    /// The distance back to the event whose part this plaintext is a delta against, or nil for other forms.
    public static func deltaBase(_ plaintext: [UInt8]) -> UInt64? {
        guard plaintext.first == delta else { return nil }
        return plaintext.withUnsafeBytes { raw in
            var reader = ByteReader(raw, offset: 1)
            return try? reader.readVarint()
        }
    }

    /// The items held in stored plaintext; `baseItems` supplies the base part's items for the delta form.
    public static func items(
        _ plaintext: [UInt8], decompressor: ZstdDecompressor, baseItems: [UInt8]? = nil
    )
        throws(DecodingError) -> [UInt8]
    {
        guard let form = plaintext.first else { throw .truncated(offset: 0) }
        switch form {
        case raw:
            return Array(plaintext.dropFirst())
        case zstd, delta:
            var items: [UInt8] = []
            var failure: DecodingError?
            plaintext.withUnsafeBytes { raw in
                var reader = ByteReader(raw, offset: 1)
                if form == delta {
                    do throws(DecodingError) { _ = try reader.readVarint() } catch {
                        failure = error
                        return
                    }
                }
                let frame = UnsafeRawBufferPointer(rebasing: raw[reader.offset...])
                let problem =
                    form == zstd
                    ? decompressor.decompress(frame, into: &items, maximumSize: RecordLimits.maximumPartItemsBytes)
                    : decompressor.decompress(
                        frame, dictionary: baseItems ?? [], into: &items,
                        maximumSize: RecordLimits.maximumPartItemsBytes)
                if problem != nil { failure = .invalidByte(offset: reader.offset, what: "compressed part plaintext") }
            }
            if form == delta && baseItems == nil { throw .invalidByte(offset: 0, what: "delta part without its base") }
            if let failure { throw failure }
            return items
        default:
            throw .invalidByte(offset: 0, what: "part plaintext form")
        }
    }
}
