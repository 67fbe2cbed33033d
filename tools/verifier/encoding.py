"""FORMAT.md conventions: unsigned LEB128 varints, zigzag integers and length-prefixed byte strings."""

from __future__ import annotations

from .errors import FormatError


class Reader:
    """Reads FORMAT.md's primitive values from a buffer, tracking the offset for error messages."""

    def __init__(self, data: bytes | memoryview, offset: int = 0) -> None:
        self.data = memoryview(data)
        self.offset = offset

    @property
    def at_end(self) -> bool:
        """Whether every byte was read."""
        return self.offset >= len(self.data)

    def byte(self, what: str) -> int:
        """One byte."""
        if self.offset >= len(self.data):
            raise FormatError(self.offset, f"{what}: truncated")
        value = self.data[self.offset]
        self.offset += 1
        return value

    def varint(self, what: str) -> int:
        """An unsigned LEB128 varint of at most 10 bytes whose value fits in 64 bits."""
        start = self.offset
        result = 0
        for shift in range(0, 70, 7):
            byte = self.byte(what)
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                if result >= 1 << 64:
                    break
                return result
        raise FormatError(start, f"{what}: varint longer than 64 bits")

    def zigzag(self, what: str) -> int:
        """A zigzag-encoded signed 64-bit integer: ``(v << 1) ^ (v >> 63)`` stored as a varint."""
        raw = self.varint(what)
        return (raw >> 1) ^ -(raw & 1)

    def take(self, count: int, what: str) -> memoryview:
        """The next ``count`` bytes."""
        if count > len(self.data) - self.offset:
            raise FormatError(self.offset, f"{what}: {count} bytes announced, {len(self.data) - self.offset} left")
        start = self.offset
        self.offset += count
        return self.data[start:self.offset]

    def length_prefixed(self, what: str) -> memoryview:
        """A varint byte count followed by that many bytes."""
        return self.take(self.varint(what), what)

    def string(self, what: str) -> str:
        """A length-prefixed UTF-8 string."""
        start = self.offset
        raw = self.length_prefixed(what)
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError as error:
            raise FormatError(start, f"{what}: not UTF-8 ({error.reason})") from None


def encode_varint(value: int) -> bytes:
    """The varint encoding of a non-negative integer."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
