"""Verifying one proof as ``call-ledger prove inclusion --json`` or ``prove consistency --json`` prints it.

Both kinds carry ``checkpoint``: the signed note the proof is anchored to (``note``, ``tree_size``,
``root_hash``, ``verifier_key``). The note's signature is checked with the verifier key (the one in the
proof, or the one the auditor pins with ``--key``), and its size and root must be the ones listed.

An inclusion proof carries the event's ``entry`` (base64), its ``leaf_hash``, the audit path
``inclusion_proof`` for ``seq`` in the tree of ``tree_size`` leaves with root ``root_hash`` and, when that
size is not the checkpoint's, ``consistency_proof`` from it to the checkpoint. A consistency proof carries
``from``, ``to``, their roots ``from_root_hash`` and ``to_root_hash``, the RFC 6962 ``proof`` between them
and, when ``to`` is not the checkpoint's size, ``checkpoint_consistency_proof`` from ``to`` to it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from . import merkle, notes, records
from .errors import Fault, FormatError


@dataclass
class ProofSummary:
    """What a verified proof shows."""

    kind: str
    statement: str
    checkpoint_size: int
    checkpoint_root: str
    verifier_key: str

    def to_json(self) -> dict[str, object]:
        """The summary as a JSON object."""
        return {"ok": True, **self.__dict__}

    def __str__(self) -> str:
        return (f"OK: {self.statement}; anchored to the checkpoint of size {self.checkpoint_size}, root "
                f"{self.checkpoint_root}, signed by {self.verifier_key}")


class ProofVerifier:
    """Verifies one parsed proof document; faults name ``file`` and the JSON member at fault."""

    def __init__(self, file: str, document: object, pinned_key: str | None, prefix: str = "") -> None:
        self.file = file
        self.document = document
        self.pinned_key = pinned_key
        self.prefix = prefix

    def fault(self, member: str, reason: str, seq: int | None = None) -> Fault:
        """A fault at ``member`` of the proof (under ``prefix`` when the proof is part of a larger document)."""
        return Fault(self.file, reason, seq=seq, member=self.prefix + member)

    def member(self, container: object, name: str, kind: type, path: str = "") -> object:
        """A required member of a JSON object, of the given Python type."""
        where = f"{path}.{name}" if path else name
        if not isinstance(container, dict) or name not in container:
            raise self.fault(where, "is missing")
        value = container[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)) or (kind is int and value < 0):
            raise self.fault(where, f"is not a {'non-negative integer' if kind is int else kind.__name__}")
        return value

    def digest(self, text: object, member: str) -> bytes:
        """A 32-byte hash given as 64 lowercase hex digits."""
        if not isinstance(text, str) or len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
            raise self.fault(member, f"{text!r} is not 64 lowercase hex digits")
        return bytes.fromhex(text)

    def digests(self, container: object, name: str, path: str = "") -> list[bytes]:
        """A list of hex hashes."""
        where = f"{path}.{name}" if path else name
        values = self.member(container, name, list, path)
        return [self.digest(value, f"{where}[{index}]") for index, value in enumerate(values)]

    def run(self) -> ProofSummary:
        """Checks the proof; raises ``Fault`` at the first problem."""
        size, root, key = self.checkpoint()
        if isinstance(self.document, dict) and "entry" in self.document:
            kind, statement = "inclusion", self.inclusion(size, root)
        elif isinstance(self.document, dict) and "from" in self.document:
            kind, statement = "consistency", self.consistency(size, root)
        else:
            raise self.fault("", "is neither an inclusion proof (with entry) nor a consistency proof (with from)")
        return ProofSummary(kind, statement, size, root.hex(), f"{key.name}+{key.key_id.hex()}")

    def checkpoint(self, container: object = None, where: str = "checkpoint") -> tuple[int, bytes, notes.VerifierKey]:
        """Verifies the anchoring checkpoint (member ``checkpoint`` of the document, or ``container`` found at
        ``where``); returns its size, root and the key that signed it."""
        anchor = self.member(self.document, "checkpoint", dict) if container is None else container
        if not isinstance(anchor, dict):
            raise self.fault(where, "is not an object")
        listed_key = self.member(anchor, "verifier_key", str, where)
        try:
            key = notes.VerifierKey.parse(self.pinned_key or listed_key)
        except notes.NoteError as error:
            raise self.fault(f"{where}.verifier_key" if self.pinned_key is None else "--key", str(error)) from None
        note = self.member(anchor, "note", str, where)
        try:
            checkpoint = notes.Checkpoint.open(note, key)
        except notes.NoteError as error:
            raise self.fault(f"{where}.note", f"signature check failed: {error}") from None
        size = self.member(anchor, "tree_size", int, where)
        root = self.digest(self.member(anchor, "root_hash", str, where), f"{where}.root_hash")
        if (size, root) != (checkpoint.size, checkpoint.root):
            raise self.fault(where, f"tree size {size} and root {root.hex()} are not the signed "
                             f"{checkpoint.size} and {checkpoint.root.hex()}")
        return size, root, key

    def anchor(self, size: int, root: bytes, checkpoint_size: int, checkpoint_root: bytes, member: str) -> None:
        """Checks that the tree of ``size`` leaves with ``root`` is (a prefix of) the checkpoint's tree."""
        if size == checkpoint_size:
            if root != checkpoint_root:
                raise self.fault(member, f"root {root.hex()} is not the checkpoint's root {checkpoint_root.hex()}")
            if member in self.document:
                raise self.fault(member, "is present although the tree size is the checkpoint's")
            return
        proof = self.digests(self.document, member)
        try:
            merkle.verify_consistency(size, checkpoint_size, root, checkpoint_root, proof)
        except merkle.ProofError as error:
            raise self.fault(member, f"does not prove size {size} consistent with the checkpoint: {error}") from None

    def included(self, container: dict, entry: bytes, where: str, seq: int, size: int, root: bytes,
                 tree: str) -> bytes:
        """Checks that ``container``'s ``leaf_hash`` is that of ``entry`` and that its ``inclusion_proof`` leads
        from it, as leaf ``seq``, to ``root`` of the tree of ``size`` leaves (``tree`` names that tree); returns
        the leaf hash."""
        leaf = self.digest(self.member(container, "leaf_hash", str, where), f"{where}.leaf_hash")
        if merkle.leaf_hash(entry) != leaf:
            raise self.fault(f"{where}.leaf_hash", f"is not SHA-256(0x00 || entry) = "
                             f"{merkle.leaf_hash(entry).hex()}", seq)
        try:
            merkle.verify_inclusion(seq, size, leaf, self.digests(container, "inclusion_proof", where), root)
        except merkle.ProofError as error:
            raise self.fault(f"{where}.inclusion_proof", f"does not prove seq {seq} in {tree}: {error}",
                             seq) from None
        return leaf

    def inclusion(self, checkpoint_size: int, checkpoint_root: bytes) -> str:
        """Checks an inclusion proof; returns what it shows."""
        seq = self.member(self.document, "seq", int)
        size = self.member(self.document, "tree_size", int)
        try:
            entry = base64.b64decode(self.member(self.document, "entry", str), validate=True)
        except binascii.Error as error:
            raise self.fault("entry", f"is not base64: {error}") from None
        try:
            record = records.parse_entry(entry)
        except FormatError as error:
            raise self.fault("entry", f"is not an entry (FORMAT.md §5): {error}") from None
        if record.seq != seq:
            raise self.fault("entry", f"holds seq {record.seq}, not {seq}")
        leaf = self.digest(self.member(self.document, "leaf_hash", str), "leaf_hash")
        if merkle.leaf_hash(entry) != leaf:
            raise self.fault("leaf_hash", f"is not SHA-256(0x00 || entry) = {merkle.leaf_hash(entry).hex()}")
        root = self.digest(self.member(self.document, "root_hash", str), "root_hash")
        try:
            merkle.verify_inclusion(seq, size, leaf, self.digests(self.document, "inclusion_proof"), root)
        except merkle.ProofError as error:
            raise self.fault("inclusion_proof", str(error)) from None
        self.anchor(size, root, checkpoint_size, checkpoint_root, "consistency_proof")
        parts = "".join(f", part {part.data_class} {part.digest.hex()}" for part in record.parts)
        call = f", call {record.call}" if record.call else ""
        return f"event {seq} ({record.type}{call}{parts}) is in the tree of size {size}"

    def consistency(self, checkpoint_size: int, checkpoint_root: bytes) -> str:
        """Checks a consistency proof; returns what it shows."""
        first = self.member(self.document, "from", int)
        second = self.member(self.document, "to", int)
        first_root = self.digest(self.member(self.document, "from_root_hash", str), "from_root_hash")
        second_root = self.digest(self.member(self.document, "to_root_hash", str), "to_root_hash")
        try:
            merkle.verify_consistency(first, second, first_root, second_root, self.digests(self.document, "proof"))
        except merkle.ProofError as error:
            raise self.fault("proof", str(error)) from None
        self.anchor(second, second_root, checkpoint_size, checkpoint_root, "checkpoint_consistency_proof")
        return (f"the tree of size {second} (root {second_root.hex()}) extends the tree of size {first} "
                f"(root {first_root.hex()})")
