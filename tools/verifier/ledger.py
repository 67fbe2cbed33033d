"""Verifying a whole ledger directory (FORMAT.md §11), from its files alone.

1. ``ledger.json`` gives the origin; ``verifier.key`` is the checkpoint signer's key, named after it.
2. Every ``checkpoints/<size>.note`` must carry a valid Ed25519 signature by that key.
3. The segments are read in name order, frame by frame (each frame's content checksum checked); the
   records' seqs run on without gaps and their acceptance times never decrease.
4. Every record's entry and leaf hash are rebuilt and folded into the RFC 6962 tree; every complete
   subtree is compared with ``tree/level-NN.hashes`` where that file holds it.
5. At each checkpoint's size the recomputed root must equal the signed one. Every checkpoint is thus
   checked against the same sequence of leaves, which proves each one consistent with all the others.
"""

from __future__ import annotations

import json
import mmap
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from . import merkle, notes, records, sidecar, zstdframes
from .errors import Fault, FormatError

SEGMENT_NAME = re.compile(r"^(\d{20})\.zst$")
CHECKPOINT_NAME = re.compile(r"^(\d{20})\.note$")
FORMAT_VERSION = 1


@dataclass
class Summary:
    """What a successful verification covered."""

    origin: str
    events: int = 0
    frames: int = 0
    segments: int = 0
    bytes: int = 0
    checkpoints: int = 0
    tree_nodes_compared: int = 0
    root_hash: str = merkle.EMPTY_ROOT.hex()
    checkpoint_sizes: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """The summary as a JSON object."""
        return {"ok": True, **self.__dict__}

    def __str__(self) -> str:
        return (
            f"OK: {self.events} events in {self.frames} frames across {self.segments} segments ({self.bytes} bytes), "
            f"root {self.root_hash}\n{self.checkpoints} checkpoints (signature and root) consistent with the log; "
            f"{self.tree_nodes_compared} stored tree nodes compared"
        )


class _TreeMismatch(Exception):
    """A recomputed subtree hash that differs from the one stored in ``tree/``."""

    def __init__(self, level: int, index: int) -> None:
        super().__init__(level, index)
        self.level = level
        self.index = index


def _read(path: Path) -> bytes | mmap.mmap:
    """A file's bytes, memory-mapped when it is not empty."""
    with path.open("rb") as handle:
        if path.stat().st_size == 0:
            return b""
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


