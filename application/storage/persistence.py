"""Which `eventsourcing` settings open the ledger's database, from its URL.

A database URL is `sqlite:///PATH` (the default, an embedded file) or
`postgresql://USER:PASSWORD@HOST:PORT/DBNAME`. Either way the library's
application recorder is the ledger's (`recorders.py`), and tables are created
once, under a lock, by `Ledger.__init__`.
"""

from __future__ import annotations

import contextlib
import os
from urllib.parse import unquote, urlsplit

from eventsourcing.utils import get_topic

from application.storage.recorders import LedgerPostgresRecorder, LedgerSQLiteRecorder


def persistence_env(database_url: str, *, pool_size: int = 5, max_overflow: int = 10
                    ) -> dict[str, str]:  # fmt: skip
    """The `eventsourcing` settings for `sqlite:///PATH` or `postgresql://USER:PASS@HOST:PORT/DB`."""
    if database_url.startswith("sqlite:///"):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "APPLICATION_RECORDER_TOPIC": get_topic(LedgerSQLiteRecorder),
            "SQLITE_DBNAME": database_url.removeprefix("sqlite:///"),
            "SQLITE_LOCK_TIMEOUT": "30",
            "CREATE_TABLE": "n",  # created once, under a lock, by `Ledger.__init__`
        }
    if pool_size < 1 or pool_size + max_overflow < 2:
        # Start-up holds one connection for the schema lock while another creates tables.
        msg = "PostgreSQL needs a pool of at least 2 connections (pool size + max overflow)"
        raise ValueError(msg)
    url = urlsplit(database_url)
    if url.scheme not in ("postgresql", "postgres") or not url.path.strip("/"):
        msg = "a database URL is sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
        raise ValueError(msg)
    if url.query:
        msg = "options in the database URL are not read: set them as PG* variables (PGSSLMODE=...)"
        raise ValueError(msg)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": get_topic(LedgerPostgresRecorder),
        "POSTGRES_DBNAME": unquote(url.path.strip("/")),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(max_overflow),
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_PRE_PING": "y",  # a connection that died with the server is replaced
        "POSTGRES_LOCK_TIMEOUT": "10",  # a writer stuck holding the append lock cannot stall all
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
        "CREATE_TABLE": "n",  # created once, under a lock, by `Ledger.__init__`
    }


def create_private_sqlite_file(path: str) -> None:
    """Create a missing SQLite database file readable and writable by its owner only.

    Left to SQLite, it would be created with the umask's mode (644 as a rule): personal
    data is sealed, but who was verified, screened or flagged, and when, is not for
    other users of the machine to read either. Created first, with mode 600, it keeps
    that mode, and SQLite gives its -wal and -shm files the main file's mode.
    """
    if not path or ":memory:" in path or path.startswith("file:"):
        return
    with contextlib.suppress(FileExistsError):  # an existing one keeps the mode it was given
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
