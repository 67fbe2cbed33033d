// The commit-group marker (FORMAT.md §2): a zstd skippable frame after each frame of a commit group of more than
// one frame, naming the group's first seq. The frames of a group are made durable by one fdatasync, so after a
// power loss any of them may be torn while a later one of the same group reached the disk; the marker lets a
// writer's recovery tell such a torn group (never acknowledged) from corruption of a frame that was.
import CZstd
import LedgerCore

/// Reads and writes the commit-group marker that follows a frame's zstd frame and side-car.
enum CommitGroupMarker {
    /// The marker's skippable-frame magic number (RFC 8878 §3.1.2).
    static let magic: UInt32 = 0x184D_2A52
    /// Bytes the marker's skippable frame carries: the group's first seq, u64 little-endian.
    static let payloadBytes = 8

    /// The marker's 16 bytes for a group whose first frame starts at `groupFirstSeq`.
    static func bytes(groupFirstSeq: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + payloadBytes)
        for value in [UInt64(magic) | UInt64(payloadBytes) << 32, groupFirstSeq] {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }

    /// The group first seq of the marker among the skippable frames that follow the zstd frame in `stored` (a
    /// frame's stored bytes), or nil when it carries none.
    static func groupFirstSeq(inStored stored: UnsafeRawBufferPointer) -> UInt64? {
        let frameSize = ZSTD_findFrameCompressedSize(stored.baseAddress, stored.count)
        guard ZSTD_isError(frameSize) == 0 else { return nil }
        var offset = frameSize
        while offset + 8 <= stored.count {
            let magicHere = UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            guard magicHere & 0xFFFF_FFF0 == Zstd.skippableMagic else { return nil }
            let size = Int(UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)))
            offset += 8
            guard size <= stored.count - offset else { return nil }
            if magicHere == magic, size == payloadBytes {
                return UInt64(littleEndian: stored.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            }
            offset += size
        }
        return nil
    }
}
