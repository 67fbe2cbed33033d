"""RFC 6962 / RFC 9162 Merkle trees over SHA-256 (FORMAT.md §5, §6).

``leaf = SHA-256(0x00 || entry)``, ``node = SHA-256(0x01 || left || right)``, the empty tree's root is
``SHA-256("")``, and a tree of ``n > 1`` leaves splits at the largest power of two below ``n``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    """``SHA-256(0x00 || entry)``."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class RunningTree:
    """The tree of the leaves appended so far, kept as its complete subtrees (at most one per level).

    Each time a complete subtree of ``2**level`` leaves is formed, ``on_subtree(level, index, hash)`` is
    called with its position: entry ``index`` of ``tree/level-NN.hashes`` must hold the same hash.
    """

    def __init__(self, on_subtree: Callable[[int, int, bytes], None] = lambda level, index, digest: None) -> None:
        self.size = 0
        self.on_subtree = on_subtree
        # (level, hash) of the complete subtrees, largest (leftmost) first.
        self.frontier: list[tuple[int, bytes]] = []

    def append(self, leaf: bytes) -> None:
        """Adds the next leaf hash."""
        level, digest = 0, leaf
        self.on_subtree(0, self.size, digest)
        while self.frontier and self.frontier[-1][0] == level:
            left = self.frontier.pop()[1]
            digest = node_hash(left, digest)
            level += 1
            self.on_subtree(level, self.size >> level, digest)
        self.frontier.append((level, digest))
        self.size += 1

    def root(self) -> bytes:
        """The root of the tree of the leaves so far: the subtrees folded from the right."""
        if not self.frontier:
            return EMPTY_ROOT
        digest = self.frontier[-1][1]
        for _, left in reversed(self.frontier[:-1]):
            digest = node_hash(left, digest)
        return digest


def root_of(leaves: Sequence[bytes]) -> bytes:
    """The root of the tree over ``leaves`` (the RFC 6962 MTH, computed with a running tree)."""
    tree = RunningTree()
    for leaf in leaves:
        tree.append(leaf)
    return tree.root()


class ProofError(Exception):
    """A proof that does not lead to the expected root, or whose shape does not fit the tree sizes."""


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that an audit path leads to (RFC 9162 §2.1.3.2); raises ``ProofError`` on a bad shape."""
    if index >= size:
        raise ProofError(f"leaf index {index} is not inside a tree of size {size}")
    fn, sn, digest = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise ProofError(f"the proof has more hashes than leaf {index} of a tree of size {size} needs")
        if fn & 1 or fn == sn:
            digest = node_hash(sibling, digest)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            digest = node_hash(digest, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"the proof has too few hashes ({len(proof)}) for leaf {index} of a tree of size {size}")
    return digest


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Checks that ``leaf`` is leaf ``index`` of the tree of ``size`` leaves whose root is ``root``."""
    computed = root_from_inclusion_proof(index, size, leaf, proof)
    if computed != root:
        raise ProofError(f"the audit path leads to root {computed.hex()}, expected {root.hex()}")


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> None:
    """Checks that the tree of ``second`` leaves extends the tree of ``first`` leaves (RFC 9162 §2.1.4.2)."""
    if first > second:
        raise ProofError(f"consistency from size {first} to the smaller size {second}")
    if first == second or first == 0:
        if proof:
            raise ProofError(
                f"a consistency proof from size {first} to {second} is empty, this one has {len(proof)} hashes")
        expected = second_root if first == second else EMPTY_ROOT
        if first_root != expected:
            raise ProofError(f"root {first_root.hex()} for size {first} should be {expected.hex()}")
        return
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    if not path:
        raise ProofError("the consistency proof is empty")
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first_digest = second_digest = path[0]
    for sibling in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof has more hashes than the tree sizes allow")
        if fn & 1 or fn == sn:
            first_digest = node_hash(sibling, first_digest)
            second_digest = node_hash(sibling, second_digest)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second_digest = node_hash(second_digest, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof has too few hashes for the tree sizes")
    if first_digest != first_root:
        raise ProofError(
            f"the proof leads to root {first_digest.hex()} for size {first}, expected {first_root.hex()}")
    if second_digest != second_root:
        raise ProofError(
            f"the proof leads to root {second_digest.hex()} for size {second}, expected {second_root.hex()}")
