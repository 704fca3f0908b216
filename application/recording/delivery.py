"""An authentic delivery's raw body read into a delivery the ledger can record (DESIGN §4).

A body that is not UTF-8 JSON, not an object, cannot be stored and served back
exactly as sent, claims one of the ledger's own event types, or is a known event
type with missing or mistyped fields, is `NotRecordable`: it is quarantined with
the reasons, never dropped (`Ledger.ingest`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from domain.bounds import MAX_IDENTIFIER_LENGTH
from domain.payloads import ValidationError, validate_payload


@dataclass(frozen=True)
class Delivery:
    """An authentic, readable delivery: the body as Verifa sent it, and what it says."""

    body: str
    payload: dict[str, Any]
    idempotency_key: str
    webhook_id: str | None = None

    @property
    def event_type(self) -> str:
        return str(self.payload["event"])


class NotRecordable(ValueError):
    """An authentic delivery the ledger cannot record as an event; `errors` say why."""

    def __init__(self, reason: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errors = errors


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# Real payloads are a few levels deep; far deeper ones cannot be served back as JSON.
MAX_NESTING = 64


def _storable_problem(value: Any, depth: int = 0) -> str | None:
    """Why a parsed payload could not be stored and served back exactly as sent, if it could not."""
    if depth > MAX_NESTING:
        return f"nested deeper than {MAX_NESTING} levels"
    if isinstance(value, float) and not math.isfinite(value):
        return "a number too large to represent"
    if isinstance(value, str) and "\x00" in value:
        return "a NUL character in a string"
    if isinstance(value, dict):
        children = [*value.keys(), *value.values()]
    else:
        children = value if isinstance(value, list) else []
    for child in children:
        problem = _storable_problem(child, depth + 1)
        if problem:
            return problem
    return None


# What in a body's text could make its payload unstorable: a NUL or surrogate escape, or a
# number that may overflow to infinity. The many bodies with none of these (nor more
# brackets than the nesting limit) skip the checks that walk or re-encode the payload.
_MAYBE_UNSTORABLE = re.compile(r"\\u0000|\\u[dD][89a-fA-F]|[eE][+-]?[0-9]{3}|[0-9]{300}")


def _may_be_unstorable(text: str) -> bool:
    brackets = text.count("{") + text.count("[")
    return brackets > MAX_NESTING or _MAYBE_UNSTORABLE.search(text) is not None


RESERVED_PREFIX = "ledger."  # the ledger's own events, e.g. an erasure request: not from webhooks


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; one that names a key twice is ambiguous (and could hide a field)."""
    unique = dict(pairs)
    if len(unique) != len(pairs):
        names = [name for name, _ in pairs]
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"a key appears twice in one object: {', '.join(repeated)[:200]}")
    return unique


def read_delivery(body: bytes, webhook_id: str | None) -> Delivery:
    """The delivery as a validated JSON object with its deduplication key, or `NotRecordable`."""
    try:
        text = body.decode("utf-8")
        payload = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
        suspicious = _may_be_unstorable(text)
        if suspicious:  # lone surrogates ("\ud800") parse but cannot be stored as UTF-8
            json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeError as error:
        raise NotRecordable("not UTF-8", [{"msg": str(error)}]) from None
    except (ValueError, RecursionError) as error:
        raise NotRecordable("not JSON", [{"msg": str(error)[:500]}]) from None
    if not isinstance(payload, dict):
        raise NotRecordable("not a JSON object", [{"msg": f"got {type(payload).__name__}"}])
    problem = _storable_problem(payload) if suspicious else None
    if problem:
        raise NotRecordable("not storable as sent", [{"msg": problem}])
    event = payload.get("event")
    if isinstance(event, str) and event.startswith(RESERVED_PREFIX):
        reason = f"{RESERVED_PREFIX}* events are the ledger's own, never Verifa's"
        raise NotRecordable("reserved event type", [{"msg": reason}])
    try:
        validate_payload(payload)
    except ValidationError as error:
        errors = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()
        ]
        raise NotRecordable("invalid payload", errors) from None
    key = payload.get("idempotency_key") or webhook_id
    if not key:
        raise NotRecordable(
            "no idempotency key", [{"msg": "no idempotency_key in the body and no webhook-id"}]
        )
    if webhook_id is not None and len(webhook_id) > MAX_IDENTIFIER_LENGTH:
        limit = f"the webhook-id header has at most {MAX_IDENTIFIER_LENGTH} characters"
        raise NotRecordable("webhook-id too long", [{"msg": f"{limit}, got {len(webhook_id)}"}])
    return Delivery(text, payload, key, webhook_id)
