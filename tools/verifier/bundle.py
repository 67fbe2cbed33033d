"""Verifying an audit bundle, as ``call-ledger audit export CALL -o FILE`` writes it (FORMAT.md §12.2).

1. ``checkpoint`` carries a valid signature by the verifier key (the bundle's, or the one pinned with --key).
2. ``statement`` is a note signed by the same key naming the call, the bound, the checkpoint, the number of
   events with the SHA-256 of their concatenated leaf hashes, and the seqs of the call's retention.purged
   events: the bundle must hold exactly those events, so none can be left out or added.
3. Each event: its record (base64) parses, is of the call, below the bound, in seq order; its entry and leaf
   hash are rebuilt from it and its audit path leads to the checkpoint's root. Compacting a part keeps the
   entry, so the parts the requester may not read are digests only and the leaf is still the logged one.
4. Each sealed part is of an opened class; it authenticates and decrypts with the bundle's data key of its
   class (AES-256-GCM, associated data ``envelope || string(class)``), and its stored plaintext decodes (form
   0x00 raw, 0x01 zstd, 0x02 zstd against the items of the same class's part of event ``seq - back``, which
   the bundle must hold). Each compacted part is of an erased or withheld class.
5. ``event`` is exactly what the record renders to, opened items inline: the plaintext shown is the committed.
6. ``redaction`` verifies as a redaction proof against the same checkpoint, its purged events are the ones the
   statement lists, and ``classes.erased`` is exactly the set of classes they erased.
7. With ``--ledger DIR`` (``check_against_log``): the statement's claim that these are all of the call's events
   below the bound, which the bundle alone cannot show, is checked by reading the whole log of DIR.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import notes, records, values
from .encoding import Reader
from .errors import Fault, FormatError
from .ledger import LedgerVerifier
from .proofs import ProofVerifier
from .redaction import RedactionSummary, RedactionVerifier

FORMAT = "call-ledger/audit-bundle/v1"
STATEMENT_HEADER = "call-ledger/audit-export/v1"
MAXIMUM_ITEMS_BYTES = 1 << 24


@dataclass
class BundleSummary:
    """What a verified bundle shows."""

    call: str
    bound: int
    events: int
    parts_opened: int
    parts_digest_only: int
    opened: list[str]
    erased: list[str]
    withheld: list[str]
    checkpoint_size: int
    checkpoint_root: str
    verifier_key: str
    redaction: RedactionSummary | None
    log_checked: str | None = None

    def to_json(self) -> dict[str, object]:
        """The summary as a JSON object."""
        result = {"ok": True, "kind": "bundle", **self.__dict__}
        result["redaction"] = self.redaction.to_json() if self.redaction else None
        return result

    def __str__(self) -> str:
        completeness = (f"checked against the log in {self.log_checked}" if self.log_checked
                        else "signed statement; --ledger DIR checks it against the log")
        text = (f"OK: audit bundle of call {self.call}: {self.events} events below seq {self.bound}, all of them "
                f"({completeness}), each in the checkpoint of size {self.checkpoint_size}, root "
                f"{self.checkpoint_root}, signed by {self.verifier_key}\n"
                f"  {self.parts_opened} sealed parts opened and matching their digests "
                f"({', '.join(self.opened) or 'no class'}); {self.parts_digest_only} digests only "
                f"(erased: {', '.join(self.erased) or 'none'}; withheld: {', '.join(self.withheld) or 'none'})")
        if self.redaction:
            text += "\n" + str(self.redaction)
        return text


class BundleVerifier(ProofVerifier):
    """Verifies one parsed audit bundle; faults name the event's seq and the JSON member at fault."""

    def run(self) -> BundleSummary:
        """Checks the bundle; raises ``Fault`` at the first problem."""
        if self.member(self.document, "format", str) != FORMAT:
            raise self.fault("format", f"is not {FORMAT!r}")
        size, root, key = self.checkpoint()
        call = self.member(self.document, "call", str)
        bound = self.member(self.document, "bound", int)
        statement = self.statement(key, size, root, call, bound)
        classes = self.member(self.document, "classes", dict)
        opened, erased, withheld = (set(self.strings(classes, name, "classes"))
                                    for name in ("opened", "erased", "withheld"))
        for first, second in ((opened, erased), (opened, withheld), (erased, withheld)):
            if first & second:
                raise self.fault("classes", f"lists {sorted(first & second)} twice")
        keys = self.keys(opened)
        redaction = self.redaction(size, root, call, erased, statement["purges"])
        items: dict[tuple[int, str], bytes] = {}
        leaves, previous = [], -1
        counts = [0, 0]
        for index, event in enumerate(self.member(self.document, "events", list)):
            seq, leaf = self.event(event, f"events[{index}]", call, bound, previous, size, root,
                                   (opened, erased, keys), items, counts)
            leaves.append(leaf)
            previous = seq
        digest = hashlib.sha256(b"".join(leaves)).hexdigest()
        if (len(leaves), digest) != statement["events"]:
            raise self.fault("events", f"holds {len(leaves)} events whose leaf hashes digest to {digest}; the "
                             f"signed statement lists {statement['events'][0]} events with digest "
                             f"{statement['events'][1]} (an event was left out, added or reordered)")
        return BundleSummary(call, bound, len(leaves), counts[0], counts[1], sorted(opened), sorted(erased),
                             sorted(withheld), size, root.hex(), f"{key.name}+{key.key_id.hex()}", redaction)

    def strings(self, container: object, name: str, path: str) -> list[str]:
        """A list of strings."""
        result = self.member(container, name, list, path)
        if not all(isinstance(value, str) for value in result):
            raise self.fault(f"{path}.{name}", "is not a list of strings")
        return result

    def statement(self, key: notes.VerifierKey, size: int, root: bytes, call: str, bound: int) -> dict[str, object]:
        """Verifies the signed statement and checks that it names this bundle; returns the event count with
        the leaf digest, and the purged events' seqs, that it lists."""
        note = self.member(self.document, "statement", str)
        try:
            signed = notes.SignedNote.parse(note)
            signed.verify(key)
        except notes.NoteError as error:
            raise self.fault("statement", f"signature check failed: {error}") from None
        lines = signed.text.split("\n")
        expected = [STATEMENT_HEADER, f"origin {key.name}",
                    f"checkpoint {size} {base64.b64encode(root).decode()}", f"call {call}", f"bound {bound}"]
        if len(lines) != 8 or lines[:5] != expected or lines[7] != "":
            raise self.fault("statement", f"signed text {signed.text!r} does not name this bundle's call, bound "
                             f"and checkpoint ({' / '.join(expected[1:])})")
        events = lines[5].split(" ")
        purges = lines[6].split(" ")
        if (len(events) != 3 or events[0] != "events" or not events[1].isdigit() or purges[0] != "purges"
                or not all(seq.isdigit() for seq in purges[1:])):
            raise self.fault("statement", f"lines {lines[5]!r} and {lines[6]!r} are not 'events N DIGEST' and "
                             f"'purges SEQ...'")
        return {"events": (int(events[1]), events[2]), "purges": [int(seq) for seq in purges[1:]]}

    def keys(self, opened: set[str]) -> dict[str, AESGCM]:
        """The data keys, one per opened class."""
        keys = self.member(self.document, "keys", dict)
        if set(keys) != opened:
            raise self.fault("keys", f"holds keys for {sorted(keys)}, the opened classes are {sorted(opened)}")
        result = {}
        for name, text in keys.items():
            try:
                raw = base64.b64decode(text, validate=True)
            except (binascii.Error, TypeError):
                raw = b""
            if len(raw) != 32:
                raise self.fault(f"keys.{name}", "is not base64 of a 32-byte AES-256 key")
            result[name] = AESGCM(raw)
        return result

    def redaction(self, size: int, root: bytes, call: str, erased: set[str],
                  purges: list[int]) -> RedactionSummary | None:
        """Verifies the redaction proof against the bundle's checkpoint and classes."""
        document = self.member(self.document, "redaction", (dict, type(None)))
        if document is None:
            if erased or purges:
                raise self.fault("redaction", f"is null, but the bundle says {sorted(erased)} were erased by "
                                 f"retention.purged seqs {purges}")
            return None
        summary = RedactionVerifier(self.file, document, self.pinned_key, "redaction.").run()
        if (summary.call, summary.checkpoint_size, summary.checkpoint_root) != (call, size, root.hex()):
            raise self.fault("redaction", f"is for call {summary.call} at checkpoint {summary.checkpoint_size}, "
                             f"not {call} at {size}")
        if [erasure.seq for erasure in summary.erasures] != purges:
            raise self.fault("redaction.purges", f"are seqs {[e.seq for e in summary.erasures]}; the signed "
                             f"statement lists the call's retention.purged events as {purges}")
        if set(summary.erased_classes) != erased:
            raise self.fault("classes.erased", f"lists {sorted(erased)}; the retention.purged events erased "
                             f"{summary.erased_classes}")
        return summary

    def event(self, event: object, where: str, call: str, bound: int, previous: int, size: int, root: bytes,
              classes: tuple[set[str], set[str], dict[str, AESGCM]], items: dict[tuple[int, str], bytes],
              counts: list[int]) -> tuple[int, bytes]:
        """Checks one event; returns its seq and leaf hash."""
        opened, erased, keys = classes
        seq = self.member(event, "seq", int, where)
        if seq <= previous or seq >= bound:
            raise self.fault(f"{where}.seq", f"{seq} is not after {previous} and below the bound {bound}", seq)
        try:
            raw = base64.b64decode(self.member(event, "record", str, where), validate=True)
            record = records.parse_record(memoryview(raw))
        except binascii.Error as error:
            raise self.fault(f"{where}.record", f"is not base64: {error}", seq) from None
        except FormatError as error:
            raise self.fault(f"{where}.record", f"is not a record (FORMAT.md §3): {error}", seq) from None
        if (record.seq, record.call) != (seq, call):
            raise self.fault(f"{where}.record", f"is seq {record.seq} of call {record.call!r}, not seq {seq} of "
                             f"{call!r}", seq)
        try:
            entry = base64.b64decode(self.member(event, "entry", str, where), validate=True)
        except binascii.Error as error:
            raise self.fault(f"{where}.entry", f"is not base64: {error}", seq) from None
        if entry != record.entry:
            raise self.fault(f"{where}.entry", "is not the entry of the record (FORMAT.md §5)", seq)
        leaf = self.included(event, entry, where, seq, size, root, "the checkpoint's tree")
        parts, states = [], []
        for index, part in enumerate(record.parts):
            name, at = part.data_class, f"{where}.record part {index} ({part.data_class})"
            if part.form == records.PART_COMPACTED:
                if name in opened:
                    raise self.fault(at, f"is a digest only, but {name} is an opened class", seq)
                parts.append(values.PartView(name, part.digest, None))
                states.append("erased" if name in erased else "withheld")
                counts[1] += 1
                continue
            if name not in opened:
                raise self.fault(at, f"holds ciphertext of {name}, which is not an opened class", seq)
            plaintext = self.open(keys[name], part, record, at, seq)
            items[(seq, name)] = self.items(plaintext, name, seq, items, at)
            try:
                parts.append(values.PartView(name, part.digest, values.split_items(items[(seq, name)])))
            except FormatError as error:
                raise self.fault(at, f"items do not decode: {error}", seq) from None
            states.append("opened")
            counts[0] += 1
        try:
            expected = values.render_event(record, parts, states)
        except FormatError as error:
            raise self.fault(f"{where}.record", f"body does not decode: {error}", seq) from None
        shown = self.member(event, "event", dict, where)
        if not values.same(shown, expected):
            path = values.first_difference(shown, expected)
            raise self.fault(f"{where}.event{'.' + path if path else ''}",
                             f"is not what the record says: shown {self.at(shown, path)!r}, the record has "
                             f"{self.at(expected, path)!r}", seq)
        return seq, leaf

    @staticmethod
    def at(value: object, path: str) -> object:
        """The member at a path of ``first_difference`` (or ``None`` when it is absent)."""
        for piece in path.replace("[", ".[").split(".") if path else []:
            if piece.startswith("["):
                index = int(piece[1:-1])
                value = value[index] if isinstance(value, list) and index < len(value) else None
            else:
                value = value.get(piece) if isinstance(value, dict) else None
        return value

    def open(self, cipher: AESGCM, part: records.Part, record: records.Record, at: str, seq: int) -> bytes:
        """Authenticates and decrypts a sealed part: ``nonce (12) || ciphertext || tag (16)``."""
        sealed = part.payload
        if len(sealed) < 28:
            raise self.fault(at, "sealed bytes are shorter than a nonce and a tag", seq)
        try:
            return cipher.decrypt(sealed[:12], sealed[12:], values.associated_data(record, part.data_class))
        except InvalidTag:
            raise self.fault(at, f"does not authenticate with the bundle's {part.data_class} key and the "
                             f"record's envelope (altered record or key)", seq) from None

    def items(self, plaintext: bytes, name: str, seq: int, items: dict[tuple[int, str], bytes], at: str) -> bytes:
        """The items of a part's stored plaintext (FORMAT.md §3)."""
        if not plaintext:
            raise self.fault(at, "plaintext is empty (no form byte)", seq)
        form = plaintext[0]
        try:
            if form == 0x00:
                return plaintext[1:]
            if form == 0x01:
                return zstandard.ZstdDecompressor().decompress(plaintext[1:], max_output_size=MAXIMUM_ITEMS_BYTES)
            if form == 0x02:
                reader = Reader(plaintext, 1)
                back = reader.varint("back")
                base = items.get((seq - back, name))
                if base is None:
                    raise self.fault(at, f"is stored as a delta of the {name} part of seq {seq - back}, which the "
                                     f"bundle does not open (an event was left out?)", seq)
                frame = bytes(plaintext[reader.offset:])
                if not base:
                    return zstandard.ZstdDecompressor().decompress(frame, max_output_size=MAXIMUM_ITEMS_BYTES)
                dictionary = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
                return zstandard.ZstdDecompressor(dict_data=dictionary).decompress(
                    frame, max_output_size=MAXIMUM_ITEMS_BYTES)
        except (zstandard.ZstdError, FormatError) as error:
            raise self.fault(at, f"plaintext of form 0x{form:02x} does not decompress: {error}", seq) from None
        raise self.fault(at, f"plaintext form 0x{form:02x} is not 0x00, 0x01 or 0x02", seq)


