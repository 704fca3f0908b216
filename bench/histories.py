"""Realistic delivery histories for benchmarks: many subjects, every event type, retries and
deliveries out of order, as Verifa sends them."""

from __future__ import annotations

import json
import random
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
    """`count` delivery bodies: subjects interleaved, about one in ten a retry of an earlier one."""
    rng = random.Random(seed)
    per_subject = len(templates())
    subjects = max(1, count // per_subject)
    queues = [subject_deliveries(n, rng) for n in range(subjects)]
    sent: list[bytes] = []
    produced = 0
    while produced < count:
        if sent and rng.random() < 0.1:
            body = rng.choice(sent[-2000:])
        else:
            live = [q for q in queues if q]
            if not live:
                queues = [subject_deliveries(subjects + n, rng) for n in range(subjects)]
                subjects *= 2
                continue
            body = json.dumps(rng.choice(live[:64]).pop(0)).encode()
            sent.append(body)
        produced += 1
        yield body
