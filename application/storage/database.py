"""The ledger's database as its code uses it: units of work, and the schema lock.

The library's datastore of either kind (`persistence.py` says which) is used
through `Database`: units of work for reading and for writing, and the lock that
serialises schema changes between processes starting at once.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from eventsourcing.persistence import OperationalError
from eventsourcing.sqlite import SQLiteCursor, SQLiteTransaction
from psycopg.conninfo import make_conninfo

from application.storage.dialect import POSTGRES, Dialect
from application.storage.unit_of_work import UnitOfWork

# Any number that is the same in every process: the key of the schema-creation lock.
SCHEMA_LOCK_KEY = 7_466_354_021


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

    def connection_target(self) -> tuple[str, str] | None:
        """How another process opens this database to read it: ("sqlite", path) or
        ("postgres", conninfo); None for a SQLite database in memory."""
        if self.sql is POSTGRES:
            wanted = ("dbname", "host", "port", "user", "password")
            kwargs = self.datastore.pool.kwargs
            return "postgres", make_conninfo(**{k: str(kwargs[k]) for k in wanted if kwargs.get(k)})
        if (
            not self.sqlite_path
            or ":memory:" in self.sqlite_path
            or "mode=memory" in self.sqlite_path
        ):
            return None
        return "sqlite", self.sqlite_path

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
    def writing(self, *, lock_first: bool = True) -> Iterator[UnitOfWork]:
        """A unit of work that reads, then writes, in one transaction: committed when the block
        ends, rolled back if it raises; then what it was asked to do after its commit
        (`UnitOfWork.after_commit`) is done. On SQLite it holds the write lock from its start.

        Unless `lock_first` is False (an append's): then on SQLite the reads before its first
        write run outside it, each on its own, and the lock is taken at that first write.
        The database's one write lock is then held only while the unit writes (the
        projections worker's writes wait less), and what the unit read before is checked
        under the lock: keys and stream versions are unique, tombstones are read again.
        """
        if self.sql is POSTGRES:
            with self.datastore.transaction(commit=True) as cursor:
                uow = UnitOfWork(self.datastore, self.sql, cursor)
                yield uow
            uow.committed()
            return
        with ExitStack() as transaction:

            def begin() -> SQLiteCursor:
                connection = transaction.enter_context(self.datastore.get_connection(commit=True))
                cursor = transaction.enter_context(_ImmediateTransaction(connection))
                transaction.enter_context(cursor)  # closed before the transaction ends
                return cursor

            uow = (UnitOfWork(self.datastore, self.sql, begin()) if lock_first
                   else UnitOfWork(self.datastore, self.sql, begin=begin))  # fmt: skip
            yield uow
        uow.committed()

    @contextmanager
    def schema_lock(self) -> Iterator[None]:
        """Serialise table creation across processes starting at once."""
        if self.sql is not POSTGRES:
            # A lock file beside the database: SQLite refuses a journal-mode change under load.
            descriptor = os.open(f"{self.sqlite_path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            with open(descriptor) as lock_file:
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
