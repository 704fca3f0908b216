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
from json.encoder import encode_basestring_ascii
from typing import Any
from uuid import UUID

_text = encode_basestring_ascii  # a JSON string, non-ASCII escaped; TypeError if not a str


def leaf_bytes(
    index_row: Sequence[Any], originator_id: UUID | str, originator_version: int, topic: str,
    state: bytes,
) -> bytes:  # fmt: skip
    """The leaf of one entry: its index row (fields as `INDEX_FIELDS` orders them) and its
    stored event. Raises `TypeError` or `ValueError` for a value of another type than the
    ledger stores (a row changed behind its back), or a state that is not UTF-8 text.

    Written out field by field, in the keys' sorted order, as `json.dumps(leaf,
    sort_keys=True, separators=(",", ":"), ensure_ascii=True)` would (a test holds it to
    that): `ledger verify` builds a leaf for every entry, and this is five times faster.
    """
    (position, recorded_at, key, event, session_event, stream_type, stream_key, stream_id,
     stream_version, session_id, webhook_id) = index_row  # fmt: skip
    if not (type(position) is int and type(originator_version) is int
            and type(stream_version) is int and type(session_event) is int
            and session_event in (0, 1)):  # fmt: skip
        raise TypeError("a value of another type than the ledger stores")
    originator = (originator_id.hex if type(originator_id) is UUID
                  else str(originator_id).replace("-", "").lower())  # fmt: skip
    session = "null" if session_id is None else _text(session_id)
    webhook = "null" if webhook_id is None else _text(webhook_id)
    return (
        f'{{"aggregate":{{"id":{_text(stream_key)},"type":{_text(stream_type)}}},'
        f'"event":{_text(event)},"idempotency_key":{_text(key)},'
        f'"position":{position},"recorded_at":{_text(recorded_at)},'
        f'"session_event":{"true" if session_event else "false"},"session_id":{session},'
        f'"stored":{{"originator_id":{_text(originator)},'
        f'"originator_version":{originator_version},'
        f'"state":{_text(bytes(state).decode("utf-8"))},"topic":{_text(topic)}}},'
        f'"stream":{{"id":{_text(stream_id)},"version":{stream_version}}},'
        f'"webhook_id":{webhook}}}'
    ).encode("ascii")


def read_leaf(leaf: bytes) -> dict[str, Any]:
    """A leaf's fields, with its stored state parsed (what an offline verifier folds)."""
    fields: dict[str, Any] = json.loads(leaf)
    fields["stored"] = {**fields["stored"], "state": json.loads(fields["stored"]["state"])}
    return fields
