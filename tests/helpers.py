"""What the tests share: credentials, Verifa-like payloads, ledgers, a signing client, and waits
that always have a deadline."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from application.ledger import Ledger
from application.privacy.keyring import parse_master_key
from application.recording.outcomes import Duplicate, Outcome, Recorded
from application.recording.stream_cache import StreamCache
from application.storage.stream_loading import StreamLoading
from application.transparency.checkpoints import SigningKey
from application.webhook_authentication.signature import WebhookSecret, signed_headers
from bootstrap.services import Services
from cli.main import main
from domain.entries import AsOf, LedgerEntry, StreamKey
from domain.routing import QUARANTINED
from tests.databases import NewDatabase

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = WebhookSecret(b"test-secret-0123456789abcdef0123")
ROTATED_SECRET = WebhookSecret(b"rotated-secret-0123456789abcdef0")
TOKENS = {"auditor-token": "auditor", "officer-token": "officer", "admin-token": "admin"}
MASTER_KEY_TEXT = "dGVzdC1tYXN0ZXIta2V5LTAxMjM0NTY3ODlhYmNkZWY="  # 32 bytes, for tests only
MASTER_KEY = parse_master_key(MASTER_KEY_TEXT)
SIGNING_KEY_TEXT = (
    "PRIVATE+KEY+ledger.test/log+26bbe801+AcaA0Yd/2KwHigk4X7AZPpXzUFBDEEeqZ6PRM5CjWgSz"
)
SIGNING_KEY = SigningKey.parse(SIGNING_KEY_TEXT)  # for tests only

Payload = dict[str, Any]

# Property tests that open a database per example: fewer examples, no deadline.
STORAGE_EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # each example asks the fixture for a new database
    ],
)


def seed_examples() -> list[Payload]:
    """One payload per Verifa event type, as in Verifa's tutorial."""
    lines = (FIXTURES / "seed-examples.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def session_event(
    event: str = "session.created", *, session_id: str, ref: str | None, key: str, **fields: Any
) -> Payload:
    """A valid `session.*` delivery: the fields its type requires are filled in."""
    required = {"session.approved": {"status": "approved"},
                "session.declined": {"status": "rejected"},
                "session.resubmission-required": {"reason": "blurry"}}  # fmt: skip
    return {"event": event, "session_id": session_id, "external_ref": ref, "is_sandbox": False,
            "idempotency_key": key, **required.get(event, {}), **fields}  # fmt: skip


def wait_until(condition: Callable[[], Any], *, timeout: float = 30.0, what: str = "") -> Any:
    """Poll `condition` until it is true (its value is returned), failing the test after
    `timeout` seconds: no wait in the tests is without a deadline."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"not {what or 'true'} after {timeout} s")
        time.sleep(0.05)
    return value


@contextmanager
def fresh_ledger(new_database: NewDatabase) -> Iterator[Ledger]:
    """A ledger on a database of its own (for hypothesis examples, one each)."""
    ledger = Ledger.open(new_database(), master_key=MASTER_KEY)
    try:
        yield ledger
    finally:
        ledger.close()


def deliver_all(ledger: Ledger, history: list[Payload]) -> list[Recorded | Duplicate]:
    """Ingest each payload in turn; every one must be recorded or a duplicate."""
    outcomes = [ledger.ingest(json.dumps(p).encode(), None) for p in history]
    assert all(isinstance(o, Recorded | Duplicate) for o in outcomes), outcomes
    return outcomes  # type: ignore[return-value]


def position_of(outcome: Outcome) -> int:
    """Where a delivery that must have been recorded (or was already) is in the ledger."""
    assert isinstance(outcome, Recorded | Duplicate), outcome
    return outcome.position


def all_entries(ledger: Ledger) -> list[LedgerEntry]:
    """Every entry of the ledger, in position order, as stored (personal data sealed)."""
    with ledger.reading() as history:
        return history.feed.entries(history.positions.head())


def verifa_entries(ledger: Ledger) -> list[LedgerEntry]:
    """The entries of Verifa's deliveries: all but the ledger's own records of the deliveries
    it holds in quarantine (`ledger.quarantined`)."""
    return [e for e in all_entries(ledger) if e.event_type != QUARANTINED]


def quarantine_records(ledger: Ledger) -> list[str]:
    """The quarantine ids the ledger recorded holding, in position order."""
    return [str(e.payload["quarantine_id"]) for e in all_entries(ledger)
            if e.event_type == QUARANTINED]  # fmt: skip


def entry_count(ledger: Ledger) -> int:
    with ledger.reading() as history:
        return history.feed.count_after(0)


def stale_loads(monkeypatch: pytest.MonkeyPatch, stream: StreamKey, seen_at: int, times: int
                ) -> list[int]:  # fmt: skip
    """The next `times` batches that append to `stream` find it as it was at position `seen_at`:
    as when another process appends to it between a batch's read and its insert. Returns a
    list that grows by one each time."""
    stale: list[int] = []
    take = StreamCache.take

    def stale_take(self: StreamCache, ids: Sequence[UUID], stored: StreamLoading) -> Any:
        streams = take(self, ids, stored)
        if stream.id in streams and len(stale) < times:
            stale.append(1)
            as_seen = stored.as_of(stream, AsOf(seen_at, None))
            assert as_seen is not None
            streams[stream.id] = as_seen
        return streams

    monkeypatch.setattr(StreamCache, "take", stale_take)
    return stale


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    """`ledger ARGV --json` in this process; its parsed output (earlier output discarded)."""
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


class LedgerClient(TestClient):
    """A test client that can sign deliveries like Verifa and read like each role."""

    services: Services

    def deliver(self, payload: Payload | bytes, **header_overrides: str) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {**signed_headers(SECRET, body), **header_overrides}
        return self.post("/webhooks/verifa", content=body, headers=headers)

    def read(self, path: str, role: str = "auditor", **params: Any) -> Any:
        token = next(t for t, r in TOKENS.items() if r == role)
        return self.get(path, params=params, headers={"Authorization": f"Bearer {token}"})

    def caught_up(self) -> LedgerClient:
        """Bring the read models to the ledger head (the server does this in the background)."""
        self.services.runner.catch_up()
        return self
