"""Compact records built by hand from FORMAT.md §2.2: expanded into the plain records they stand for, seqs, times
and timestamps restored in every zone and order, and damaged compact content refused."""

from __future__ import annotations

import unittest

from verifier import compact
from verifier.encoding import encode_varint
from verifier.errors import FormatError


def zigzag(value: int) -> bytes:
    return encode_varint(((value << 1) ^ (value >> 63)) & ((1 << 64) - 1))


def string(text: str) -> bytes:
    return encode_varint(len(text.encode())) + text.encode()


def timestamp(micros: int, layout: int, offset: int | None = None) -> bytes:
    """A timestamp's payload (FORMAT.md §4 tag 0x08, without the tag)."""
    return zigzag(micros) + bytes([layout]) + (zigzag(offset) if offset is not None else b"")


def record(seq: int | None, time: int, occurred: bytes | None, body: bytes, stamps: bool = False) -> bytes:
    """A record without parts; ``seq`` None for its compact form, whose flag byte has bit 1 set when ``stamps``."""
    out = bytes([1]) + (encode_varint(seq) if seq is not None else b"") + zigzag(time)
    flags = (1 if occurred is not None else 0) | (2 if seq is None and stamps else 0)
    out += bytes([flags]) + (occurred or b"")
    out += b"".join(string(text) for text in ("audio.fragment.received", "call-1", "t", "test/1", "key"))
    return out + encode_varint(len(body)) + body + encode_varint(0)


def body(stamps: list[bytes]) -> bytes:
    """A schema object (tag 0x0D) whose fields 1, 2, ... hold an array of timestamps and a string around them."""
    array = bytes([0x09]) + encode_varint(len(stamps)) + b"".join(bytes([0x08]) + stamp for stamp in stamps)
    return bytes([0x0D]) + encode_varint(2) + encode_varint(1) + array + encode_varint(2) + bytes([0x05]) + string("x")


def content(magic: bytes, first_seq: int, records: list[bytes]) -> bytes:
    header = magic + encode_varint(first_seq) + encode_varint(len(records)) + encode_varint(123)
    return header + b"".join(encode_varint(len(item)) + item for item in records)


# Three events: times increasing, timestamps going back and forth, in UTC, a numeric zone and -00:00.
TIMES = [1_764_000_000_000_000, 1_764_000_000_250_000, 1_764_000_003_000_000]
OCCURRED = [(1_763_999_999_000_000, 0x03, None), (1_700_000_000_000_000, 0x0E, -330), (1_800_000_000_000_001, 0x16, None)]
BODIES = [[(1_763_999_998_000_000, 0x03, None)], [], [(-62_135_596_800_000_000, 0x00, None), (1_764_000_000_000_000, 0x0B, 1439)]]


def plain_and_compact(first_seq: int, magic: bytes) -> tuple[bytes, bytes]:
    plain, compacted = [], []
    previous_time = previous_stamp = 0
    for index, time in enumerate(TIMES):
        micros, layout, offset = OCCURRED[index]
        occurred_plain = timestamp(micros, layout, offset)
        occurred_compact = timestamp(micros - previous_stamp, layout, offset)
        previous_stamp = micros
        stamps_plain, stamps_compact = [], []
        for micros, layout, offset in BODIES[index]:
            stamps_plain.append(timestamp(micros, layout, offset))
            stamps_compact.append(timestamp(micros - previous_stamp, layout, offset))
            previous_stamp = micros
        plain.append(record(first_seq + index, time, occurred_plain, body(stamps_plain)))
        compacted.append(
            record(None, time - previous_time, occurred_compact, body(stamps_compact), stamps=bool(stamps_compact)))
        previous_time = time
    plain_magic = b"CLF1" if magic == b"CLF3" else b"CLF2"
    return content(plain_magic, first_seq, plain), content(magic, first_seq, compacted)


class CompactRecordsTests(unittest.TestCase):
    def test_compact_content_expands_to_the_plain_records(self) -> None:
        for magic in (b"CLF3", b"CLF4"):
            plain, compacted = plain_and_compact(1_000_000, magic)
            self.assertLess(len(compacted), len(plain))
            self.assertEqual(compact.expand(compacted), plain)

    def test_plain_content_is_left_as_it_is(self) -> None:
        plain, _ = plain_and_compact(7, b"CLF3")
        self.assertIs(compact.expand(plain), plain)

    def test_damaged_compact_content_is_refused(self) -> None:
        _, compacted = plain_and_compact(0, b"CLF4")
        for cut in range(5, len(compacted) - 1):
            with self.assertRaises(FormatError):
                compact.expand(compacted[:cut])
        with self.assertRaises(FormatError):
            compact.expand(compacted + b"\x00")
        # The first record's version byte, then its occurred flag.
        header_end = 4 + len(encode_varint(0)) + 2 + 1
        for offset, value in ((header_end, 2), (header_end + 1 + len(zigzag(TIMES[0])), 4)):
            damaged = bytearray(compacted)
            damaged[offset] = value
            with self.assertRaises(FormatError):
                compact.expand(bytes(damaged))

    def test_bodies_nested_deeper_than_readers_accept_are_refused(self) -> None:
        def nested(depth: int) -> bytes:
            body = bytes([0x09, 0x01]) * depth + bytes([0x00])
            item = bytes([1, 0, 2]) + bytes(5) + encode_varint(len(body)) + body + bytes([0])
            return b"CLF3" + bytes([7, 1, 0]) + encode_varint(len(item)) + item
        self.assertTrue(compact.expand(nested(72)).startswith(b"CLF1"))
        with self.assertRaises(FormatError):
            compact.expand(nested(73))


if __name__ == "__main__":
    unittest.main()
