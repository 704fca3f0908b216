"""The real thing: `ledger serve` in its own process, signed deliveries over HTTP.

Random interleaved, retried and out-of-order histories go in through concurrent
connections; every subject's status as of every position must equal the oracle's
fold of that prefix, and the live answer must equal the as-of answer at the head.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from domain.entries import LedgerEntry
from domain.routing import route
from ledger.webhook_signature import signed_headers
from tests.conftest import SECRET
from tests.databases import STORES, empty_postgres_database
from tests.histories import deliveries
from tests.test_properties import oracle_status

AUDITOR = {"Authorization": "Bearer auditor-token"}
ADMIN = {"Authorization": "Bearer admin-token"}
RUNS = count()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    folder: Path = tmp_path_factory.mktemp("server")
    if request.param == "postgres":
        database_url = empty_postgres_database("ledger_tests_server")
    else:
        database_url = f"sqlite:///{folder / 'ledger.db'}"
    port = free_port()
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_WEBHOOK_SECRETS": str(SECRET),
        "LEDGER_API_TOKENS": "auditor-token:auditor,admin-token:admin",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ledger.cli", "serve", "--port", str(port)],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        for _ in range(100):
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("ledger serve did not start")
        yield client
    finally:
        process.terminate()
        process.wait(timeout=10)
        client.close()


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


def wait_for_projections(server: httpx.Client) -> None:
    for _ in range(100):
        states = server.get("/projections", headers=ADMIN).json()["projections"]
        if all(state["lag"] == 0 for state in states):
            return
        time.sleep(0.05)
    pytest.fail("projections did not catch up")


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(history=deliveries(max_size=30))
def test_served_answers_follow_the_rules_for_random_histories(
    server: httpx.Client, history: list[dict[str, Any]]
) -> None:
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
    entries = [
        LedgerEntry(position, "", p["event"], p["idempotency_key"], route(p), p)
        for position, p in sorted(recorded.items())
    ]
    subjects = sorted({p["external_ref"] for p in recorded.values() if p.get("external_ref")})
    for number, entry in enumerate(entries, start=1):
        for subject in subjects:
            answer = server.get(
                f"/subjects/{subject}/status", params={"as_of": entry.position}, headers=AUDITOR
            )
            expected = oracle_status(entries[:number], subject)
            if expected is None:
                assert answer.status_code == 404
            else:
                body = answer.json()
                assert body.pop("as_of")["position"] == entry.position
                assert body == expected

    wait_for_projections(server)
    head = server.get("/healthz").json()["head"]["position"]
    for subject in subjects:
        live = server.get(f"/subjects/{subject}/status", headers=AUDITOR).json()
        exact = server.get(
            f"/subjects/{subject}/status", params={"as_of": head}, headers=AUDITOR
        ).json()
        assert live == exact
