"""The library's recorder of each store, inserting the ledger's events in its unit of work.

The library's recorders open a transaction of their own for every insert. An
append of the ledger also writes index rows, chain digests, links and data keys
that must commit with its events or not at all, so the appender hands the
recorder its unit of work (`Application.save(..., unit_of_work=uow)`: the library
passes keyword arguments through to `insert_events`), and the events go in
through the one method of each library recorder that inserts on a given cursor:
`_insert_events` on SQLite, `_insert_stored_events` on PostgreSQL. Both are
private to the library; `tests/test_library_seams.py` pins what the ledger relies
on, so that an upgrade that changes them fails loudly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL

from application.storage.schema import INDEX_TABLES
from application.storage.unit_of_work import UnitOfWork


def _in_unit(unit_of_work: UnitOfWork | None) -> UnitOfWork:
    if unit_of_work is None:
        msg = "the ledger's events are appended by its appender, which writes their index too"
        raise ProgrammingError(msg)
    return unit_of_work


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder; the ledger index's tables are created with its own."""

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *INDEX_TABLES]

    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, unit_of_work: UnitOfWork | None = None,
        **kwargs: Any,
    ) -> Sequence[int]:  # fmt: skip
        """Insert the events in the unit of work's transaction; their positions (rowids)."""
        positions = self._insert_events(_in_unit(unit_of_work).cursor, stored_events)
        assert positions is not None
        return positions


class LedgerPostgresRecorder(PostgresApplicationRecorder):
    """The library's PostgreSQL recorder; the ledger index's tables are created with its own.

    Every insert takes the library's EXCLUSIVE lock on the events table, so positions
    commit in order (readers never skip a gap), and what the unit of work writes after
    it (the index, in position order) is still under that lock.
    """

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.sql_create_statements.extend(SQL(statement).format() for statement in INDEX_TABLES)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, unit_of_work: UnitOfWork | None = None,
        **kwargs: Any,
    ) -> Sequence[int]:  # fmt: skip
        """Lock, notify and insert in the unit of work's transaction; the events' positions."""
        cursor = _in_unit(unit_of_work).cursor
        with cursor.connection.pipeline():  # the three statements go out without waiting
            self._insert_stored_events(cursor, stored_events)
            return [row["notification_id"] for row in cursor.fetchall()]
