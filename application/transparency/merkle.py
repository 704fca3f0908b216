"""RFC 9162 Merkle trees (DESIGN §7.1): hashing, proofs from stored nodes, and their checks.

A leaf's hash is SHA-256(0x00 || leaf), a node's SHA-256(0x01 || left || right);
the tree over n leaves splits at the largest power of two below n (RFC 9162
§2.1.1). Proofs are built from the hashes of perfect subtrees (`Nodes`), never
from the leaves; the checks are RFC 9162 §2.1.3.2 and §2.1.4.2 step by step and
refuse anything that is not exactly a proof: a missing or extra hash, one of the
wrong length, an index outside the tree. They need nothing but this module, so a
verifier with no database uses them as the ledger does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # the root of the tree of no leaves


class ProofError(ValueError):
    """A proof that does not verify, with what is wrong with it."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """k with k < n <= 2k (n > 1): where RFC 9162 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


class Nodes(Protocol):
    """Where the hashes of perfect subtrees are kept: `perfect(level, index)` is the root of
    the 2**level leaves from index * 2**level."""

    def perfect(self, level: int, index: int) -> bytes: ...


def subtree_hash(nodes: Nodes, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range RFC 9162 recursion reaches: `start` is a multiple of the
    largest power of two below `end - start` (or of the size itself, when a power of two)."""
    size = end - start
    if size <= 0:
        raise ValueError("an empty range has no subtree hash")
    if size & (size - 1) == 0:  # a perfect subtree: stored
        level = size.bit_length() - 1
        return nodes.perfect(level, start >> level)
    k = largest_power_of_two_below(size)
    return node_hash(subtree_hash(nodes, start, start + k), subtree_hash(nodes, start + k, end))


def root_hash(nodes: Nodes, size: int) -> bytes:
    """The root of the tree of the first `size` leaves."""
    return EMPTY_ROOT if size == 0 else subtree_hash(nodes, 0, size)


def inclusion_proof(nodes: Nodes, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), leaf-side hash first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:  # descend towards the leaf; each sibling is one hash of the path
        k = largest_power_of_two_below(end - start)
        if index < start + k:
            path.append(subtree_hash(nodes, start + k, end))
            end = start + k
        else:
            path.append(subtree_hash(nodes, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(nodes: Nodes, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[0:second]) (RFC 9162 §2.1.4.1): empty when first is 0 or second."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    if first in (0, second):
        return []
    path: list[bytes] = []
    start, end, whole = 0, second, True  # SUBPROOF(first - start, D[start:end], whole)
    while True:
        size, m = end - start, first - start
        if m == size:
            if not whole:
                path.append(subtree_hash(nodes, start, end))
            break
        k = largest_power_of_two_below(size)
        if m <= k:
            path.append(subtree_hash(nodes, start + k, end))
            end = start + k
        else:
            path.append(subtree_hash(nodes, start, start + k))
            start, whole = start + k, False
    path.reverse()
    return path


def _checked(hashes: Sequence[bytes], what: str) -> None:
    for n, h in enumerate(hashes):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise ProofError(f"{what} hash {n} is not {HASH_SIZE} bytes")


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf` (its leaf hash) is at `index` in the tree of `size` whose root is
    `root` (RFC 9162 §2.1.3.2); raise `ProofError` naming what fails."""
    _checked([leaf], "the leaf")
    _checked(path, "proof")
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ProofError("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the proof is shorter than the tree is deep")
    if r != root:
        raise ProofError("the proof does not lead to the root")


def verify_consistency(
    first: int, second: int, path: Sequence[bytes], first_root: bytes, second_root: bytes
) -> None:
    """Check that the tree of `second` leaves with `second_root` extends the one of `first`
    with `first_root` (RFC 9162 §2.1.4.2); raise `ProofError` naming what fails."""
    _checked(path, "proof")
    if not 0 <= first <= second:
        raise ProofError(f"a tree of {second} cannot extend one of {first}")
    if first == 0:
        raise ProofError("every tree extends the empty one: there is nothing to prove")
    if first == second:
        if path:
            raise ProofError("trees of one size need an empty proof")
        if first_root != second_root:
            raise ProofError("two different roots for one tree size")
        return
    if not path:
        raise ProofError("the proof is empty")
    hashes = list(path)
    if first & (first - 1) == 0:  # an exact power of 2: the old root is the first node
        hashes.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = hashes[0]
    for c in hashes[1:]:
        if sn == 0:
            raise ProofError("the proof is longer than the trees are deep")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the proof is shorter than the trees are deep")
    if fr != first_root:
        raise ProofError("the proof does not lead to the first root")
    if sr != second_root:
        raise ProofError("the proof does not lead to the second root")


class LeafHashes:
    """Perfect-subtree hashes computed from a list of leaf hashes in memory: for tests, and
    for rebuilding a tree that is small."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append([node_hash(below[i], below[i + 1])
                                for i in range(0, len(below) - 1, 2)])  # fmt: skip

    def perfect(self, level: int, index: int) -> bytes:
        return self.levels[level][index]


class CompactRange:
    """The roots of the perfect subtrees a tree of `size` leaves is made of, left to right."""

    def __init__(self) -> None:
        self.size = 0
        self.roots: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        node, size = leaf, self.size
        while size & 1:  # each set low bit: a subtree of that height to merge with
            node = node_hash(self.roots.pop(), node)
            size >>= 1
        self.roots.append(node)
        self.size += 1

    def root(self) -> bytes:
        if not self.roots:
            return EMPTY_ROOT
        node = self.roots[-1]
        for left in reversed(self.roots[:-1]):
            node = node_hash(left, node)
        return node
