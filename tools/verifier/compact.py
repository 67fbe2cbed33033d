"""Compact records (FORMAT.md §2.2).

Frame content starting with ``CLF3`` (or ``CLF4``) stands for ``CLF1`` (or ``CLF2``) content whose records are
stored compact: a record's seq is left out (it is the frame's first seq plus the record's index), its acceptance
time is the difference from the previous record's (0 before the first record), and every timestamp, the
``occurred`` one and each tag-0x08 value of the body in encoding order, is the difference from the previous
timestamp of the frame (0 before the first). Differences are taken modulo 2^64 as signed 64-bit integers. Bit 1
of the occurred flag byte says the body holds timestamps; a body without it is stored as it is.
``expand`` restores the records byte for byte, with shortest varints, so entries and leaves do not depend on it.
"""

from __future__ import annotations

from .encoding import Reader, encode_varint
from .errors import FormatError
from .records import RECORD_VERSION

COMPACT_MAGICS = {b"CLF3": b"CLF1", b"CLF4": b"CLF2"}
# Deepest nesting of body values accepted (the interchange's JSON depth, 64, and some room).
MAXIMUM_DEPTH = 72
# Readers decompress no more than this (FORMAT.md §2); an expansion past it is refused.
MAXIMUM_CONTENT = 2 << 30


def _wrap(value: int) -> int:
    return (value + (1 << 63)) % (1 << 64) - (1 << 63)


def _zigzag(value: int) -> bytes:
    return encode_varint(((value << 1) ^ (value >> 63)) & ((1 << 64) - 1))


class _Expander:
    def __init__(self) -> None:
        self.previous_time = 0
        self.previous_stamp = 0

    def timestamp(self, reader: Reader) -> tuple[int, int, int]:
        """Reads a compact timestamp; returns where its µs start and end and the absolute µs."""
        start = reader.offset
        micros = _wrap(self.previous_stamp + reader.zigzag("timestamp"))
        end = reader.offset
        self.previous_stamp = micros
        at = reader.offset
        layout = reader.byte("timestamp layout")
        if layout >> 5 or layout >> 3 == 3:
            raise FormatError(at, f"timestamp layout byte 0x{layout:02x} is not valid")
        if layout >> 3 == 1:
            reader.varint("timestamp zone offset")
        return start, end, micros

    def value(self, reader: Reader, out: bytearray, copied: int, depth: int) -> int:
        if depth > MAXIMUM_DEPTH:
            raise FormatError(reader.offset, "body value nested too deep")
        at = reader.offset
        tag = reader.byte("value tag")
        if tag in (0x00, 0x01, 0x02):
            pass
        elif tag == 0x03:
            reader.varint("integer")
        elif tag == 0x04:
            reader.take(8, "float")
        elif tag in (0x05, 0x06):
            reader.length_prefixed("string")
        elif tag == 0x07:
            reader.take(32, "digest")
        elif tag == 0x08:
            start, end, micros = self.timestamp(reader)
            out += reader.data[copied:start]
            out += _zigzag(micros)
            copied = end
        elif tag == 0x09:
            for _ in range(reader.varint("array count")):
                copied = self.value(reader, out, copied, depth + 1)
        elif tag == 0x0A:
            for _ in range(reader.varint("object count")):
                reader.length_prefixed("key")
                copied = self.value(reader, out, copied, depth + 1)
        elif tag in (0x0B, 0x0C):
            reader.varint("first varint")
            reader.varint("second varint")
        elif tag == 0x0D:
            for _ in range(reader.varint("field count")):
                reader.varint("field number")
                copied = self.value(reader, out, copied, depth + 1)
        else:
            raise FormatError(at, f"value tag 0x{tag:02x}")
        return copied

    def record(self, data: memoryview, seq: int) -> bytes:
        reader = Reader(data)
        if reader.byte("version") != RECORD_VERSION:
            raise FormatError(0, "record version")
        out = bytearray([RECORD_VERSION]) + encode_varint(seq)
        self.previous_time = _wrap(self.previous_time + reader.zigzag("time"))
        out += _zigzag(self.previous_time)
        at = reader.offset
        flags = reader.byte("occurred flag")
        if flags > 3:
            raise FormatError(at, "occurred flag")
        out.append(flags & 1)
        copied = reader.offset
        if flags & 1:
            _, end, micros = self.timestamp(reader)
            out += _zigzag(micros)
            copied = end
        for what in ("type", "call", "tenant", "source", "idempotency"):
            reader.length_prefixed(what)
        out += data[copied:reader.offset]
        body = reader.length_prefixed("body")
        expanded = bytearray()
        body_copied = 0
        if flags & 2:  # the body holds timestamps, stored as differences
            body_reader = Reader(body)
            body_copied = self.value(body_reader, expanded, 0, 0)
            if not body_reader.at_end:
                raise FormatError(body_reader.offset, "trailing body data")
        expanded += body[body_copied:]
        out += encode_varint(len(expanded)) + expanded
        out += data[reader.offset:]
        return bytes(out)


def expand(content: bytes) -> bytes:
    """``content`` itself unless it starts with ``CLF3`` or ``CLF4``; then the ``CLF1`` or ``CLF2`` content it
    stands for."""
    plain_magic = COMPACT_MAGICS.get(bytes(content[:4]))
    if plain_magic is None:
        return content
    reader = Reader(content, 4)
    first_seq = reader.varint("first_seq")
    count = reader.varint("count")
    reader.varint("input_bytes")
    out = bytearray(plain_magic) + content[4:reader.offset]
    expander = _Expander()
    for index in range(count):
        if first_seq + index >= 1 << 64:
            raise FormatError(reader.offset, "seq past 2^64")
        record = expander.record(reader.length_prefixed("record"), first_seq + index)
        out += encode_varint(len(record)) + record
        if len(out) > MAXIMUM_CONTENT:
            raise FormatError(reader.offset, "expanded frame content is larger than readers accept")
    if not reader.at_end:
        raise FormatError(reader.offset, "trailing data after the records")
    return bytes(out)
