"""FORMAT.md §4 values, and events rendered from them as ``call-ledger cat`` prints them.

A body is one value; its schema objects (tag 0x0D) name members by field number, and the names come from the
tables of FORMAT.md §10 (``SCHEMAS``, keyed by event type and member path: ``body``, ``body.queue``,
``body.words[]`` for the objects of an array). A sealed reference (tag 0x0B) renders as the item it names when
its part is opened, else as ``{"redacted": class, "digest": hex}``.
"""

from __future__ import annotations

import base64
import datetime
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from .encoding import Reader, encode_varint
from .errors import FormatError
from .records import Record, read_timestamp
from .schemas import SCHEMAS

EPOCH = datetime.datetime(1970, 1, 1)


def format_timestamp(micros: int, layout: int, offset: int) -> str:
    """The RFC 3339 text of a timestamp (FORMAT.md §4 tag 0x08): as many fraction digits as the layout says,
    and its zone as written."""
    digits, zone = layout & 7, layout >> 3
    local = micros + (offset if zone == 1 else 0) * 60_000_000
    moment = EPOCH + datetime.timedelta(microseconds=local)
    text = (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}")
    if digits:
        text += "." + f"{moment.microsecond:06d}"[:digits]
    if zone == 0:
        return text + "Z"
    if zone == 2:
        return text + "-00:00"
    return text + ("-" if offset < 0 else "+") + f"{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"


@dataclass
class PartView:
    """What a renderer knows of one sealed part: its class and digest, and its items when it is opened."""

    data_class: str
    digest: bytes
    items: list[memoryview] | None


def split_items(items: bytes) -> list[memoryview]:
    """The values a part's items hold, each as its encoded bytes."""
    reader = Reader(items)
    result = []
    while not reader.at_end:
        start = reader.offset
        _skip(reader)
        result.append(reader.data[start:reader.offset])
    return result


def _skip(reader: Reader) -> None:
    """Reads past one value."""
    _decode(reader, "", None, None, None)


def _decode(reader: Reader, path: str, names: dict[str, tuple[str, ...]] | None, parts: Sequence[PartView] | None,
            event_type: str | None) -> object:
    """Decodes one value at member ``path``; ``names`` is the type's §10 table (None: no schema, members are
    named ``#<number>``); ``parts`` resolves sealed references (None: a reference is an error)."""
    at = reader.offset
    tag = reader.byte("value tag")
    if tag == 0x00:
        return None
    if tag in (0x01, 0x02):
        return tag == 0x02
    if tag == 0x03:
        return reader.zigzag("integer")
    if tag == 0x04:
        return struct.unpack("<d", bytes(reader.take(8, "float")))[0]
    if tag == 0x05:
        return reader.string("string")
    if tag == 0x06:
        return base64.b64encode(bytes(reader.length_prefixed("bytes"))).decode()
    if tag == 0x07:
        return bytes(reader.take(32, "digest")).hex()
    if tag == 0x08:
        return format_timestamp(*read_timestamp(reader, "timestamp"))
    if tag == 0x09:
        return [_decode(reader, path + "[]", names, parts, event_type) for _ in range(reader.varint("array count"))]
    if tag == 0x0A:
        result = {}
        for _ in range(reader.varint("object count")):
            key = reader.string("object key")
            result[key] = _decode(reader, path + "." + key, names, parts, event_type)
        return result
    if tag == 0x0B:
        part_index, item_index = reader.varint("part index"), reader.varint("item index")
        if parts is None or part_index >= len(parts):
            raise FormatError(at, f"sealed reference to part {part_index}, which {'is not there' if parts else 'an item may not hold'}")
        part = parts[part_index]
        if part.items is None:
            return {"redacted": part.data_class, "digest": part.digest.hex()}
        if item_index >= len(part.items):
            raise FormatError(at, f"sealed reference to item {item_index} of a {part.data_class} part of "
                              f"{len(part.items)} items")
        return _decode(Reader(part.items[item_index]), path, names, None, event_type)
    if tag == 0x0C:
        mantissa, scale = reader.zigzag("decimal mantissa"), reader.varint("decimal scale")
        if scale > 18:
            raise FormatError(at, f"decimal scale {scale} is above 18")
        return mantissa / 10 ** scale
    if tag == 0x0D:
        table = names.get(path) if names is not None else None
        if names is not None and table is None:
            raise FormatError(at, f"a schema object at {path}, where the {event_type} schema has none")
        result = {}
        for _ in range(reader.varint("field count")):
            field_at = reader.offset
            number = reader.varint("field number")
            if table is None:
                name = f"#{number}"
            elif number < len(table):
                name = table[number]
            else:
                raise FormatError(field_at, f"field number {number} at {path}, where the {event_type} schema has "
                                  f"{len(table)} fields")
            result[name] = _decode(reader, f"{path}.{name}", names, parts, event_type)
        return result
    raise FormatError(at, f"value tag 0x{tag:02x} is not one of FORMAT.md §4")


def decode_body(record: Record, parts: Sequence[PartView]) -> object:
    """The record's body as JSON values, sealed references resolved through ``parts``."""
    reader = Reader(record.envelope.body)
    value = _decode(reader, "body", SCHEMAS.get(record.type), parts, record.type)
    if not reader.at_end:
        raise FormatError(reader.offset, "bytes after the body value")
    return value


def render_event(record: Record, parts: Sequence[PartView], states: Sequence[str]) -> dict[str, object]:
    """The event as ``call-ledger cat`` renders it, with ``states[i]`` the state shown for part ``i``."""
    envelope = record.envelope
    event: dict[str, object] = {"seq": record.seq, "time": format_timestamp(record.time, 6, 0), "type": record.type}
    if record.call:
        event["call"] = record.call
    event.update(tenant=envelope.tenant, source=envelope.source, idempotency=envelope.idempotency)
    if envelope.occurred is not None:
        event["occurred"] = format_timestamp(*envelope.occurred)
    event["body"] = decode_body(record, parts)
    if parts:
        event["sealed"] = [{"class": part.data_class, "digest": part.digest.hex(), "state": state}
                           for part, state in zip(parts, states)]
    return event


def associated_data(record: Record, data_class: str) -> bytes:
    """What authenticates a sealed part (FORMAT.md §3): the envelope, then ``string(class)``."""
    name = data_class.encode()
    return bytes(record.envelope.envelope) + encode_varint(len(name)) + name


def same(left: object, right: object) -> bool:
    """JSON equality that tells ``true`` from ``1`` (Python's ``==`` does not) and numbers by value."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right))
    return type(left) is type(right) and left == right


def first_difference(shown: object, expected: object, path: str = "") -> str:
    """The path of the first member where ``shown`` differs from ``expected`` ("" for the whole value)."""
    if isinstance(shown, dict) and isinstance(expected, dict):
        for key in list(expected) + [key for key in shown if key not in expected]:
            if key not in shown or key not in expected or not same(shown[key], expected[key]):
                if key in shown and key in expected:
                    return first_difference(shown[key], expected[key], f"{path}.{key}" if path else key)
                return f"{path}.{key}" if path else key
    if isinstance(shown, list) and isinstance(expected, list) and len(shown) == len(expected):
        for index, (a, b) in enumerate(zip(shown, expected)):
            if not same(a, b):
                return first_difference(a, b, f"{path}[{index}]")
    return path
