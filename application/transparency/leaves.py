"""The bytes of a leaf (DESIGN §7.1): one stored entry, as canonical JSON, personal data sealed.

A leaf binds every column of an entry's index row and of its stored event: a
changed byte in either changes the leaf. The stored event's state holds the body
with personal data replaced by `[sealed]` and the body as sent encrypted (or
`[erased]`), so a leaf is safe to give an auditor, and erasure, which destroys a
key and nothing stored, changes no leaf. Keys sorted, no spaces, every non-ASCII
character escaped: the same entry always gives the same bytes. The format is
pinned by a golden vector (`tests/test_transparency_log.py`): signed roots must
keep verifying, so it never changes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from application.storage.schema import INDEX_FIELDS

_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), sort_keys=True).encode


def leaf_bytes(
    index_row: Sequence[Any], originator_id: UUID | str, originator_version: int, topic: str,
    state: bytes,
) -> bytes:  # fmt: skip
    """The leaf of one entry: its index row (fields as `INDEX_FIELDS` orders them) and its
    stored event. Raises `ValueError` for a state that is not UTF-8 text."""
    row = dict(zip(INDEX_FIELDS, index_row, strict=True))
    originator = (originator_id.hex if type(originator_id) is UUID
                  else str(originator_id).replace("-", "").lower())  # fmt: skip
    leaf = {
        "position": row["position"],
        "recorded_at": row["recorded_at"],
        "idempotency_key": row["idempotency_key"],
        "event": row["event_type"],
        "session_event": bool(row["session_event"]),
        "aggregate": {"type": row["stream_type"], "id": row["stream_key"]},
        "stream": {"id": row["stream_id"], "version": row["stream_version"]},
        "session_id": row["session_id"],
        "webhook_id": row["webhook_id"],
        "stored": {
            "originator_id": originator,
            "originator_version": originator_version,
            "topic": topic,
            "state": state.decode("utf-8"),
        },
    }
    return _encode(leaf).encode("ascii")


def read_leaf(leaf: bytes) -> dict[str, Any]:
    """A leaf's fields, with its stored state parsed (what an offline verifier folds)."""
    fields: dict[str, Any] = json.loads(leaf)
    fields["stored"] = {**fields["stored"], "state": json.loads(fields["stored"]["state"])}
    return fields
