"""The work DESIGN asks of every delivery before anything is stored, measured alone.

A backfill's target is a ratio to a raw batched insert of the same bodies. Whatever
stores the deliveries, each must first be parsed and validated (§4), its personal data
sealed (§5), its event encoded, and its chain digest and tree leaf hashed (§5, §5.4).
The rate of that work alone, on one core, with no storage, routing, deduplication or
read models, is a ceiling no backfill in this Python exceeds on one core: printed beside
the backfill, it says how much of a shortfall is the contract's and how much the ledger's.
"""

from __future__ import annotations

import base64
import json
import os
import time
from uuid import NAMESPACE_URL, uuid5

from application.integrity.chain import GENESIS, entry_digest
from application.privacy.keyring import seal
from application.recording.delivery import read_delivery
from application.transparency.leaves import leaf_bytes
from application.transparency.merkle import leaf_hash, node_hash
from bench.histories import history
from domain.aggregates import Applicant
from domain.personal_data import SEALED, has_personal_data, hide_personal_data

RECORDED_AT = "2026-12-04T00:00:00.000000+00:00"


def required_work_rate(count: int) -> float:
    """Deliveries per second through the contract's own per-delivery work, nothing else."""
    bodies = list(history(count))
    data_key = os.urandom(32)
    topic = Applicant.Recorded.TOPIC
    digest, previous_leaf = GENESIS, b""
    started = time.perf_counter()
    for position, body in enumerate(bodies, 1):
        delivery = read_delivery(body, None)
        event = {"event_type": delivery.event_type, "idempotency_key": delivery.idempotency_key}
        if has_personal_data(delivery.payload):
            hidden = hide_personal_data(delivery.payload, SEALED)
            sealed = seal(data_key, "subject", delivery.body.encode())
            event |= {"body": json.dumps(hidden, ensure_ascii=False),
                      "sealed": base64.b64encode(sealed).decode(), "scope": "subject"}  # fmt: skip
        else:
            event["body"] = delivery.body
        state = json.dumps(event).encode()
        stream_key = str(delivery.payload.get("external_ref", "anonymous"))
        originator = uuid5(NAMESPACE_URL, f"/applicants/{stream_key}")
        row = (position, RECORDED_AT, delivery.idempotency_key, delivery.event_type, 0,
               "applicant", stream_key, originator.hex, position, None, None)  # fmt: skip
        digest = entry_digest(digest, position - 1, row, originator, position, topic, state)
        leaf = leaf_hash(leaf_bytes(row, originator, position, topic, state))
        node_hash(previous_leaf, leaf)  # a tree of n leaves has n - 1 inner nodes
        previous_leaf = leaf
    return count / (time.perf_counter() - started)
