"""When the store is out of reach, nothing is acknowledged: 503, so Verifa retries. Any other
store failure is a fault that every retry would meet again: 500, logged with its traceback."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool
import pytest
from eventsourcing.persistence import (
    ConnectionUnavailableError,
    DatabaseError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
)

from application.ledger import Ledger
from application.storage.unit_of_work import UnitOfWork
from tests.databases import require_postgres
from tests.helpers import LedgerClient, seed_examples
from tests.servers import free_port

# Errors as the stores raise them, wrapped as the `eventsourcing` library wraps them.


def _wrapped(wrapper: type[PersistenceError], cause: Exception) -> PersistenceError:
    try:
        raise wrapper(str(cause)) from cause
    except PersistenceError as error:
        return error


def sqlite_busy(folder: Path) -> PersistenceError:
    """SQLite's answer when another connection holds the write lock past the timeout."""
    path = folder / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        sqlite3.connect(path, timeout=0, isolation_level=None).execute("BEGIN EXCLUSIVE")
    except sqlite3.OperationalError as busy:
        return _wrapped(OperationalError, busy)
    finally:
        holder.close()
    raise AssertionError("the second writer got the lock")


def sqlite_missing_table(folder: Path) -> PersistenceError:
    try:
        sqlite3.connect(folder / "empty.db").execute("SELECT * FROM ledger_entries")
    except sqlite3.OperationalError as missing:  # SQLite calls this "operational" too
        return _wrapped(OperationalError, missing)
    raise AssertionError("an empty database has a table")


def postgres_refused(folder: Path) -> PersistenceError:
    """What connecting gives when no server listens."""
    try:
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{free_port()}/x", connect_timeout=5)
    except psycopg.OperationalError as refused:
        return _wrapped(OperationalError, refused)
    raise AssertionError("something listens on a free port")


def postgres_pool_timeout(folder: Path) -> PersistenceError:
    return _wrapped(OperationalError, psycopg_pool.PoolTimeout("couldn't get a connection"))


def postgres_missing_table(folder: Path) -> PersistenceError:
    require_postgres()
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as connection:
        try:
            connection.execute("SELECT * FROM ledger_entries")
        except psycopg.ProgrammingError as missing:
            return _wrapped(ProgrammingError, missing)
    raise AssertionError("the postgres database has a ledger table")


def library_pool_timeout(folder: Path) -> PersistenceError:
    return ConnectionUnavailableError("timed out waiting for a connection")


def unexplained(folder: Path) -> PersistenceError:
    return _wrapped(DatabaseError, ValueError("a bug of our own"))


OUT_OF_REACH = [sqlite_busy, postgres_refused, postgres_pool_timeout, library_pool_timeout]
FAULTS = [sqlite_missing_table, postgres_missing_table, unexplained,
          lambda folder: OperationalError("no cause given")]  # fmt: skip
MakeError = Callable[[Path], PersistenceError]


def fail_with(error: PersistenceError) -> Callable[..., Any]:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise error

    return failing


@pytest.mark.parametrize("make_error", OUT_OF_REACH)
def test_an_append_the_store_cannot_take_answers_503_and_stores_nothing(
    client: LedgerClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_error: MakeError
) -> None:
    monkeypatch.setattr(Ledger, "save", fail_with(make_error(tmp_path)))
    answer = client.deliver(seed_examples()[0])
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert client.services.ledger.as_of().position == 0


def test_the_same_delivery_is_recorded_once_the_store_is_back(
    client: LedgerClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with monkeypatch.context() as broken:
        broken.setattr(Ledger, "save", fail_with(sqlite_busy(tmp_path)))
        assert client.deliver(seed_examples()[0]).status_code == 503
    assert client.deliver(seed_examples()[0]).json() == {"status": "recorded", "position": 1}


@pytest.mark.parametrize("make_error", OUT_OF_REACH)
def test_reads_answer_503_when_the_store_is_out_of_reach(
    client: LedgerClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_error: MakeError
) -> None:
    monkeypatch.setattr(UnitOfWork, "rows", fail_with(make_error(tmp_path)))
    answer = client.read("/subjects/user_456/timeline")
    assert (answer.status_code, answer.headers["retry-after"]) == (503, "1")


@pytest.mark.parametrize("make_error", FAULTS)
@pytest.mark.parametrize("reach", ["append", "read"])
def test_any_other_store_failure_is_a_500_logged_with_its_traceback(
    client: LedgerClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_error: MakeError,
    reach: str,
) -> None:
    error = make_error(tmp_path)
    if reach == "append":
        monkeypatch.setattr(Ledger, "save", fail_with(error))
        answer = client.deliver(seed_examples()[0])
    else:
        monkeypatch.setattr(UnitOfWork, "rows", fail_with(error))
        answer = client.read("/subjects/user_456/timeline")
    assert answer.status_code == 500
    assert "retry-after" not in answer.headers
    assert isinstance(answer.json()["detail"], str)
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert logged.exc_info is not None and logged.exc_info[1] is error
    assert str(error) in logged.getMessage()


def test_a_store_that_lost_a_table_answers_500_and_says_which(
    client: LedgerClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A real fault on each store: every read of the ledger fails the same way."""
    client.deliver(seed_examples()[0])
    with client.services.ledger.database.writing() as uow:
        uow.execute("ALTER TABLE ledger_entries RENAME TO ledger_entries_moved")
    answer = client.read("/subjects/user_456/timeline", as_of="1")
    assert answer.status_code == 500
    assert "retry-after" not in answer.headers
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "ledger_entries" in logged.getMessage()
    assert logged.exc_info is not None
