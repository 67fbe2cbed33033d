"""The one error the verifier reports: where the first fault is and what differs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Fault(Exception):
    """The first fault found, with enough location to find it by hand.

    ``file`` is relative to the ledger directory (``segments/…``, ``checkpoints/…``, ``tree/…``) or the
    proof file's path; ``offset`` a byte offset in that file (for segments, the offset of the zstd frame
    that holds the fault); ``seq`` the first affected event; ``member`` the JSON member of a proof.
    """

    file: str
    reason: str
    offset: int | None = None
    seq: int | None = None
    member: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.offset is not None:
            where += f" at byte offset {self.offset}"
        if self.seq is not None:
            where += f" (first affected seq {self.seq})"
        if self.member is not None:
            where += f", member {self.member}"
        return f"{where}: {self.reason}"

    def to_json(self) -> dict[str, object]:
        """The fault as a JSON object (``None`` members left out)."""
        result: dict[str, object] = {"file": self.file, "reason": self.reason}
        for name in ("offset", "seq", "member"):
            value = getattr(self, name)
            if value is not None:
                result[name] = value
        return result


class FormatError(Exception):
    """Bytes that do not follow FORMAT.md, at ``offset`` within the buffer being parsed."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(f"at byte {offset}: {message}")
        self.offset = offset
        self.message = message
