"""Fresh databases for tests: a SQLite file, or an emptied PostgreSQL database.

PostgreSQL tests use the server at LEDGER_TEST_POSTGRES_URL (default: the local
server, user postgres, trust auth). With CI=true a missing server fails the run;
elsewhere those tests are skipped with a message saying why.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

SERVER_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
STORES = ["sqlite", "postgres"]


def _url(database: str) -> str:
    parts = urlsplit(SERVER_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", "", ""))


@cache
def _server_problem() -> str | None:
    try:
        with psycopg.connect(_url("postgres"), connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL is not reachable at {SERVER_URL}: {error}".strip()


def require_postgres() -> None:
    problem = _server_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{problem} (CI needs it: the PostgreSQL tests must run)")
    pytest.skip(problem)


def empty_postgres_database(name: str = "") -> str:
    """The URL of database `name`, created if missing and emptied of every table.

    By default each test run has a database of its own, so runs never collide.
    """
    require_postgres()
    name = name or f"ledger_tests_{os.getpid()}"
    with psycopg.connect(_url("postgres"), autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname=%s", (name,)).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(_url(name), autocommit=True) as db:
        db.execute("DROP SCHEMA IF EXISTS public CASCADE")
        db.execute("CREATE SCHEMA public")
    return _url(name)


def fresh_database_url(store: str, folder: Path) -> str:
    """A database no test has written to yet (SQLite files are named afresh each call)."""
    if store == "postgres":
        return empty_postgres_database()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / f'ledger-{len(list(folder.iterdir()))}.db'}"


NewDatabase = Callable[[], str]  # makes a fresh database of the store under test


def drop_run_databases() -> None:
    """Remove this run's databases, if the server is there (called when the run ends)."""
    if _server_problem() is not None:
        return
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(_url("postgres"), autocommit=True) as admin,
    ):
        for prefix in ("ledger_tests_", "ledger_tests_server_"):
            admin.execute(f'DROP DATABASE IF EXISTS "{prefix}{os.getpid()}" WITH (FORCE)')
