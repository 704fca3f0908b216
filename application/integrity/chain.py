"""The hash chain's byte format (DESIGN §7): what each entry's digest is computed over.

An entry's digest is SHA-256 over the digest and position of the entry before
it, the entry's index row (position, clock, idempotency key, stream, ...) and its
stored event exactly as stored (originator, version, topic, state bytes). The
append computes it inside its own unit of work, under the lock that orders
positions (`LedgerIndex`); `verification` recomputes it. The format is pinned by
a golden vector in `tests/test_integrity.py`: digests already stored must keep
verifying, so it never changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

GENESIS = "0" * 64  # the digest "before" the first entry


def _refuse(value: object) -> None:
    raise TypeError(f"{type(value).__name__} is not bound into the chain")


# Compact JSON, every non-ASCII character escaped: one encoder, made once.
_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=_refuse).encode


def entry_digest(
    previous_digest: str,
    previous_position: int,
    index_row: Sequence[Any],
    originator_id: UUID | str,
    originator_version: int,
    topic: str,
    state: bytes,
) -> str:
    """The chain's digest at one entry, given the one before it.

    SHA-256 over the length (8 bytes, big-endian) of a JSON array (the previous
    digest and position, the index row, the originator as 32 hex digits, version and
    topic), that array, and the state bytes exactly as stored.
    """
    originator = (originator_id.hex if type(originator_id) is UUID
                  else str(originator_id).replace("-", "").lower())  # fmt: skip
    header = _encode([previous_digest, previous_position, *index_row,
                      originator, originator_version, topic]).encode()  # fmt: skip
    return hashlib.sha256(b"".join((len(header).to_bytes(8, "big"), header, state))).hexdigest()
