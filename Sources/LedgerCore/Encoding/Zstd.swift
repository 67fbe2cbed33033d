// zstd frames through libzstd: one-shot compression, frame sizing and decompression, for segment frames and
// for sealed-part plaintext.
import CZstd

/// A zstd failure.
public struct ZstdError: Error, CustomStringConvertible {
    /// What was being done.
    public var operation: String
    /// zstd's reason.
    public var reason: String

    /// A message a person can act on.
    public var description: String { "zstd \(operation) failed: \(reason)" }
}

/// A zstd compression context (level and flags set once). Not thread-safe.
public final class ZstdCompressor {
    private let context: OpaquePointer

    /// A compressor at `level`; `checksum` adds the frame content checksum. `minimumMatch` (3-7) overrides the
    /// level's shortest match length when given.
    public init(level: Int32, checksum: Bool = true, minimumMatch: Int32? = nil) throws(ZstdError) {
        guard let context = ZSTD_createCCtx() else {
            throw ZstdError(operation: "ZSTD_createCCtx", reason: "out of memory")
        }
        self.context = context
        try Zstd.check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level), "set level")
        try Zstd.check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, checksum ? 1 : 0), "set checksum")
        try Zstd.check(ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 1), "enable content size")
        if let minimumMatch {
            try Zstd.check(ZSTD_CCtx_setParameter(context, ZSTD_c_minMatch, minimumMatch), "set minimum match")
        }
    }

    deinit { ZSTD_freeCCtx(context) }

    /// Compresses `input` into one zstd frame appended to `output`.
    public func compress(_ input: UnsafeRawBufferPointer, appendingTo output: inout [UInt8]) throws(ZstdError) {
        let bound = ZSTD_compressBound(input.count)
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: bound))
        let written = output.withUnsafeMutableBytes { out in
            ZSTD_compress2(context, out.baseAddress! + start, bound, input.baseAddress, input.count)
        }
        try Zstd.check(written, "compress")
        output.removeSubrange((start + written)...)
    }

    /// Compresses `input` into one zstd frame appended to `output`, using `dictionary` as raw-content
    /// history (a frame that refers to it; decompress with the same bytes as a raw-content dictionary).
    public func compress(_ input: [UInt8], dictionary: [UInt8], appendingTo output: inout [UInt8]) throws(ZstdError) {
        let bound = ZSTD_compressBound(input.count)
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: bound))
        let written = output.withUnsafeMutableBytes { out in
            input.withUnsafeBytes { inp in
                dictionary.withUnsafeBytes { dict in
                    ZSTD_CCtx_reset(context, ZSTD_reset_session_only)
                    ZSTD_CCtx_refPrefix(context, dict.baseAddress, dict.count)
                    return ZSTD_compress2(context, out.baseAddress! + start, bound, inp.baseAddress, inp.count)
                }
            }
        }
        try Zstd.check(written, "compress with history")
        output.removeSubrange((start + written)...)
    }

    /// Compresses the concatenation of `first` and `second` into one zstd frame appended to `output`, without
    /// concatenating them first.
    public func compress(_ first: [UInt8], _ second: [UInt8], appendingTo output: inout [UInt8]) throws(ZstdError) {
        let total = first.count + second.count
        let bound = ZSTD_compressBound(total)
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: bound))
        var status = 0
        var written = 0
        output.withUnsafeMutableBytes { out in
            first.withUnsafeBytes { a in
                second.withUnsafeBytes { b in
                    ZSTD_CCtx_reset(context, ZSTD_reset_session_only)
                    ZSTD_CCtx_setPledgedSrcSize(context, UInt64(total))
                    var destination = ZSTD_outBuffer(dst: out.baseAddress! + start, size: bound, pos: 0)
                    var source = ZSTD_inBuffer(src: a.baseAddress, size: a.count, pos: 0)
                    status = ZSTD_compressStream2(context, &destination, &source, ZSTD_e_continue)
                    guard ZSTD_isError(status) == 0 else { return }
                    source = ZSTD_inBuffer(src: b.baseAddress, size: b.count, pos: 0)
                    repeat {
                        status = ZSTD_compressStream2(context, &destination, &source, ZSTD_e_end)
                    } while ZSTD_isError(status) == 0 && status != 0
                    written = destination.pos
                }
            }
        }
        try Zstd.check(status, "compress")
        output.removeSubrange((start + written)...)
    }

    /// Compresses `input` into one zstd frame appended to `output`.
    public func compress(_ input: [UInt8], appendingTo output: inout [UInt8]) throws(ZstdError) {
        var failure: ZstdError?
        input.withUnsafeBytes { raw in
            do throws(ZstdError) { try compress(raw, appendingTo: &output) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}

/// A zstd decompression context. Not thread-safe.
public final class ZstdDecompressor {
    private let context: OpaquePointer

    /// A decompression context.
    public init() throws(ZstdError) {
        guard let context = ZSTD_createDCtx() else {
            throw ZstdError(operation: "ZSTD_createDCtx", reason: "out of memory")
        }
        self.context = context
    }

    deinit { ZSTD_freeDCtx(context) }

    /// Makes `buffer` exactly `count` bytes long, reusing its storage without zeroing what it already holds
    /// (decompression overwrites every byte).
    private static func resize(_ buffer: inout [UInt8], to count: Int) {
        if buffer.count > count {
            buffer.removeLast(buffer.count - count)
        } else if buffer.count < count {
            buffer.append(contentsOf: repeatElement(0, count: count - buffer.count))
        }
    }

    /// Decompresses a frame made with `ZstdCompressor.compress(_:dictionary:appendingTo:)`; nil on success or
    /// the reason it failed.
    public func decompress(
        _ frame: UnsafeRawBufferPointer, dictionary: [UInt8], into output: inout [UInt8], maximumSize: Int
    ) -> String? {
        let size = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        guard size != ZSTD_CONTENTSIZE_ERROR, size != ZSTD_CONTENTSIZE_UNKNOWN, size <= UInt64(maximumSize) else {
            return "not a zstd frame with a known content size under \(maximumSize) bytes"
        }
        Self.resize(&output, to: Int(size))
        let result = output.withUnsafeMutableBytes { out in
            dictionary.withUnsafeBytes { dict in
                ZSTD_DCtx_reset(context, ZSTD_reset_session_only)
                ZSTD_DCtx_refPrefix(context, dict.baseAddress, dict.count)
                return ZSTD_decompressDCtx(context, out.baseAddress, out.count, frame.baseAddress, frame.count)
            }
        }
        if ZSTD_isError(result) != 0 { return String(cString: ZSTD_getErrorName(result)) }
        guard result == Int(size) else { return "frame decompressed to \(result) bytes, header says \(size)" }
        return nil
    }

    /// Decompresses the single frame in `frame` into `output` (replacing its contents), checking the checksum;
    /// returns nil on success or the reason it failed.
    public func decompress(_ frame: UnsafeRawBufferPointer, into output: inout [UInt8], maximumSize: Int) -> String? {
        let size = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        guard size != ZSTD_CONTENTSIZE_ERROR else { return "not a zstd frame" }
        guard size != ZSTD_CONTENTSIZE_UNKNOWN, size <= UInt64(maximumSize) else {
            return "frame content size is unknown or over \(maximumSize) bytes"
        }
        Self.resize(&output, to: Int(size))
        let result = output.withUnsafeMutableBytes { out in
            ZSTD_decompressDCtx(context, out.baseAddress, out.count, frame.baseAddress, frame.count)
        }
        if ZSTD_isError(result) != 0 { return String(cString: ZSTD_getErrorName(result)) }
        guard result == Int(size) else { return "frame decompressed to \(result) bytes, header says \(size)" }
        return nil
    }
}

/// Frame-level helpers.
public enum Zstd {
    /// The zstd frame magic number, little-endian at the start of every frame.
    public static let magic: UInt32 = 0xFD2F_B528

    /// The first of the 16 magic numbers of skippable frames (RFC 8878 §3.1.2), `0x184D2A50`...`0x184D2A5F`.
    public static let skippableMagic: UInt32 = 0x184D_2A50

    /// The stored size of the frame starting at `bytes`: the zstd frame and the complete skippable frames that
    /// directly follow it (side-car, commit-group marker, the padding a compaction leaves: FORMAT.md §2, §8), or
    /// nil if no complete zstd frame starts there. A skippable frame that `bytes` end inside (a write still under
    /// way, or torn) is not counted: the caller meets it as the next, incomplete frame. Decompressing those bytes
    /// yields the frame's content: decoders skip skippable frames.
    public static func frameSize(_ bytes: UnsafeRawBufferPointer) -> Int? {
        let size = ZSTD_findFrameCompressedSize(bytes.baseAddress, bytes.count)
        guard ZSTD_isError(size) == 0, let base = bytes.baseAddress else { return nil }
        var total = size
        while total + 8 <= bytes.count,
            UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: total, as: UInt32.self)) & 0xFFFF_FFF0
                == skippableMagic
        {
            let padding = ZSTD_findFrameCompressedSize(base + total, bytes.count - total)
            guard ZSTD_isError(padding) == 0 else { break }
            total += padding
        }
        return total
    }

    static func check(_ code: Int, _ operation: String) throws(ZstdError) {
        if ZSTD_isError(code) != 0 {
            throw ZstdError(operation: operation, reason: String(cString: ZSTD_getErrorName(code)))
        }
    }
}
