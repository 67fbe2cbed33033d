"""RFC 6962 hashing, roots and proofs against the transparency-dev/merkle reference vectors."""

from __future__ import annotations

import json
import unittest
from pathlib import Path

from verifier import merkle

VECTORS = json.loads(
    (Path(__file__).resolve().parents[3] / "Fixtures/merkle/rfc6962-reference-vectors.json").read_text())
LEAVES = [merkle.leaf_hash(bytes.fromhex(data)) for data in VECTORS["leaf_inputs_hex"]]


def hashes(values: list[str]) -> list[bytes]:
    """Hex strings as bytes."""
    return [bytes.fromhex(value) for value in values]


def root(size: int) -> bytes:
    """The reference root of the tree of the first ``size`` leaves."""
    return next(bytes.fromhex(r["root"]) for r in VECTORS["root_hashes_by_tree_size"] if r["tree_size"] == size)


class MerkleTests(unittest.TestCase):
    """Roots, stored subtrees and proofs."""

    def test_roots_at_every_size(self) -> None:
        for vector in VECTORS["root_hashes_by_tree_size"]:
            size = vector["tree_size"]
            self.assertEqual(merkle.root_of(LEAVES[:size]).hex(), vector["root"], f"size {size}")

    def test_subtrees_are_reported_at_their_level_and_index(self) -> None:
        seen: dict[tuple[int, int], bytes] = {}
        tree = merkle.RunningTree(lambda level, index, digest: seen.__setitem__((level, index), digest))
        for leaf in LEAVES:
            tree.append(leaf)
        for level, expected in enumerate(VECTORS["node_hashes_by_level"]):
            self.assertEqual([seen[(level, index)].hex() for index in range(len(expected))], expected)

    def test_inclusion_proofs(self) -> None:
        for vector in VECTORS["inclusion_proofs"]:
            index, size, proof = vector["leaf_index"], vector["tree_size"], hashes(vector["proof"])
            merkle.verify_inclusion(index, size, LEAVES[index], proof, root(size))
            with self.assertRaises(merkle.ProofError):
                merkle.verify_inclusion(index, size, LEAVES[index], proof + [LEAVES[0]], root(size))
            if proof:
                tampered = [bytes(32)] + proof[1:]
                with self.assertRaises(merkle.ProofError):
                    merkle.verify_inclusion(index, size, LEAVES[index], tampered, root(size))
        with self.assertRaises(merkle.ProofError):
            merkle.verify_inclusion(8, 8, LEAVES[0], [], root(8))

    def test_consistency_proofs(self) -> None:
        for vector in VECTORS["consistency_proofs"]:
            first, second, proof = vector["size1"], vector["size2"], hashes(vector["proof"])
            merkle.verify_consistency(first, second, root(first), root(second), proof)
            if proof:
                with self.assertRaises(merkle.ProofError):
                    merkle.verify_consistency(first, second, root(first), root(second), proof[:-1])
                with self.assertRaises(merkle.ProofError):
                    merkle.verify_consistency(first, second, root(first), root(second), [bytes(32)] + proof[1:])
        merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, root(5), [])
        with self.assertRaises(merkle.ProofError):
            merkle.verify_consistency(3, 3, root(3), root(4), [])


if __name__ == "__main__":
    unittest.main()
