"""From an authentic delivery's raw body to a ledger answer (DESIGN §4).

Every authentic delivery gets an answer that says where it went: recorded (with
its position), a duplicate of an earlier one (with the original's position), or
quarantined (with an id to find it again). None is ever dropped.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from domain.payloads import ValidationError, validate_payload
from ledger.application import Delivery, Duplicate, Ledger, Recorded


@dataclass(frozen=True)
class Quarantined:
    id: str
    status: ClassVar[str] = "quarantined"


Outcome = Recorded | Duplicate | Quarantined


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
    return Delivery(text, payload, key, webhook_id)


def ingest(ledger: Ledger, body: bytes, webhook_id: str | None) -> Outcome:
    """Record, recognise as duplicate, or quarantine one authentic delivery."""
    try:
        delivery = read_delivery(body, webhook_id)
    except NotRecordable as problem:
        return Quarantined(ledger.quarantine.hold(body, webhook_id, problem.reason, problem.errors))
    return ledger.record(delivery)


async def ingest_async(ledger: Ledger, body: bytes, webhook_id: str | None) -> Outcome:
    """As `ingest`, for the web server: parsing runs in its event loop, the append waits for
    its group commit without holding a thread, and a quarantine write runs in a thread."""
    try:
        delivery = read_delivery(body, webhook_id)
    except NotRecordable as problem:
        held = await asyncio.to_thread(
            ledger.quarantine.hold, body, webhook_id, problem.reason, problem.errors
        )
        return Quarantined(held)
    return await ledger.record_async(delivery)


def ingest_all(ledger: Ledger, bodies: Sequence[bytes], chunk: int = 1024) -> list[Outcome]:
    """A backfill: the outcome of ingesting each body in turn, appended in batches."""
    outcomes: list[Outcome] = []
    for start in range(0, len(bodies), chunk):
        outcomes += _ingest_chunk(ledger, bodies[start : start + chunk])
    return outcomes


def _ingest_chunk(ledger: Ledger, bodies: Sequence[bytes]) -> list[Outcome]:
    outcomes: list[Outcome | None] = []
    readable: list[tuple[int, Delivery]] = []
    for body in bodies:
        try:
            readable.append((len(outcomes), read_delivery(body, None)))
            outcomes.append(None)
        except NotRecordable as problem:
            held = ledger.quarantine.hold(body, None, problem.reason, problem.errors)
            outcomes.append(Quarantined(held))
    recorded = ledger.record_all([delivery for _, delivery in readable])
    for (index, _), outcome in zip(readable, recorded, strict=True):
        outcomes[index] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


@dataclass(frozen=True)
class Replay:
    """What re-processing the quarantine did: entries released and those still held."""

    released: list[tuple[str, int]]
    still_held: list[str]


def replay_quarantine(ledger: Ledger) -> Replay:
    """Re-process every held delivery with the current rules; release those that now pass."""
    released, held = [], []
    for entry in ledger.quarantine.list():
        try:
            delivery = read_delivery(entry.body, entry.webhook_id)
        except NotRecordable:
            held.append(entry.id)
            continue
        outcome = ledger.record(delivery)
        ledger.quarantine.release(entry.id, outcome.position)
        released.append((entry.id, outcome.position))
    return Replay(released, held)
