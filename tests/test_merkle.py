"""The Merkle tree and its proofs (DESIGN §7.1), against RFC 9162 and public test vectors.

The vectors (tests/fixtures/rfc9162-vectors, from transparency-dev/merkle, see
its NOTICE) include proofs a correct verifier must refuse; pymerkle, an RFC 9162
implementation this project did not write, builds the same roots and paths.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree

from application.transparency.merkle import (
    EMPTY_ROOT,
    LeafHashes,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parent / "fixtures" / "rfc9162-vectors"


def cases(kind: str) -> list[Any]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    return [pytest.param(json.loads(f.read_text()), id=str(f.relative_to(VECTORS))) for f in files]


def decoded(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def hashes(values: list[str] | None) -> list[bytes]:
    return [decoded(v) for v in values or []]


def test_every_public_vector_is_there() -> None:
    assert len(cases("inclusion")) + len(cases("consistency")) == 196


@pytest.mark.parametrize("case", cases("inclusion"))
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    def check() -> None:
        verify_inclusion(decoded(case["leafHash"]), case["leafIdx"], case["treeSize"],
                         hashes(case["proof"]), decoded(case["root"]))  # fmt: skip

    if case["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


@pytest.mark.parametrize("case", cases("consistency"))
def test_consistency_vectors(case: dict[str, Any]) -> None:
    def check() -> None:
        verify_consistency(case["size1"], case["size2"], hashes(case["proof"]),
                           decoded(case["root1"]), decoded(case["root2"]))  # fmt: skip

    if case["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


def tree(size: int) -> tuple[list[bytes], LeafHashes]:
    leaves = [f"entry {n}".encode() for n in range(size)]
    return leaves, LeafHashes([leaf_hash(leaf) for leaf in leaves])


def test_the_golden_root_of_rfc_9162s_hashing() -> None:
    """Pinned bytes: SHA-256(0x00 || leaf) and SHA-256(0x01 || left || right), split at the
    largest power of two below the size. Roots already signed must keep verifying."""
    assert root_hash(tree(0)[1], 0) == EMPTY_ROOT
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )  # RFC 6962's empty leaf
    assert root_hash(tree(5)[1], 5).hex() == (
        "7caa345dbd892a66454d6c6512ea3c3ea3f0d3ec21be3fc2e2375705fd38f672"
    )


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 100, 257, 1000])
def test_another_implementation_builds_the_same_tree(size: int) -> None:
    leaves, nodes = tree(size)
    theirs = InmemoryTree(algorithm="sha256")
    for leaf in leaves:
        theirs.append_entry(leaf)
    assert theirs.get_root(size) == root_hash(nodes, size)
    for index in range(0, size, max(1, size // 17)):
        path = theirs.prove_inclusion(index + 1, size).serialize()["path"]  # 1-based there
        assert [bytes.fromhex(h) for h in path[1:]] == inclusion_proof(nodes, index, size)


def flips(hashes: list[bytes]) -> list[list[bytes]]:
    """Every proof that differs from `hashes` in one bit."""
    changed = []
    for n, h in enumerate(hashes):
        for bit in range(len(h) * 8):
            flipped = bytearray(h)
            flipped[bit // 8] ^= 1 << (bit % 8)
            changed.append([*hashes[:n], bytes(flipped), *hashes[n + 1 :]])
    return changed


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_every_inclusion_proof_verifies_and_no_changed_bit_does(point: tuple[int, int]) -> None:
    size, index = point
    leaves, nodes = tree(size)
    root, leaf = root_hash(nodes, size), leaf_hash(leaves[index])
    path = inclusion_proof(nodes, index, size)
    verify_inclusion(leaf, index, size, path, root)
    for changed in flips(path):
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, changed, root)
    for other in {index - 1, index + 1, size} - {index}:
        with pytest.raises(ProofError):
            verify_inclusion(leaf, other, size, path, root)
    if path:
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, path[:-1], root)  # the client checked only part
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, [*path, root], root)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))))
def test_every_consistency_proof_verifies_and_no_changed_bit_does(sizes: tuple[int, int]) -> None:
    first, second = sizes
    _, nodes = tree(second)
    old, new = root_hash(nodes, first), root_hash(nodes, second)
    path = consistency_proof(nodes, first, second)
    verify_consistency(first, second, path, old, new)
    for changed in flips(path):
        with pytest.raises(ProofError):
            verify_consistency(first, second, changed, old, new)
    for bad_old in flips([old]):
        with pytest.raises(ProofError):
            verify_consistency(first, second, path, bad_old[0], new)
    if path:
        with pytest.raises(ProofError):
            verify_consistency(first, second, path[:-1], old, new)
        with pytest.raises(ProofError):
            verify_consistency(first, second, path[1:], old, new)
    forked = LeafHashes([*tree(second - 1)[1].levels[0], leaf_hash(b"another last entry")])
    if first < second:
        with pytest.raises(ProofError):  # a fork: the same size, another history
            verify_consistency(first, second, path, old, root_hash(forked, second))
