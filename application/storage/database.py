"""The ledger's database: which `eventsourcing` settings open it, and units of work on it.

A database URL is `sqlite:///PATH` (the default, an embedded file) or
`postgresql://USER:PASSWORD@HOST:PORT/DBNAME`; the library's datastore of either
kind is then used through `Database`: units of work for reading and for writing,
and the lock that serialises schema changes between processes starting at once.
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from eventsourcing.persistence import OperationalError
from eventsourcing.sqlite import SQLiteCursor, SQLiteTransaction
from eventsourcing.utils import get_topic

from application.storage.dialect import POSTGRES, Dialect
from application.storage.recorders import LedgerPostgresRecorder, LedgerSQLiteRecorder
from application.storage.unit_of_work import UnitOfWork

# Any number that is the same in every process: the key of the schema-creation lock.
SCHEMA_LOCK_KEY = 7_466_354_021


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


class _ImmediateTransaction(SQLiteTransaction):
    """The library's SQLite transaction, begun holding the database's write lock.

    A SQLite transaction that reads, then writes after another process has
    committed, fails at once ("database is locked") instead of waiting for the
    lock; one that takes the lock first waits its turn and then reads what it writes from.
    """

    def __init__(self, connection: Any) -> None:
        super().__init__(connection, commit=True)

    def __enter__(self) -> SQLiteCursor:
        cursor: SQLiteCursor = self.connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:  # waited `SQLITE_LOCK_TIMEOUT` for the lock
            raise OperationalError(error) from error
        return cursor


class Database:
    """The ledger's database as its code uses it: a dialect, and units of work."""

    def __init__(self, datastore: Any, sql: Dialect, sqlite_path: str = "") -> None:
        self.datastore = datastore
        self.sql = sql
        self.sqlite_path = sqlite_path

    @contextmanager
    def reading(self, *, pin_on_sqlite: bool = False) -> Iterator[UnitOfWork]:
        """A unit of work that only reads: one transaction on PostgreSQL, where each connection
        checkout is round trips to the server, so many small reads cost one.

        On SQLite only when asked (`pin_on_sqlite`, for a projection batch's thousands
        of reads in a process of its own): there a long read transaction holds back the
        write-ahead log's checkpoints, and an API process's reads must not slow its own
        appends, so each read is a short transaction of its own.
        """
        if self.sql is not POSTGRES and not pin_on_sqlite:
            yield UnitOfWork(self.datastore, self.sql)
            return
        with self.datastore.transaction(commit=False) as cursor:
            yield UnitOfWork(self.datastore, self.sql, cursor)

    @contextmanager
    def writing(self) -> Iterator[UnitOfWork]:
        """A unit of work that reads, then writes, in one transaction: committed when the block
        ends, rolled back if it raises. On SQLite it holds the write lock from its start."""
        if self.sql is POSTGRES:
            with self.datastore.transaction(commit=True) as cursor:
                yield UnitOfWork(self.datastore, self.sql, cursor)
            return
        with (
            self.datastore.get_connection(commit=True) as connection,
            _ImmediateTransaction(connection) as cursor,
            cursor,
        ):
            yield UnitOfWork(self.datastore, self.sql, cursor)

    @contextmanager
    def schema_lock(self) -> Iterator[None]:
        """Serialise table creation across processes starting at once."""
        if self.sql is not POSTGRES:
            # A lock file beside the database: SQLite refuses a journal-mode change under load.
            with open(f"{self.sqlite_path}.lock", "a") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)
            return
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))
