"""Shared fixtures: a ledger on each store, and a client that signs deliveries like Verifa."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.application import Ledger
from ledger.keyring import parse_master_key
from ledger.services import Services
from ledger.settings import Credentials, Settings
from ledger.webhook_signature import WebhookSecret, signed_headers
from tests.databases import STORES, NewDatabase, drop_run_databases, fresh_database_url

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = WebhookSecret(b"test-secret-0123456789abcdef0123")
ROTATED_SECRET = WebhookSecret(b"rotated-secret-0123456789abcdef0")
TOKENS = {"auditor-token": "auditor", "officer-token": "officer", "admin-token": "admin"}
MASTER_KEY_TEXT = "dGVzdC1tYXN0ZXIta2V5LTAxMjM0NTY3ODlhYmNkZWY="  # 32 bytes, for tests only
MASTER_KEY = parse_master_key(MASTER_KEY_TEXT)


def seed_examples() -> list[dict[str, Any]]:
    """One payload per Verifa event type, as in Verifa's tutorial."""
    lines = (FIXTURES / "seed-examples.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    drop_run_databases()


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> str:
    """Which store a test runs on: every storage test runs on both."""
    return str(request.param)


@pytest.fixture
def new_database(store: str, tmp_path: Path) -> NewDatabase:
    """Makes a fresh database of the test's store, as often as a test needs one."""
    return lambda: fresh_database_url(store, tmp_path / "databases")


@pytest.fixture
def ledger(new_database: NewDatabase) -> Iterator[Ledger]:
    ledger = Ledger.open(new_database(), master_key=MASTER_KEY)
    yield ledger
    ledger.close()


@pytest.fixture
def services(new_database: NewDatabase, tmp_path: Path) -> Iterator[Services]:
    settings = Settings(database_url=new_database(), data_dir=tmp_path / "var")
    credentials = Credentials([SECRET, ROTATED_SECRET], dict(TOKENS), MASTER_KEY)
    services = Services.open(settings, credentials)
    yield services
    services.close()


class LedgerClient(TestClient):
    """A test client that can sign deliveries like Verifa and read like each role."""

    services: Services

    def deliver(self, payload: dict[str, Any] | bytes, **header_overrides: str) -> Any:
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


@pytest.fixture
def client(services: Services) -> Iterator[LedgerClient]:
    app = create_app(services)
    with LedgerClient(app) as test_client:
        test_client.services = services
        yield test_client
