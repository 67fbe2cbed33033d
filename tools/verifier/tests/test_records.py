"""Records, entries and compacted parts built by hand from FORMAT.md §3 and §5, and zstd frame walking."""

from __future__ import annotations

import hashlib
import os
import unittest

import zstandard

from verifier import records, zstdframes
from verifier.encoding import encode_varint
from verifier.errors import FormatError


def string(text: str) -> bytes:
    """A FORMAT.md string: varint byte count, then UTF-8."""
    raw = text.encode()
    return encode_varint(len(raw)) + raw


def zigzag(value: int) -> bytes:
    """A zigzag-encoded signed integer."""
    return encode_varint(((value << 1) ^ (value >> 63)) & ((1 << 64) - 1))


SEALED_CONTENT = os.urandom(12 + 40 + 16)
SEALED_NAME = os.urandom(12 + 9 + 16)
PREFIX = (
    bytes([1]) + encode_varint(300) + zigzag(1_790_000_000_000_000)
    + bytes([1]) + zigzag(1_790_000_000_000_000) + bytes([1 << 3 | 3]) + zigzag(-300)  # occurred, zone -05:00
    + string("transcript.segment") + string("call-1") + string("acme") + string("gladia/v2") + string("key-1")
    + encode_varint(4) + bytes([0x0D, 1, 0, 0x02])  # body: a schema object with field 0 = true
    + encode_varint(2)
)


def sealed(name: str, sealed_bytes: bytes) -> bytes:
    """A part in sealed form (0x01)."""
    return string(name) + bytes([0x01]) + encode_varint(len(sealed_bytes)) + sealed_bytes


def compacted(name: str, digest: bytes) -> bytes:
    """A part in compacted form (0x02): only the digest of the removed sealed bytes."""
    return string(name) + bytes([0x02]) + digest


RECORD = PREFIX + sealed("content", SEALED_CONTENT) + sealed("pii.name", SEALED_NAME)
COMPACTED = PREFIX + sealed("content", SEALED_CONTENT) + compacted("pii.name", hashlib.sha256(SEALED_NAME).digest())


class RecordTests(unittest.TestCase):
    """The entry commits to part digests, so compaction does not change it."""

    def test_entry_is_the_prefix_then_class_and_digest_per_part(self) -> None:
        record = records.parse_record(memoryview(RECORD))
        self.assertEqual((record.seq, record.type, record.call), (300, "transcript.segment", "call-1"))
        expected = (PREFIX + string("content") + hashlib.sha256(SEALED_CONTENT).digest()
                    + string("pii.name") + hashlib.sha256(SEALED_NAME).digest())
        self.assertEqual(record.entry, expected)
        self.assertEqual(record.leaf_hash, hashlib.sha256(b"\x00" + expected).digest())
        self.assertEqual(records.parse_entry(expected).entry, expected)

    def test_compacting_a_part_keeps_the_entry(self) -> None:
        original = records.parse_record(memoryview(RECORD))
        self.assertEqual(records.parse_record(memoryview(COMPACTED)).leaf_hash, original.leaf_hash)
        wrong = COMPACTED[:-32] + hashlib.sha256(SEALED_CONTENT).digest()
        self.assertNotEqual(records.parse_record(memoryview(wrong)).leaf_hash, original.leaf_hash)

    def test_malformed_records_are_located(self) -> None:
        good = RECORD
        with self.assertRaisesRegex(FormatError, "bytes after the last part"):
            records.parse_record(memoryview(good + b"\x00"))
        bad_form = PREFIX + string("content") + bytes([0x07])
        with self.assertRaisesRegex(FormatError, "part form 0x07") as caught:
            records.parse_record(memoryview(bad_form))
        self.assertEqual(caught.exception.offset, len(bad_form) - 1)
        with self.assertRaisesRegex(FormatError, "record version 2"):
            records.parse_record(memoryview(b"\x02" + good[1:]))

    def test_frame_content(self) -> None:
        record = RECORD
        header = b"CLF1" + encode_varint(300) + encode_varint(1) + encode_varint(999)
        content = header + encode_varint(len(record)) + record
        frame = records.parse_frame_content(content)
        self.assertEqual((frame.first_seq, frame.count, frame.input_bytes), (300, 1, 999))
        self.assertEqual(bytes(frame.records[0][1]), record)
        overlong = header + encode_varint(len(record) + 1)
        with self.assertRaisesRegex(FormatError, f"record: {len(record) + 1} bytes announced, {len(record)} left"):
            records.parse_frame_content(overlong + record)


class FrameTests(unittest.TestCase):
    """Frame sizes found by walking block headers, whatever the block types."""

    def test_concatenated_frames_are_found_one_after_another(self) -> None:
        compressor = zstandard.ZstdCompressor(level=5, write_checksum=True, write_content_size=True)
        contents = [b"", b"a" * 300_000, os.urandom(200_000), b"CLF1" + bytes(range(256)) * 2000]
        segment = b"".join(compressor.compress(content) for content in contents)
        view, offset = memoryview(segment), 0
        for content in contents:
            layout = zstdframes.frame_layout(view, offset)
            self.assertEqual(zstdframes.decompress_frame(view[offset:offset + layout.size], layout), content)
            offset += layout.size
        self.assertEqual(offset, len(segment))
        with self.assertRaisesRegex(zstdframes.FrameSizeError, "past the end"):
            zstdframes.frame_layout(view[:-1], offset - len(compressor.compress(contents[-1])))

    def test_a_frame_without_checksum_is_refused(self) -> None:
        frame = zstandard.ZstdCompressor(write_checksum=False, write_content_size=True).compress(b"CLF1")
        layout = zstdframes.frame_layout(memoryview(frame), 0)
        with self.assertRaises(zstandard.ZstdError):
            zstdframes.decompress_frame(memoryview(frame), layout)


if __name__ == "__main__":
    unittest.main()
