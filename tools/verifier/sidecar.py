"""Frames in the sealed side-car layout (FORMAT.md §2.1).

A frame whose content starts with ``CLF2`` keeps its records' sealed bytes out of the zstd content: each such
part is stored as ``string class, 0x03, varint length`` and its bytes are in a *slot* of the zstd skippable frame
(magic ``0x184D2A51``) that directly follows the zstd frame. The side-car holds an erased bitmap of
``ceil(n / 8)`` bytes (bit ``i % 8`` of byte ``i // 8`` set: slot ``i`` is erased), then the ``n`` slots in the
order the records name them, slot ``i`` being ``max(length, 32)`` bytes: the sealed bytes then zeros, or, once
erased, the SHA-256 of the sealed bytes then zeros. ``join`` turns such content into the ``CLF1`` content it stands
for (form ``0x01`` with the sealed bytes, form ``0x02`` with the digest), which ``records`` parses as usual.
"""

from __future__ import annotations

from . import compact
from .encoding import Reader, encode_varint
from .errors import FormatError
from .records import DIGEST_SIZE, MAXIMUM_PARTS, PART_COMPACTED, PART_SEALED, RECORD_VERSION, read_timestamp

SIDE_CAR_MAGIC = b"CLF2"
INLINE_MAGIC = b"CLF1"
SKIPPABLE_MAGIC = 0x184D2A51
PART_SIDE_CAR = 0x03


class SideCarError(Exception):
    """A side-car that is missing or does not match the frame's content."""


def _slot_size(length: int) -> int:
    return max(length, DIGEST_SIZE)


def join(content: bytes, stored: memoryview, frame_size: int) -> bytes:
    """The ``CLF1`` content of a frame: ``content`` itself unless it starts with ``CLF2``, in which case the
    side-car right after the zstd frame (``stored[frame_size:]``, ``stored`` being the frame's stored bytes)
    supplies each form-``0x03`` part's sealed bytes or digest. Compact content (``CLF3``, ``CLF4``, FORMAT.md §2.2)
    is expanded first."""
    content = compact.expand(content)
    if content[:4] != SIDE_CAR_MAGIC:
        return content
    if len(stored) < frame_size + 8:
        raise SideCarError("the zstd frame is not followed by its side-car")
    magic = int.from_bytes(stored[frame_size:frame_size + 4], "little")
    if magic != SKIPPABLE_MAGIC:
        raise SideCarError(f"the zstd frame is followed by magic 0x{magic:08x}, not the side-car's 0x184D2A51")
    declared = int.from_bytes(stored[frame_size + 4:frame_size + 8], "little")
    side_car = stored[frame_size + 8:frame_size + 8 + declared]
    if len(side_car) != declared:
        raise SideCarError(f"the side-car declares {declared} bytes, {len(side_car)} are stored")
    reader = Reader(content, 4)
    header = [reader.varint(what) for what in ("first_seq", "count", "input_bytes")]
    parsed = []  # per record: prefix bytes, then per part (class bytes with prefix, form, inline payload or length)
    slot_count = 0
    for _ in range(header[1]):
        record = Reader(reader.length_prefixed("record"))
        parts = []
        start = record.offset
        if record.byte("version") != RECORD_VERSION:
            raise FormatError(reader.offset, "record version")
        record.varint("seq")
        record.zigzag("time")
        if record.byte("occurred flag") == 1:
            read_timestamp(record, "occurred")
        for what in ("type", "call", "tenant", "source", "idempotency", "body"):
            record.length_prefixed(what)
        count = record.varint("part count")
        if count > MAXIMUM_PARTS:
            raise FormatError(record.offset, f"part count {count} is above {MAXIMUM_PARTS}")
        prefix = bytes(record.data[start:record.offset])
        for _ in range(count):
            class_start = record.offset
            record.length_prefixed("part class")
            data_class = bytes(record.data[class_start:record.offset])
            form = record.byte("part form")
            if form == PART_SIDE_CAR:
                parts.append((data_class, form, record.varint("side-car length")))
                slot_count += 1
            elif form == PART_SEALED:
                parts.append((data_class, form, bytes(record.length_prefixed("sealed bytes"))))
            elif form == PART_COMPACTED:
                parts.append((data_class, form, bytes(record.take(DIGEST_SIZE, "compacted digest"))))
            else:
                raise FormatError(record.offset - 1, f"part form 0x{form:02x}")
        if not record.at_end:
            raise FormatError(record.offset, "bytes after the last part of the record")
        parsed.append((prefix, parts))
    if not reader.at_end:
        raise FormatError(reader.offset, "bytes after the last record of the frame")
    bitmap = side_car[:(slot_count + 7) // 8]
    position = len(bitmap)
    index = 0
    out = bytearray(INLINE_MAGIC)
    for value in header:
        out += encode_varint(value)
    for prefix, parts in parsed:
        record = bytearray(prefix)
        for data_class, form, value in parts:
            record += data_class
            if form != PART_SIDE_CAR:
                record.append(form)
                record += (encode_varint(len(value)) if form == PART_SEALED else b"") + value
                continue
            size = _slot_size(value)
            slot = side_car[position:position + size]
            if len(slot) != size:
                raise SideCarError(f"slot {index} ends after the side-car")
            erased = bitmap[index // 8] >> (index % 8) & 1
            kept = DIGEST_SIZE if erased else value
            if any(slot[kept:]):
                raise SideCarError(f"slot {index} holds bytes after its {'digest' if erased else 'sealed bytes'}")
            if erased:
                record.append(PART_COMPACTED)
                record += slot[:DIGEST_SIZE]
            else:
                record.append(PART_SEALED)
                record += encode_varint(value) + slot[:value]
            position += size
            index += 1
        out += encode_varint(len(record)) + record
    if position != len(side_car):
        raise SideCarError(f"the side-car holds {len(side_car)} bytes, the frame's parts take {position}")
    if slot_count % 8 and bitmap[-1] >> (slot_count % 8):
        raise SideCarError("the erased bitmap marks slots the frame does not have")
    return bytes(out)
