"""The zstd frames of a segment file (FORMAT.md §2): where each one ends, and its checked content.

A segment is a concatenation of independent zstd frames (RFC 8878) with no bytes between them. A zstd
frame header does not hold the frame's compressed size, so it is found by walking the frame: the header,
then every block header (each says its size and whether it is the last block), then the 4-byte content
checksum. Every frame that CallLedger writes has the content size and the content checksum flags set; a
compaction may leave skippable frames right after a frame, which count as that frame's padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import zstandard

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass
class FrameLayout:
    """What the header of one zstd frame says, and the skippable frames that pad it (FORMAT.md §8)."""

    size: int
    content_size: int | None
    has_checksum: bool
    padding: int = 0

    @property
    def stored_size(self) -> int:
        """The frame's bytes in the segment: the zstd frame and the skippable frames right after it."""
        return self.size + self.padding


class FrameSizeError(Exception):
    """No complete, well-formed zstd frame starts at the given offset."""


def frame_layout(data: memoryview, offset: int) -> FrameLayout:
    """Walks the zstd frame that starts at ``offset`` in ``data`` (RFC 8878 §3.1.1) and returns its layout."""
    end = len(data)

    def need(position: int, count: int, what: str) -> None:
        if position + count > end:
            raise FrameSizeError(f"{what} runs past the end of the file (torn or truncated)")

    need(offset, 5, "frame header")
    if bytes(data[offset:offset + 4]) != ZSTD_MAGIC:
        raise FrameSizeError(f"no zstd magic number (found {bytes(data[offset:offset + 4]).hex()})")
    descriptor = data[offset + 4]
    content_size_flag = descriptor >> 6
    single_segment = descriptor >> 5 & 1
    has_checksum = bool(descriptor >> 2 & 1)
    if descriptor >> 3 & 1:
        raise FrameSizeError("reserved bit of the frame header descriptor is set")
    dictionary_id_bytes = (0, 1, 2, 4)[descriptor & 3]
    content_size_bytes = (single_segment, 2, 4, 8)[content_size_flag]
    position = offset + 5 + (0 if single_segment else 1) + dictionary_id_bytes
    need(position, content_size_bytes, "frame header")
    content_size = None
    if content_size_bytes:
        content_size = int.from_bytes(data[position:position + content_size_bytes], "little")
        if content_size_bytes == 2:
            content_size += 256
    position += content_size_bytes
    while True:
        need(position, 3, "block header")
        header = int.from_bytes(data[position:position + 3], "little")
        last, block_type, block_size = header & 1, header >> 1 & 3, header >> 3
        if block_type == 3:
            raise FrameSizeError(f"reserved block type at byte offset {position}")
        position += 3 + (1 if block_type == 1 else block_size)
        need(position, 0, "block")
        if last:
            break
    if has_checksum:
        need(position, 4, "content checksum")
        position += 4
    size = position - offset
    # Skippable frames (RFC 8878 §3.1.2: magic 0x184D2A50-0x184D2A5F, 4-byte little-endian size, that many
    # bytes) right after a frame are the padding an in-place compaction leaves (FORMAT.md §8); they hold no events.
    while position + 8 <= end and int.from_bytes(data[position:position + 4], "little") & 0xFFFFFFF0 == 0x184D2A50:
        skipped = int.from_bytes(data[position + 4:position + 8], "little")
        need(position + 8, skipped, "skippable frame")
        position += 8 + skipped
    return FrameLayout(size=size, content_size=content_size, has_checksum=has_checksum,
                       padding=position - offset - size)


def decompress_frame(frame: memoryview, layout: FrameLayout) -> bytes:
    """The content of one frame; libzstd checks the content checksum and the declared content size.

    Raises ``zstandard.ZstdError`` when the frame does not decode.
    """
    if layout.content_size is None or not layout.has_checksum:
        raise zstandard.ZstdError("frame lacks the content size or the content checksum FORMAT.md §2 requires")
    content = zstandard.ZstdDecompressor().decompress(frame, max_output_size=layout.content_size)
    if len(content) != layout.content_size:
        raise zstandard.ZstdError(f"content is {len(content)} bytes, the header says {layout.content_size}")
    return content
