"""Frame contents, records and entries (FORMAT.md §2, §3 and §5).

A record is stored in a frame; its *entry* is what the Merkle tree commits to: the record's bytes up to
and including its part count, then for each sealed part its class and the SHA-256 digest of its sealed
bytes. A compacted part keeps only that digest, so compaction leaves the entry, the leaf hash and every
tree root unchanged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .encoding import Reader, encode_varint
from .errors import FormatError

FRAME_MAGIC = b"CLF1"
RECORD_VERSION = 1
# Records hold at most 64 parts; readers accept more for records stored before writers checked that.
MAXIMUM_PARTS = 65536
PART_SEALED = 0x01
PART_COMPACTED = 0x02
DIGEST_SIZE = 32


@dataclass
class Part:
    """One sealed part: its data class, its form, and the sealed bytes or (compacted) their digest."""

    data_class: str
    form: int
    payload: bytes

    @property
    def digest(self) -> bytes:
        """What the entry commits to: SHA-256 of ``nonce || ciphertext || tag``, or the stored digest."""
        return hashlib.sha256(self.payload).digest() if self.form == PART_SEALED else self.payload


@dataclass
class Envelope:
    """The members of a record's envelope and its body, as ``call-ledger cat`` shows them (FORMAT.md §3)."""

    tenant: str
    source: str
    idempotency: str
    occurred: tuple[int, int, int] | None
    """``(µs since the epoch, layout byte, zone offset minutes)`` of the occurred timestamp, if any."""
    envelope: memoryview
    """The bytes from ``version`` through ``idempotency``: the sealed parts' associated data prefix."""
    body: memoryview
    """The encoded meta body (FORMAT.md §4)."""


@dataclass
class Record:
    """A parsed record (or entry). ``prefix`` is its bytes from ``version`` through ``part count``."""

    seq: int
    time: int
    type: str
    call: str
    prefix: bytes
    parts: list[Part]
    envelope: Envelope

    @property
    def entry(self) -> bytes:
        """The entry (FORMAT.md §5): the prefix, then per part ``string class`` and its 32-byte digest."""
        out = bytearray(self.prefix)
        for part in self.parts:
            name = part.data_class.encode()
            out += encode_varint(len(name)) + name + part.digest
        return bytes(out)

    @property
    def leaf_hash(self) -> bytes:
        """The RFC 6962 leaf hash ``SHA-256(0x00 || entry)``."""
        return hashlib.sha256(b"\x00" + self.entry).digest()


def read_timestamp(reader: Reader, what: str) -> tuple[int, int, int]:
    """Reads a timestamp (FORMAT.md §4 tag 0x08, without the tag), checking its layout byte; returns µs since
    the epoch, the layout byte and the zone offset in minutes (0 unless the zone is numeric)."""
    micros = reader.zigzag(f"{what} time")
    at = reader.offset
    layout = reader.byte(f"{what} layout")
    zone = layout >> 3
    if layout & 7 > 6 or zone > 2:
        raise FormatError(at, f"{what} layout byte 0x{layout:02x} is not valid")
    offset = 0
    if zone == 1:
        at = reader.offset
        offset = reader.zigzag(f"{what} zone offset")
        if abs(offset) >= 24 * 60:
            raise FormatError(at, f"{what} zone offset {offset} minutes is not below a day")
    return micros, layout, offset


def _read_prefix(reader: Reader) -> tuple[int, int, str, str, int, Envelope]:
    """Reads a record's bytes from ``version`` through ``part count``; returns seq, time, type, call, count
    and the envelope."""
    at = reader.offset
    version = reader.byte("version")
    if version != RECORD_VERSION:
        raise FormatError(at, f"record version {version}, expected {RECORD_VERSION}")
    seq = reader.varint("seq")
    time = reader.zigzag("time")
    at = reader.offset
    flag = reader.byte("occurred flag")
    occurred = None
    if flag == 1:
        occurred = read_timestamp(reader, "occurred")
    elif flag != 0:
        raise FormatError(at, f"occurred flag {flag}, expected 0 or 1")
    event_type = reader.string("type")
    call = reader.string("call")
    tenant, source, idempotency = (reader.string(what) for what in ("tenant", "source", "idempotency"))
    envelope = reader.data[:reader.offset]
    body = reader.length_prefixed("body")
    at = reader.offset
    count = reader.varint("part count")
    if count > MAXIMUM_PARTS:
        raise FormatError(at, f"part count {count} is above {MAXIMUM_PARTS}")
    return seq, time, event_type, call, count, Envelope(tenant, source, idempotency, occurred, envelope, body)


def parse_record(data: memoryview) -> Record:
    """Parses one stored record (FORMAT.md §3); every byte of ``data`` must belong to it."""
    reader = Reader(data)
    seq, time, event_type, call, count, envelope = _read_prefix(reader)
    prefix = bytes(data[:reader.offset])
    parts = []
    for _ in range(count):
        data_class = reader.string("part class")
        at = reader.offset
        form = reader.byte("part form")
        if form == PART_SEALED:
            payload = bytes(reader.length_prefixed("sealed bytes"))
        elif form == PART_COMPACTED:
            payload = bytes(reader.take(DIGEST_SIZE, "compacted digest"))
        else:
            raise FormatError(at, f"part form 0x{form:02x}, expected 0x01 (sealed) or 0x02 (compacted)")
        parts.append(Part(data_class, form, payload))
    if not reader.at_end:
        raise FormatError(reader.offset, "bytes after the last part of the record")
    return Record(seq, time, event_type, call, prefix, parts, envelope)


def parse_entry(data: bytes) -> Record:
    """Parses an entry (FORMAT.md §5), as an inclusion proof carries it; parts come back compacted."""
    reader = Reader(data)
    seq, time, event_type, call, count, envelope = _read_prefix(reader)
    prefix = bytes(data[:reader.offset])
    parts = []
    for _ in range(count):
        data_class = reader.string("part class")
        parts.append(Part(data_class, PART_COMPACTED, bytes(reader.take(DIGEST_SIZE, "part digest"))))
    if not reader.at_end:
        raise FormatError(reader.offset, "bytes after the last part digest of the entry")
    return Record(seq, time, event_type, call, prefix, parts, envelope)


@dataclass
class FrameContent:
    """The decompressed content of one frame: its header and each record's offset and bytes."""

    first_seq: int
    count: int
    input_bytes: int
    records: list[tuple[int, memoryview]]


def parse_frame_content(content: bytes) -> FrameContent:
    """Parses ``"CLF1"``, ``first_seq``, ``count``, ``input_bytes`` and the length-prefixed records."""
    if content[:4] != FRAME_MAGIC:
        raise FormatError(0, f"frame magic {content[:4]!r}, expected {FRAME_MAGIC!r}")
    reader = Reader(content, 4)
    first_seq = reader.varint("first_seq")
    count = reader.varint("count")
    input_bytes = reader.varint("input_bytes")
    records = []
    for _ in range(count):
        length = reader.varint("record length")
        at = reader.offset
        records.append((at, reader.take(length, "record")))
    if not reader.at_end:
        raise FormatError(reader.offset, "bytes after the last record of the frame")
    return FrameContent(first_seq, count, input_bytes, records)
