"""Fixtures: a ledger on each store, services and a client that signs deliveries like Verifa,
and a command line on a demo ledger. Shared helpers are in `tests/helpers.py`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_app
from application.ledger import Ledger
from application.transparency import leaf_workers
from bootstrap.credentials import Credentials
from bootstrap.services import Services
from bootstrap.settings import Settings
from cli.main import main
from tests.databases import STORES, NewDatabase, drop_run_databases, fresh_database_url
from tests.helpers import MASTER_KEY, ROTATED_SECRET, SECRET, SIGNING_KEY, TOKENS, LedgerClient


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    drop_run_databases()


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> str:
    """Which store a test runs on: every storage test runs on both."""
    return str(request.param)


@pytest.fixture(params=["hashed here", "hashed by workers"])
def leaf_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Verification recomputes every leaf in its own process, or, for a large log, in worker
    processes (`leaf_workers`): tests of what it catches run both ways."""
    if request.param == "hashed by workers":
        monkeypatch.setattr(leaf_workers, "MIN_ENTRIES", 0)
        monkeypatch.setattr(leaf_workers, "SPAN", 7)  # many spans, even for a few entries
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
    credentials = Credentials([SECRET, ROTATED_SECRET], dict(TOKENS), MASTER_KEY, SIGNING_KEY)
    services = Services.open(settings, credentials)
    yield services
    services.close()


@pytest.fixture
def client(services: Services) -> Iterator[LedgerClient]:
    app = create_app(services)
    with LedgerClient(app) as test_client:
        test_client.services = services
        yield test_client


@pytest.fixture
def cli_ledger(new_database: NewDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line's settings on a fresh database holding the demo history."""
    monkeypatch.setenv("LEDGER_DATABASE_URL", new_database())
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "data"))
    assert main(["demo"]) == 0
