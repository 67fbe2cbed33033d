"""Verifying a redaction proof, as ``call-ledger prove redaction CALL --json`` prints it (FORMAT.md §12.1).

The proof carries ``call``, ``checkpoint`` (the latest signed checkpoint), ``purges`` (one section per
``retention.purged`` event of the call) and ``store``. For each section this checks:

1. ``purged_event``: its entry is a ``retention.purged`` event of the call at ``seq``, its leaf hash, and its
   audit path in the tree of the checkpoint. The event's body (decoded from the entry) gives the erased
   classes, the policy, the method and the checkpoint ``{tree_size, root}`` signed just before the erasure;
   ``classes``, ``policy`` and ``method`` must be the ones it says.
2. ``before``: a checkpoint signed by the same key, whose size and root are the ones the event names.
3. ``leaves``: events of the call, in seq order, inside ``before``'s tree, each with its leaf hash and audit
   path there: what the call's events committed to (each sealed part's class and digest) before the erasure.
4. ``consistency_proof``: ``before``'s tree is a prefix of the checkpoint's tree.

``store`` is the ledger's report of its own files (keys left for the erased classes, compacted parts and parts
still holding ciphertext): it is printed, and its classes must be the erased ones, but it is no proof.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from . import merkle, records, values
from .errors import FormatError
from .proofs import ProofVerifier


@dataclass
class ErasureSummary:
    """One verified ``retention.purged`` section."""

    seq: int
    classes: list[str]
    policy: str
    method: str
    before_size: int
    leaves: int
    parts_committed: int


@dataclass
class RedactionSummary:
    """What a verified redaction proof shows."""

    call: str
    checkpoint_size: int
    checkpoint_root: str
    verifier_key: str
    erasures: list[ErasureSummary] = field(default_factory=list)
    store: dict[str, object] = field(default_factory=dict)

    @property
    def erased_classes(self) -> list[str]:
        """Every class the erasures name, sorted."""
        return sorted({name for erasure in self.erasures for name in erasure.classes})

    def to_json(self) -> dict[str, object]:
        """The summary as a JSON object."""
        return {"ok": True, "kind": "redaction", "call": self.call, "checkpoint_size": self.checkpoint_size,
                "checkpoint_root": self.checkpoint_root, "verifier_key": self.verifier_key,
                "erasures": [erasure.__dict__ for erasure in self.erasures], "store": self.store}

    def __str__(self) -> str:
        lines = [f"OK: redaction of call {self.call}, anchored to the checkpoint of size {self.checkpoint_size}, "
                 f"root {self.checkpoint_root}, signed by {self.verifier_key}"]
        for erasure in self.erasures:
            lines.append(
                f"  seq {erasure.seq} retention.purged {', '.join(erasure.classes)} ({erasure.policy}, "
                f"{erasure.method}): {erasure.leaves} events of the call with {erasure.parts_committed} parts of "
                f"those classes committed in the signed checkpoint of size {erasure.before_size}, consistent with "
                f"the latest")
        keys = self.store.get("keys_present")
        lines.append(
            f"  store (reported by the ledger, not proven): "
            f"{'no data key left' if not keys else 'data keys STILL PRESENT for ' + ', '.join(keys)}; "
            f"{self.store.get('parts_compacted')} parts compacted, {self.store.get('parts_with_ciphertext')} "
            f"still hold ciphertext")
        return "\n".join(lines)


class RedactionVerifier(ProofVerifier):
    """Verifies one parsed redaction proof; faults name the JSON member and the seq at fault."""

    def run(self) -> RedactionSummary:
        """Checks the proof; raises ``Fault`` at the first problem."""
        size, root, key = self.checkpoint()
        call = self.member(self.document, "call", str)
        purges = self.member(self.document, "purges", list)
        if not purges:
            raise self.fault("purges", "is empty: a redaction proof holds at least one retention.purged event")
        summary = RedactionSummary(call, size, root.hex(), f"{key.name}+{key.key_id.hex()}")
        previous = -1
        for index, purge in enumerate(purges):
            erasure = self.purge(purge, f"purges[{index}]", call, size, root)
            if erasure.seq <= previous:
                raise self.fault(f"purges[{index}].seq", f"{erasure.seq} does not follow {previous}", erasure.seq)
            previous = erasure.seq
            summary.erasures.append(erasure)
        store = self.member(self.document, "store", dict)
        erased = self.member(store, "erased_classes", list, "store")
        if sorted(erased) != summary.erased_classes:
            raise self.fault("store.erased_classes", f"lists {sorted(erased)}, the purged events erased "
                             f"{summary.erased_classes}")
        summary.store = {
            "keys_present": self.member(store, "keys_present", list, "store"),
            "parts_compacted": self.member(store, "parts_compacted", int, "store"),
            "parts_with_ciphertext": self.member(store, "parts_with_ciphertext", int, "store"),
            "events_read": self.member(store, "events_read", int, "store"),
        }
        return summary

    def leaf(self, proof: object, where: str, size: int, root: bytes, call: str) -> records.Record:
        """Checks one leaf proof (entry, leaf hash, audit path in the tree of ``size`` with ``root``) of an event
        of ``call``; returns the parsed entry."""
        seq = self.member(proof, "seq", int, where)
        try:
            entry = base64.b64decode(self.member(proof, "entry", str, where), validate=True)
            record = records.parse_entry(entry)
        except binascii.Error as error:
            raise self.fault(f"{where}.entry", f"is not base64: {error}", seq) from None
        except FormatError as error:
            raise self.fault(f"{where}.entry", f"is not an entry (FORMAT.md §5): {error}", seq) from None
        if record.seq != seq:
            raise self.fault(f"{where}.entry", f"holds seq {record.seq}, not {seq}", seq)
        if record.call != call:
            raise self.fault(f"{where}.entry", f"is an event of call {record.call!r}, not {call!r}", seq)
        self.included(proof, entry, where, seq, size, root, f"the tree of size {size}")
        return record

    def purge(self, purge: object, where: str, call: str, size: int, root: bytes) -> ErasureSummary:
        """Checks one ``retention.purged`` section."""
        seq = self.member(purge, "seq", int, where)
        event = self.leaf(self.member(purge, "purged_event", dict, where), f"{where}.purged_event", size, root, call)
        if event.seq != seq:
            raise self.fault(f"{where}.purged_event", f"is seq {event.seq}, the section is for seq {seq}", seq)
        if event.type != "retention.purged":
            raise self.fault(f"{where}.purged_event", f"is a {event.type} event, not retention.purged", seq)
        try:
            body = values.decode_body(event, [])
        except FormatError as error:
            raise self.fault(f"{where}.purged_event.entry", f"body does not decode: {error}", seq) from None
        named = body.get("checkpoint") if isinstance(body, dict) else None
        if isinstance(body, dict) and named is None and body.get("method") == "zero-retention":
            # The keys never reached the disk and were dropped as the call was appended: no checkpoint came
            # before the erasure, so the call's leaves are proven in the checkpoint itself.
            named = {"tree_size": size, "root": root.hex()}
        if not isinstance(named, dict) or not isinstance(body.get("classes"), list):
            raise self.fault(f"{where}.purged_event.entry", "body lacks classes or checkpoint", seq)
        policy = body.get("policy") if isinstance(body.get("policy"), dict) else {}
        for member, signed in (("classes", body["classes"]), ("method", body.get("method")), ("policy", policy)):
            shown = self.member(purge, member, list if member == "classes" else dict if member == "policy" else str,
                                where)
            if not values.same(shown, signed):
                raise self.fault(f"{where}.{member}", f"says {shown!r}; the signed retention.purged event says "
                                 f"{signed!r}", seq)
        before_size, before_root, _ = self.checkpoint(self.member(purge, "before", dict, where), f"{where}.before")
        if (before_size, before_root.hex()) != (named.get("tree_size"), named.get("root")):
            raise self.fault(f"{where}.before", f"is the checkpoint of size {before_size} and root "
                             f"{before_root.hex()}; the event names size {named.get('tree_size')} and root "
                             f"{named.get('root')}", seq)
        if not before_size <= seq < size and not (body.get("method") == "zero-retention" and before_size == size):
            raise self.fault(f"{where}.before", f"size {before_size} is not a tree from before seq {seq} within "
                             f"the checkpoint's {size}", seq)
        leaves = self.member(purge, "leaves", list, where)
        previous, committed = -1, 0
        for index, proof in enumerate(leaves):
            record = self.leaf(proof, f"{where}.leaves[{index}]", before_size, before_root, call)
            if record.seq <= previous:
                raise self.fault(f"{where}.leaves[{index}].seq", f"{record.seq} does not follow {previous}",
                                 record.seq)
            previous = record.seq
            committed += sum(1 for part in record.parts if part.data_class in body["classes"])
        try:
            merkle.verify_consistency(before_size, size, before_root, root,
                                      self.digests(purge, "consistency_proof", where))
        except merkle.ProofError as error:
            raise self.fault(f"{where}.consistency_proof", f"does not prove the tree of size {before_size} a "
                             f"prefix of the checkpoint's {size}: {error}", seq) from None
        return ErasureSummary(seq, list(body["classes"]), f"{policy.get('name')} version {policy.get('version')}",
                              str(body.get("method")), before_size, len(leaves), committed)
