"""The real thing: `ledger serve` in its own process, signed deliveries over HTTP.

Random interleaved, retried and out-of-order histories go in through concurrent
connections; every subject's status as of every position must be what the
reference model of DESIGN §5 says of that prefix, and the live answer must equal
the as-of answer at the head.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from application.webhook_authentication.signature import signed_headers
from tests.databases import STORES, empty_postgres_database
from tests.helpers import SECRET, wait_until
from tests.reference_model import ReferenceLedger, mismatches, status_paths
from tests.servers import ADMIN, AUDITOR, LedgerServer
from tests.strategies import histories

RUNS = count()


@pytest.fixture(scope="module", params=STORES)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LedgerServer]:
    folder: Path = tmp_path_factory.mktemp("server")
    if request.param == "postgres":
        database_url = empty_postgres_database(f"ledger_tests_server_{os.getpid()}")
    else:
        database_url = f"sqlite:///{folder / 'ledger.db'}"
    served = LedgerServer(database_url, folder).start()
    try:
        yield served
    finally:
        served.stop()


def prefixed(payload: dict[str, Any], run: str) -> dict[str, Any]:
    """The same delivery about different people, so runs do not share subjects."""
    ids = (
        "idempotency_key",
        "external_ref",
        "session_id",
        "check_id",
        "case_id",
        "document_id",
        "identity_id",
    )
    return {k: f"{run}{v}" if k in ids and isinstance(v, str) else v for k, v in payload.items()}


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(history=histories(max_size=24))
def test_served_answers_follow_the_rules_for_random_histories(
    served: LedgerServer, history: list[dict[str, Any]]
) -> None:
    server = served.client
    run = f"r{next(RUNS)}_"
    bodies = [json.dumps(prefixed(p, run)).encode() for p in history]

    def post(body: bytes) -> dict[str, Any]:
        answer = server.post("/webhooks/verifa", content=body, headers=signed_headers(SECRET, body))
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(post, bodies))
    assert {a["status"] for a in answers} <= {"recorded", "duplicate"}

    recorded = {
        a["position"]: json.loads(b)
        for a, b in zip(answers, bodies, strict=True)
        if a["status"] == "recorded"
    }
    assert len(recorded) == len({json.loads(b)["idempotency_key"] for b in bodies})
    model = ReferenceLedger()
    subjects = sorted({p["external_ref"] for p in recorded.values() if p.get("external_ref")})
    for position, payload in sorted(recorded.items()):
        model.record(position, payload)
        for subject in subjects:
            answer = server.get(
                f"/subjects/{subject}/status", params={"as_of": position}, headers=AUDITOR
            )
            expected = model.status(subject)
            if expected is None:
                assert answer.status_code == 404
            else:
                body = answer.json()
                assert body.pop("as_of")["position"] == position
                assert mismatches(expected, status_paths(body)) == []

    wait_until(lambda: all(s["lag"] == 0 for s in server.get("/projections", headers=ADMIN)
                           .json()["projections"]), what="the projections caught up")  # fmt: skip
    head = server.get("/readyz").json()["head"]["position"]
    for subject in subjects:
        live = server.get(f"/subjects/{subject}/status", headers=AUDITOR).json()
        exact = server.get(
            f"/subjects/{subject}/status", params={"as_of": head}, headers=AUDITOR
        ).json()
        assert live == exact
