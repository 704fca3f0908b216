"""`/metrics` (DESIGN §6): what an operator's Prometheus scrapes, and `/readyz`.

Counters are process-wide, so each test reads what changed across its own requests.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from application.webhook_authentication.signature import signed_headers
from projections.models import CheckModel
from tests.helpers import SECRET, LedgerClient, Payload, seed_examples, session_event
from tests.servers import LedgerServer

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(text: str) -> Samples:
    """Every sample of an exposition, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delivered(outcome: str, samples: Samples) -> float:
    return value(samples, "ledger_deliveries_total", outcome=outcome)


def fresh(event: str = "check.completed", **fields: Any) -> Payload:
    payload = next(p for p in seed_examples() if p["event"] == event)
    return {**payload, "idempotency_key": f"k_{uuid.uuid4().hex}", **fields}


def test_deliveries_are_counted_by_outcome(client: LedgerClient) -> None:
    before = scrape(client.get("/metrics").text)
    recorded = fresh()
    assert client.deliver(recorded).json()["status"] == "recorded"
    assert client.deliver(recorded).json()["status"] == "duplicate"
    huge_count = fresh("check.monitoring.new_hits", new_hit_count=10**4299)
    assert client.deliver(huge_count).json()["status"] == "quarantined"
    assert client.deliver(fresh(check_id="x" * 3000)).json()["status"] == "quarantined"
    assert client.deliver(fresh(), **{"webhook-signature": "v1,AAAA"}).status_code == 401
    after = scrape(client.get("/metrics").text)
    change = {o: delivered(o, after) - delivered(o, before)
              for o in ("recorded", "duplicate", "quarantined", "refused")}  # fmt: skip
    assert change == {"recorded": 1, "duplicate": 1, "quarantined": 2, "refused": 1}
    appended = "ledger_append_seconds_count"  # every authentic delivery, whatever its outcome
    assert value(after, appended) - value(before, appended) == 4
    batches = (value(after, "ledger_group_commit_batch_size_count")
               - value(before, "ledger_group_commit_batch_size_count"))  # fmt: skip
    assert batches >= 2  # the recorded one and its duplicate, each in a batch of its own


def test_requests_are_timed_by_route_template_never_by_path(client: LedgerClient) -> None:
    assert client.deliver(session_event(session_id="s1", ref="u_1", key="k1")).status_code == 200
    assert client.read("/subjects/u_1/timeline").status_code == 200
    assert client.read("/subjects/u_secret_name/timeline").status_code == 404
    assert client.request("BREW", "/nowhere").status_code in (404, 405)
    text = client.get("/metrics").text
    samples = scrape(text)
    count = "ledger_request_seconds_count"
    labels = {"method": "GET", "route": "/subjects/{external_ref:path}/timeline"}
    assert value(samples, count, **labels, status="200") >= 1
    assert value(samples, count, **labels, status="404") >= 1
    assert value(samples, count, method="other", route="unmatched", status="404") >= 1
    assert "u_secret_name" not in text and "BREW" not in text


def test_metrics_show_each_read_models_lag_and_the_rows_it_set_aside(
    client: LedgerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*args: Any) -> Any:
        raise RuntimeError("a fold that fails")

    monkeypatch.setattr(CheckModel, "row", failing)
    client.deliver(fresh(check_id="chk_1"))
    client.deliver(fresh("session.created", session_id="s_1", external_ref="u_1"))
    lagging = scrape(client.get("/metrics").text)
    head = value(lagging, "ledger_head_position")
    assert head == 2
    lags = {dict(labels)["name"]: v for (name, labels), v in lagging.items()
            if name == "ledger_projection_lag_entries"}  # fmt: skip
    assert lags["sessions"] == lags["checks"] == 2  # nothing applied yet
    client.caught_up()
    caught_up = scrape(client.get("/metrics").text)
    by_name: dict[str, dict[str, float]] = {}
    for (name, labels), v in caught_up.items():
        if name.startswith("ledger_projection_"):
            by_name.setdefault(dict(labels)["name"], {})[name] = v
    assert all(m["ledger_projection_lag_entries"] == 0 for m in by_name.values()), by_name
    assert all(m["ledger_projection_position"] == head for m in by_name.values()), by_name
    assert by_name["checks"]["ledger_projection_unapplied_rows"] == 1
    assert by_name["sessions"]["ledger_projection_unapplied_rows"] == 0


def test_metrics_show_what_the_latest_signed_checkpoint_covers(client: LedgerClient) -> None:
    """Head minus checkpoint size: the entries no signed checkpoint proves yet."""
    assert value(scrape(client.get("/metrics").text), "ledger_checkpoint_size") == 0
    for n in range(3):
        client.deliver(session_event(session_id=f"s{n}", ref="u_1", key=f"k{n}"))
    client.read("/ledger/checkpoint")
    client.deliver(session_event(session_id="s9", ref="u_1", key="k9"))
    samples = scrape(client.get("/metrics").text)
    assert value(samples, "ledger_checkpoint_size") == 3
    assert value(samples, "ledger_head_position") == 4


def test_readyz_gives_the_head_and_healthz_asks_nothing_of_the_store(client: LedgerClient) -> None:
    client.deliver(session_event(session_id="s1", ref="u_1", key="k1"))
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["head"]["position"] == 1
    assert client.get("/healthz").json() == {"status": "ok"}


def test_every_api_process_answers_for_all_of_them(tmp_path: Path) -> None:
    """With `--workers 2`, a scrape reaching either process counts the deliveries of both."""
    server = LedgerServer(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path, workers=2).start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        for n in range(20):  # each on a connection of its own: the processes share them out
            body = json.dumps(session_event(session_id=f"s{n}", ref="u_1", key=f"k{n}")).encode()
            answer = httpx.post(f"{url}/webhooks/verifa", content=body,
                                headers=signed_headers(SECRET, body), timeout=30)  # fmt: skip
            assert answer.json()["status"] == "recorded"
        for _ in range(10):
            samples = scrape(httpx.get(f"{url}/metrics", timeout=10).text)
            assert delivered("recorded", samples) == 20
            assert value(samples, "ledger_head_position") == 20
    finally:
        server.stop()
