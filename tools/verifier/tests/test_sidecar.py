"""Side-car frames built by hand from FORMAT.md §2.1: joined into inline content, erased slots read as compacted
parts with the same digests, and malformed side-cars refused."""

from __future__ import annotations

import hashlib
import os
import unittest

import zstandard

from verifier import records, sidecar, zstdframes
from verifier.encoding import encode_varint

from .test_records import PREFIX, SEALED_CONTENT, sealed, string

SHORT = os.urandom(29)  # a sealed part shorter than a digest: its slot is padded to 32 bytes


def side_car_frame(erased: set[int]) -> tuple[memoryview, bytes]:
    """A frame of one record with a content part and a 29-byte part in its side-car, the slots in ``erased``
    erased; and the inline content it stands for before any erasure."""
    parts = [("content", SEALED_CONTENT), ("pii.name", SHORT)]
    record = PREFIX + b"".join(string(name) + bytes([0x03]) + encode_varint(len(data)) for name, data in parts)
    header = encode_varint(300) + encode_varint(1) + encode_varint(999)
    content = b"CLF2" + header + encode_varint(len(record)) + record
    bitmap = sum(1 << index for index in erased)
    slots = b""
    for index, (_, data) in enumerate(parts):
        kept = hashlib.sha256(data).digest() if index in erased else data
        slots += kept + bytes(max(len(data), 32) - len(kept))
    payload = bytes([bitmap]) + slots
    frame = zstandard.ZstdCompressor(write_checksum=True, write_content_size=True).compress(content)
    stored = frame + (0x184D2A51).to_bytes(4, "little") + len(payload).to_bytes(4, "little") + payload
    inline_record = PREFIX + b"".join(sealed(name, data) for name, data in parts)
    inline = b"CLF1" + header + encode_varint(len(inline_record)) + inline_record
    return memoryview(stored), inline


class SideCarTests(unittest.TestCase):
    def join(self, stored: memoryview) -> bytes:
        layout = zstdframes.frame_layout(stored, 0)
        self.assertEqual(layout.stored_size, len(stored))
        content = zstdframes.decompress_frame(stored[:layout.size], layout)
        return sidecar.join(content, stored, layout.size)

    def test_a_side_car_frame_joins_into_the_inline_content_it_stands_for(self) -> None:
        stored, inline = side_car_frame(set())
        self.assertEqual(self.join(stored), inline)

    def test_erased_slots_read_as_compacted_parts_with_the_same_leaf(self) -> None:
        stored, inline = side_car_frame({0, 1})
        joined = records.parse_record(records.parse_frame_content(self.join(stored)).records[0][1])
        original = records.parse_record(records.parse_frame_content(inline).records[0][1])
        self.assertEqual([part.form for part in joined.parts], [records.PART_COMPACTED] * 2)
        self.assertEqual(joined.leaf_hash, original.leaf_hash)

    def test_malformed_side_cars_are_refused(self) -> None:
        stored, _ = side_car_frame(set())
        layout = zstdframes.frame_layout(stored, 0)
        for name, damaged in [
            ("cut", stored[:-1]),
            ("missing", stored[:layout.size]),
            ("bitmap past the slots", bytes(stored[:layout.size + 8]) + bytes([0x04]) + bytes(stored[layout.size + 9:])),
            ("padding", bytes(stored[:-1]) + b"\x01"),
        ]:
            with self.subTest(name), self.assertRaises((sidecar.SideCarError, zstdframes.FrameSizeError)):
                view = memoryview(damaged)
                content = zstdframes.decompress_frame(view[:layout.size], layout)
                sidecar.join(content, view, layout.size)
                zstdframes.frame_layout(view, 0)


if __name__ == "__main__":
    unittest.main()
