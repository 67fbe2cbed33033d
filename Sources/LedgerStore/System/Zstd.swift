// zstd frames through libzstd: one-shot compression with content checksums, frame sizing and decompression.
import CZstd

/// A zstd compression context (level and content checksum set once). Not thread-safe.
final class ZstdCompressor {
    private let context: OpaquePointer

    init(level: Int32) throws(LedgerError) {
        guard let context = ZSTD_createCCtx() else {
            throw .zstd(operation: "ZSTD_createCCtx", reason: "out of memory")
        }
        self.context = context
        try Zstd.check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level), "set level")
        try Zstd.check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1), "enable checksum")
        try Zstd.check(ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 1), "enable content size")
    }

    deinit { ZSTD_freeCCtx(context) }

    /// Compresses `input` into one zstd frame appended to `output`.
    func compress(_ input: [UInt8], appendingTo output: inout [UInt8]) throws(LedgerError) {
        let bound = ZSTD_compressBound(input.count)
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: bound))
        let written = output.withUnsafeMutableBytes { out in
            input.withUnsafeBytes { inp in
                ZSTD_compress2(context, out.baseAddress! + start, bound, inp.baseAddress, inp.count)
            }
        }
        try Zstd.check(written, "compress")
        output.removeSubrange((start + written)...)
    }
}

/// A zstd decompression context. Not thread-safe.
final class ZstdDecompressor {
    private let context: OpaquePointer

    init() throws(LedgerError) {
        guard let context = ZSTD_createDCtx() else {
            throw .zstd(operation: "ZSTD_createDCtx", reason: "out of memory")
        }
        self.context = context
    }

    deinit { ZSTD_freeDCtx(context) }

    /// Decompresses the single frame in `frame` into `output` (replacing its contents), checking the checksum.
    func decompress(_ frame: UnsafeRawBufferPointer, into output: inout [UInt8], maximumSize: Int) -> String? {
        let size = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        guard size != ZSTD_CONTENTSIZE_ERROR else { return "not a zstd frame" }
        guard size != ZSTD_CONTENTSIZE_UNKNOWN, size <= UInt64(maximumSize) else {
            return "frame content size is unknown or over \(maximumSize) bytes"
        }
        output.removeAll(keepingCapacity: true)
        output.append(contentsOf: repeatElement(0, count: Int(size)))
        let result = output.withUnsafeMutableBytes { out in
            ZSTD_decompressDCtx(context, out.baseAddress, out.count, frame.baseAddress, frame.count)
        }
        if ZSTD_isError(result) != 0 { return String(cString: ZSTD_getErrorName(result)) }
        guard result == Int(size) else { return "frame decompressed to \(result) bytes, header says \(size)" }
        return nil
    }
}

/// Frame-level helpers.
enum Zstd {
    /// The zstd frame magic number, little-endian at the start of every frame.
    static let magic: UInt32 = 0xFD2F_B528

    /// The compressed size of the frame starting at `bytes`, or nil if it is not a complete frame.
    static func frameSize(_ bytes: UnsafeRawBufferPointer) -> Int? {
        let size = ZSTD_findFrameCompressedSize(bytes.baseAddress, bytes.count)
        return ZSTD_isError(size) != 0 ? nil : size
    }

    static func check(_ code: Int, _ operation: String) throws(LedgerError) {
        if ZSTD_isError(code) != 0 {
            throw .zstd(operation: operation, reason: String(cString: ZSTD_getErrorName(code)))
        }
    }
}
