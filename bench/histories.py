"""Realistic delivery histories for benchmarks: many subjects, every event type, retries and
deliveries out of order, as Verifa sends them."""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SEED_EXAMPLES = Path(__file__).parent.parent / "tests" / "fixtures" / "seed-examples.jsonl"
ID_FIELDS = ("external_ref", "session_id", "check_id", "case_id", "document_id", "identity_id")


def templates() -> list[dict[str, Any]]:
    """One payload per Verifa event type (the tutorial's examples)."""
    lines = SEED_EXAMPLES.read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def subject_deliveries(n: int, rng: random.Random) -> list[dict[str, Any]]:
    """Every event type once for subject `n`, with ids of its own; some checks arrive knowing
    only their session, and neighbours sometimes swap places (out-of-order delivery)."""
    deliveries = []
    for i, template in enumerate(templates()):
        payload = json.loads(json.dumps(template))
        for field in ID_FIELDS:
            if payload.get(field):
                payload[field] = f"{payload[field]}_{n}"
        if payload["event"].startswith("check.") and rng.random() < 0.2:
            payload.pop("external_ref", None)
        payload["idempotency_key"] = f"bench_{n}_{i}"
        deliveries.append(payload)
    for i in range(len(deliveries) - 1):
        if rng.random() < 0.15:
            deliveries[i], deliveries[i + 1] = deliveries[i + 1], deliveries[i]
    return deliveries


def history(count: int, seed: int = 7) -> Iterator[bytes]:
    """`count` delivery bodies: subjects interleaved (64 at a time), about one in ten a retry
    of one of the last 2,000. Each body costs the same whatever `count` is, and memory stays
    small: a million is as cheap per body as a thousand."""
    rng = random.Random(seed)
    subjects = max(1, count // len(templates()))
    started = 0  # subjects whose deliveries were generated
    active: list[list[dict[str, Any]]] = []  # their deliveries not sent yet
    recent: deque[bytes] = deque(maxlen=2000)
    produced = 0
    while produced < count:
        if recent and rng.random() < 0.1:
            body = recent[rng.randrange(len(recent))]
        else:
            while len(active) < 64 and started < subjects:
                active.append(subject_deliveries(started, rng))
                started += 1
            if not active:
                subjects *= 2
                continue
            queue = rng.choice(active)
            body = json.dumps(queue.pop(0)).encode()
            if not queue:
                active.remove(queue)
            recent.append(body)
        produced += 1
        yield body