def check_against_log(summary: BundleSummary, document: dict[str, object], directory: Path,
                      progress: Callable[[str], None]) -> BundleSummary:
    """Checks the statement's completeness claim against the ledger in ``directory``: the whole log verifies
    (``tools/verify ledger``), it holds the bundle's checkpoint, and its events of the call below the bound are
    exactly the bundle's (same seqs and leaf hashes). Run after ``BundleVerifier.run``."""
    logged: list[tuple[int, bytes]] = []

    def collect(record: records.Record) -> None:
        if record.call == summary.call and record.seq < summary.bound:
            logged.append((record.seq, record.leaf_hash))

    result = LedgerVerifier(directory, progress, collect).run()
    note = directory / "checkpoints" / f"{summary.checkpoint_size:020d}.note"
    try:
        carried = document["checkpoint"]["note"]  # type: ignore[index]
        same = note.read_text(encoding="utf-8") == carried
    except (OSError, KeyError, TypeError, UnicodeDecodeError):
        same = False
    if not same:
        raise Fault(f"checkpoints/{note.name}", f"the ledger in {directory} holds no checkpoint note identical to "
                    "the bundle's: the bundle is not from this ledger")
    bundled = [(event["seq"], bytes.fromhex(event["leaf_hash"]))  # type: ignore[index]
               for event in document["events"]]  # type: ignore[union-attr]
    if logged != bundled:
        missing = sorted(set(logged) - set(bundled))
        extra = sorted(set(bundled) - set(logged))
        detail = (f"the log's seq {missing[0][0]} is not in the bundle" if missing
                  else f"the bundle's seq {extra[0][0]} is not an event of the call in the log" if extra
                  else "the order differs")
        raise Fault("statement", f"the log in {directory} holds {len(logged)} events of call {summary.call} below seq "
                    f"{summary.bound}; the signed statement lists {len(bundled)}: {detail}")
    summary.log_checked = f"{directory} ({result.events} events)"
    return summary