class LedgerVerifier:
    """Verifies one ledger directory; ``progress`` receives a line now and then on long runs."""

    def __init__(self, directory: Path, progress: Callable[[str], None] = lambda line: None,
                 on_record: Callable[[records.Record], None] | None = None) -> None:
        self.directory = directory
        self.progress = progress
        self.on_record = on_record
        self.levels: list[bytes | mmap.mmap] = []
        self.nodes_compared = 0

    def run(self) -> Summary:
        """Checks everything; raises ``Fault`` at the first problem."""
        origin = self._origin()
        key = self._verifier_key(origin)
        checkpoints = self._checkpoints(key)
        summary = Summary(origin=origin, checkpoint_sizes=[size for size, _, _ in checkpoints])
        self._open_tree()
        tree = merkle.RunningTree(self._compare_subtree)
        pending = list(checkpoints)
        self._check_checkpoints(tree, pending, summary)
        last_time: int | None = None
        last_report = time.monotonic()
        segments = self._segment_names()
        for number, (name, first_seq) in enumerate(segments, start=1):
            file = f"segments/{name}"
            data = _read(self.directory / "segments" / name)
            summary.segments += 1
            summary.bytes += len(data)
            if data and first_seq != tree.size:
                raise Fault(file, f"segment is named for seq {first_seq} but the log continues at seq {tree.size}",
                            offset=0, seq=tree.size)
            view = memoryview(data)
            offset = 0
            while offset < len(data):
                frame_seq = tree.size
                try:
                    layout = zstdframes.frame_layout(view, offset)
                except zstdframes.FrameSizeError as error:
                    raise Fault(file, f"no complete zstd frame starts here: {error}", offset=offset,
                                seq=frame_seq) from None
                try:
                    content = zstdframes.decompress_frame(view[offset:offset + layout.size], layout)
                    content = sidecar.join(content, view[offset:offset + layout.stored_size], layout.size)
                    frame = records.parse_frame_content(content)
                except zstandard.ZstdError as error:
                    raise Fault(file, f"zstd frame does not decode: {error}", offset=offset, seq=frame_seq) from None
                except sidecar.SideCarError as error:
                    raise Fault(file, f"sealed side-car: {error}", offset=offset, seq=frame_seq) from None
                except FormatError as error:
                    raise Fault(file, f"frame content byte {error.offset}: {error.message}", offset=offset,
                                seq=frame_seq) from None
                if frame.first_seq != frame_seq:
                    raise Fault(file, f"frame starts at seq {frame.first_seq}, expected {frame_seq}", offset=offset,
                                seq=frame_seq)
                for record_offset, record_bytes in frame.records:
                    seq = tree.size
                    try:
                        record = records.parse_record(record_bytes)
                    except FormatError as error:
                        raise Fault(file, f"record at frame content byte {record_offset}: byte {error.offset} of the "
                                    f"record: {error.message}", offset=offset, seq=seq) from None
                    if record.seq != seq:
                        raise Fault(file, f"record holds seq {record.seq}, expected {seq}", offset=offset, seq=seq)
                    if last_time is not None and record.time < last_time:
                        raise Fault(file, f"acceptance time {record.time} µs is before the previous event's "
                                    f"{last_time} µs", offset=offset, seq=seq)
                    last_time = record.time
                    try:
                        tree.append(record.leaf_hash)
                    except _TreeMismatch as mismatch:
                        raise Fault(file, self._mismatch_reason(mismatch), offset=offset, seq=seq) from None
                    if self.on_record is not None:
                        self.on_record(record)
                    self._check_checkpoints(tree, pending, summary)
                summary.frames += 1
                offset += layout.stored_size
                if time.monotonic() - last_report >= 1:
                    last_report = time.monotonic()
                    self.progress(
                        f"verify: {tree.size} events, {summary.frames} frames, segment {number}/{len(segments)}")
        if pending:
            size, file, _ = pending[0]
            raise Fault(file, f"checkpoint of size {size} is beyond the log's {tree.size} events: the log was cut back")
        stored_leaves = len(self.levels[0]) // 32 if self.levels else 0
        if stored_leaves > tree.size:
            raise Fault("tree/level-00.hashes", f"holds {stored_leaves} leaf hashes but the segments hold {tree.size} "
                        "events: events were removed from the end of the log", offset=tree.size * 32, seq=tree.size)
        summary.events = tree.size
        summary.root_hash = tree.root().hex()
        summary.tree_nodes_compared = self.nodes_compared
        return summary

    def _origin(self) -> str:
        """The origin from ``ledger.json`` (and its format version)."""
        try:
            settings = json.loads((self.directory / "ledger.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise Fault("ledger.json", f"cannot be read as JSON: {error}") from None
        if settings.get("format") != FORMAT_VERSION:
            raise Fault("ledger.json", f"format is {settings.get('format')!r}, this verifier reads {FORMAT_VERSION}")
        origin = settings.get("origin")
        if not isinstance(origin, str) or not origin:
            raise Fault("ledger.json", "has no origin")
        return origin

    def _verifier_key(self, origin: str) -> notes.VerifierKey:
        """The checkpoint signer's key, whose name must be the origin."""
        try:
            key = notes.VerifierKey.parse((self.directory / "verifier.key").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, notes.NoteError) as error:
            raise Fault("verifier.key", str(error)) from None
        if key.name != origin:
            raise Fault("verifier.key", f"key name {key.name!r} is not the origin {origin!r} of ledger.json")
        return key

    def _checkpoints(self, key: notes.VerifierKey) -> list[tuple[int, str, bytes]]:
        """(size, file, root) of every checkpoint note, signature checked, in size order."""
        found = []
        directory = self.directory / "checkpoints"
        for path in sorted(directory.iterdir()) if directory.is_dir() else []:
            if not path.name.endswith(".note"):
                continue
            file = f"checkpoints/{path.name}"
            try:
                checkpoint = notes.Checkpoint.open(path.read_text(encoding="utf-8"), key)
            except (UnicodeDecodeError, notes.NoteError) as error:
                raise Fault(file, f"signature check failed: {error}") from None
            match = CHECKPOINT_NAME.match(path.name)
            if match is None or int(match.group(1)) != checkpoint.size:
                raise Fault(file, f"the note is for tree size {checkpoint.size}; its name should be "
                            f"{checkpoint.size:020d}.note")
            found.append((checkpoint.size, file, checkpoint.root))
        return sorted(found)

    def _segment_names(self) -> list[tuple[str, int]]:
        """(name, first seq) of every segment file, in name order."""
        directory = self.directory / "segments"
        if not directory.is_dir():
            raise Fault("segments", "is missing")
        names = []
        for path in sorted(directory.iterdir()):
            match = SEGMENT_NAME.match(path.name)
            if match:
                names.append((path.name, int(match.group(1))))
        return names

    def _open_tree(self) -> None:
        """Maps ``tree/level-00.hashes``, ``level-01``, … as far as they exist."""
        while True:
            path = self.directory / "tree" / f"level-{len(self.levels):02d}.hashes"
            if not path.exists():
                return
            self.levels.append(_read(path))

    def _compare_subtree(self, level: int, index: int, digest: bytes) -> None:
        """Compares a recomputed complete subtree with the stored one, when the level file holds it."""
        if level >= len(self.levels) or (index + 1) * 32 > len(self.levels[level]):
            return
        self.nodes_compared += 1
        if self.levels[level][index * 32:(index + 1) * 32] != digest:
            raise _TreeMismatch(level, index)

    @staticmethod
    def _mismatch_reason(mismatch: _TreeMismatch) -> str:
        """What a stored tree node that differs from the log means."""
        where = f"tree/level-{mismatch.level:02d}.hashes at byte offset {mismatch.index * 32}"
        if mismatch.level == 0:
            return (f"leaf hash of seq {mismatch.index} differs from {where}: the record or the stored tree was "
                    "altered")
        return f"tree node (level {mismatch.level}, index {mismatch.index}) in {where} differs from the recomputed one"

    @staticmethod
    def _check_checkpoints(tree: merkle.RunningTree, pending: list[tuple[int, str, bytes]], summary: Summary) -> None:
        """Compares the checkpoints signed at the tree's current size with its root."""
        while pending and pending[0][0] == tree.size:
            size, file, root = pending.pop(0)
            computed = tree.root()
            if computed != root:
                raise Fault(file, f"signed root {root.hex()} for size {size} differs from the root {computed.hex()} "
                            f"recomputed from the log: an event below seq {size} is not what was signed")
            summary.checkpoints += 1
