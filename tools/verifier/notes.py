"""C2SP signed notes, Ed25519 verifier keys and tlog checkpoints (FORMAT.md §7).

A verifier key is ``<name>+<8 hex digit key id>+<base64(0x01 || public key)>``; the key id is the first
four bytes of ``SHA-256(name || 0x0A || 0x01 || public key)``. A signed note is its text (ending in a
newline), a blank line, and lines ``— <name> <base64(key id || signature)>``; the Ed25519 signature is
over the text bytes. A checkpoint is a note whose text is ``<origin>\\n<tree size>\\n<base64 root>\\n``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ED25519 = 0x01
SIGNATURE_DASH = "\u2014 "


class NoteError(Exception):
    """A malformed key or note, or a signature that does not verify."""


def b64decode(text: str, what: str) -> bytes:
    """Strict RFC 4648 §4 base64 (with padding)."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError(f"{what} is not base64: {text!r}") from None


def key_id(name: str, public_key: bytes) -> bytes:
    """The C2SP signed-note key id of an Ed25519 key."""
    return hashlib.sha256(name.encode() + b"\x0a" + bytes([ED25519]) + public_key).digest()[:4]


@dataclass
class VerifierKey:
    """A C2SP signed-note Ed25519 verifier key."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Parses ``name+hexid+base64key``, checking the algorithm byte and the key id."""
        fields = text.strip().split("+", 2)
        if len(fields) != 3:
            raise NoteError(f"verifier key {text.strip()!r} is not name+keyid+key")
        name, hex_id, encoded = fields
        if not name or any(c.isspace() for c in name):
            raise NoteError(f"verifier key name {name!r} is empty or holds a space")
        if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
            raise NoteError(f"verifier key id {hex_id!r} is not 8 lowercase hex digits")
        raw = b64decode(encoded, "the verifier key")
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("the verifier key is not 0x01 (Ed25519) followed by a 32-byte public key")
        public_key = raw[1:]
        if key_id(name, public_key).hex() != hex_id:
            raise NoteError(f"verifier key id {hex_id} is not {key_id(name, public_key).hex()}, the id of its key")
        return cls(name, bytes.fromhex(hex_id), public_key)


@dataclass
class SignedNote:
    """A note's text and its signature lines as (name, key id, signature)."""

    text: str
    signatures: list[tuple[str, bytes, bytes]]

    @classmethod
    def parse(cls, note: str) -> SignedNote:
        """Splits a note at its last blank line into the text and the signature lines."""
        if not note.endswith("\n"):
            raise NoteError("the note does not end with a newline")
        split = note.rfind("\n\n", 0, len(note) - 1)
        if split < 0:
            raise NoteError("the note has no blank line before its signatures")
        text = note[:split + 1]
        if any(ord(c) < 0x20 and c != "\n" for c in text):
            raise NoteError("the note text holds a control character")
        signatures = []
        for line in note[split + 2:-1].split("\n"):
            if not line.startswith(SIGNATURE_DASH):
                raise NoteError(f"signature line {line!r} does not start with '— '")
            fields = line[len(SIGNATURE_DASH):].split(" ")
            if len(fields) != 2:
                raise NoteError(f"signature line {line!r} is not '— name base64'")
            blob = b64decode(fields[1], "the signature")
            if len(blob) <= 4:
                raise NoteError(f"signature line {line!r} is too short")
            signatures.append((fields[0], blob[:4], blob[4:]))
        return cls(text, signatures)

    def verify(self, key: VerifierKey) -> None:
        """Checks that a signature by ``key`` (same name and key id) is present and that each one verifies."""
        matching = [s for name, kid, s in self.signatures if name == key.name and kid == key.key_id]
        if not matching:
            raise NoteError(f"no signature by key {key.name}+{key.key_id.hex()}")
        public_key = Ed25519PublicKey.from_public_bytes(key.public_key)
        for signature in matching:
            try:
                public_key.verify(signature, self.text.encode())
            except InvalidSignature:
                raise NoteError(f"the Ed25519 signature by {key.name} does not verify") from None


@dataclass
class Checkpoint:
    """A verified checkpoint: origin, tree size and root hash."""

    origin: str
    size: int
    root: bytes

    @classmethod
    def open(cls, note: str, key: VerifierKey) -> Checkpoint:
        """Verifies the note's signature with ``key`` and parses its text as a tlog checkpoint."""
        signed = SignedNote.parse(note)
        signed.verify(key)
        lines = signed.text.split("\n")
        if len(lines) < 4:
            raise NoteError("a checkpoint needs origin, tree size and root lines")
        origin, size_line, root_line = lines[:3]
        if not size_line.isdigit() or str(int(size_line)) != size_line:
            raise NoteError(f"tree size line {size_line!r} is not a decimal number")
        root = b64decode(root_line, "the root hash line")
        if len(root) != 32:
            raise NoteError("the root hash line is not base64 of 32 bytes")
        if origin != key.name:
            raise NoteError(f"origin {origin!r} is not the key name {key.name!r}")
        return cls(origin, int(size_line), root)
