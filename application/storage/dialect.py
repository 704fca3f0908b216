"""The few ways SQLite and PostgreSQL differ, for the ledger's own SQL.

The ledger's SQL is written once, with `?` placeholders and named columns; a
dialect names the library's events table and its position column, and turns
the placeholders into the driver's.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from psycopg.rows import tuple_row


@dataclass(frozen=True)
class Dialect:
    name: str
    events_table: str
    position_column: str
    placeholder: str
    blob: str
    snapshot: str  # first statement of a read transaction that must see one commit
    binary_order: str  # code-point order, as Python sorts, whatever the database's collation
    serial_key: str  # an id column numbered by the database

    def __call__(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def pipeline(self, cursor: Any) -> AbstractContextManager[Any]:
        """On PostgreSQL, statements on the cursor go out without waiting for each answer
        (a read that needs its answer waits for all before it)."""
        return cursor.connection.pipeline() if self.name == "postgres" else nullcontext()

    def lock_appends(self, cursor: Any, table: str = "") -> None:
        """Hold, until the transaction ends, the lock every append takes (to the events
        table, or to `table`); on SQLite, a writing unit of work holds the database's one
        write lock already."""
        if self.name == "postgres":  # waiting 10 s at most, as the library's own insert does
            cursor.execute(
                f"SET LOCAL lock_timeout = '10s';"  # one round trip for both
                f" LOCK TABLE {table or self.events_table} IN EXCLUSIVE MODE"
            )

    def table_exists(self, table: str) -> str:
        """A query of one row whose `found` says whether the table exists."""
        if self.name == "postgres":
            return f"SELECT to_regclass('{table}') IS NOT NULL AS found"
        return f"SELECT count(*) > 0 AS found FROM sqlite_master WHERE name = '{table}'"

    def tuple_rows(self, cursor: Any) -> None:
        """Have a cursor of the library's datastore give plain tuples, the cheapest rows,
        for reads of many rows whose columns are named in the query."""
        if self.name == "sqlite":
            cursor.sqlite_cursor.row_factory = None
        else:
            cursor.row_factory = tuple_row


SQLITE = Dialect(
    "sqlite", "stored_events", "rowid", "?", "BLOB", "", "", "INTEGER PRIMARY KEY AUTOINCREMENT"
)
POSTGRES = Dialect(
    "postgres", "ledger_events", "notification_id", "%s", "BYTEA",
    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", ' COLLATE "C"',
    "BIGSERIAL PRIMARY KEY",
)  # fmt: skip
