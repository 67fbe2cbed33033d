"""Verifying an event's proof across a cluster deployment, as ``call-ledger cluster prove`` prints it.

The document (FORMAT.md §13, "Root log") has ``deployment``, ``shard``, ``shard_proof`` (an inclusion proof of
FORMAT.md §11 in the shard's tree), ``shard_checkpoint`` (the shard checkpoint the root log records, signed by the
shard's key, of the shard proof's tree size and root) and ``root_proof``: ``leaf_index``, ``tree_size``,
``entry`` (base64 of shard (4 bytes) || shard tree size (8 bytes), big-endian, || SHA-256 of the shard checkpoint
note), ``leaf_hash``, ``inclusion_proof`` and ``root_hash`` of the root log's tree, and ``checkpoint``, the signed
root checkpoint (origin ``call-ledger/<deployment>/root``) of that size.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from .proofs import ProofVerifier


@dataclass
class ClusterProofSummary:
    """What a verified cluster proof shows."""

    statement: str
    root_size: int
    root_hash: str
    root_key: str

    def to_json(self) -> dict[str, object]:
        """The summary as a JSON object."""
        return {"ok": True, "kind": "cluster-inclusion", **self.__dict__}

    def __str__(self) -> str:
        return f"OK: {self.statement}; root checkpoint of size {self.root_size}, root {self.root_hash}, " \
               f"signed by {self.root_key}"


def root_leaf_entry(shard: int, size: int, note: str) -> bytes:
    """The root log's entry for shard ``shard``'s signed checkpoint ``note`` of ``size`` leaves."""
    return shard.to_bytes(4, "big") + size.to_bytes(8, "big") + hashlib.sha256(note.encode()).digest()


class ClusterProofVerifier:
    """Verifies one cluster proof; faults name ``file`` and the JSON member at fault."""

    def __init__(self, file: str, document: object, root_key: str | None, shard_keys: list[str]) -> None:
        self.file = file
        self.document = document
        self.root_key = root_key
        self.shard_keys = shard_keys

    def run(self) -> ClusterProofSummary:
        """Checks the proof; raises ``Fault`` at the first problem."""
        top = ProofVerifier(self.file, self.document, None)
        deployment = top.member(self.document, "deployment", str)
        shard = top.member(self.document, "shard", int)
        shard_document = top.member(self.document, "shard_proof", dict)
        listed = top.member(top.member(shard_document, "checkpoint", dict, "shard_proof"), "verifier_key", str,
                            "shard_proof.checkpoint")
        if self.shard_keys and listed.strip() not in [key.strip() for key in self.shard_keys]:
            raise top.fault("shard_proof.checkpoint.verifier_key", "is not one of the pinned shard keys")
        shard_summary = ProofVerifier(self.file, shard_document, listed, prefix="shard_proof.").run()
        if shard_summary.kind != "inclusion":
            raise top.fault("shard_proof", "is not an inclusion proof")
        shard_size = top.member(shard_document, "tree_size", int, "shard_proof")
        shard_root = top.digest(top.member(shard_document, "root_hash", str, "shard_proof"), "shard_proof.root_hash")

        recorded = top.member(self.document, "shard_checkpoint", dict)
        if top.member(recorded, "verifier_key", str, "shard_checkpoint") != listed:
            raise top.fault("shard_checkpoint.verifier_key", "is not the shard proof's verifier key")
        size, root, _ = ProofVerifier(self.file, self.document, listed).checkpoint(recorded, "shard_checkpoint")
        if (size, root) != (shard_size, shard_root):
            raise top.fault("shard_checkpoint", f"signs size {size} root {root.hex()}, the shard proof is for size "
                            f"{shard_size} root {shard_root.hex()}")

        root_document = top.member(self.document, "root_proof", dict)
        rooted = ProofVerifier(self.file, self.document, self.root_key)
        root_size, root_hash, key = rooted.checkpoint(top.member(root_document, "checkpoint", dict, "root_proof"),
                                                      "root_proof.checkpoint")
        if key.name != f"call-ledger/{deployment}/root":
            raise top.fault("root_proof.checkpoint", f"is signed by {key.name}, not deployment {deployment}'s root")
        if top.member(root_document, "tree_size", int, "root_proof") != root_size:
            raise top.fault("root_proof.tree_size", f"is not the root checkpoint's size {root_size}")
        if top.digest(top.member(root_document, "root_hash", str, "root_proof"), "root_proof.root_hash") != root_hash:
            raise top.fault("root_proof.root_hash", f"is not the root checkpoint's root {root_hash.hex()}")
        expected = root_leaf_entry(shard, size, top.member(recorded, "note", str, "shard_checkpoint"))
        try:
            entry = base64.b64decode(top.member(root_document, "entry", str, "root_proof"), validate=True)
        except binascii.Error as error:
            raise top.fault("root_proof.entry", f"is not base64: {error}") from None
        if entry != expected:
            raise top.fault("root_proof.entry", f"is not the leaf of shard {shard}'s checkpoint "
                            f"({base64.b64encode(expected).decode()})")
        index = top.member(root_document, "leaf_index", int, "root_proof")
        top.included(root_document, entry, "root_proof", index, root_size, root_hash, "the root log")
        return ClusterProofSummary(
            f"event {shard_document.get('seq')} of shard {shard} is in the shard's checkpoint of size {size}, "
            f"leaf {index} of the root log", root_size, root_hash.hex(), f"{key.name}+{key.key_id.hex()}")
