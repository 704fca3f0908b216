"""A unit of work: the database work of one request or one batch, handed to all it calls.

Whatever reads or writes for a request takes its unit of work as an argument, so
what shares a transaction shows in the code: a group commit's batch reads its
idempotency keys, streams and data keys and appends its events in one unit; an
auditor's request reads all it needs in one. A unit on SQLite may have no
transaction of its own (`Database.reading`), or begin it only at its first write
(`Database.writing(lock_first=False)`): each read before it is a short
transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from application.storage.dialect import Dialect

IN_CHUNK = 500  # values a query lists at most (`rows_in`)


class UnitOfWork:
    def __init__(
        self,
        datastore: Any,
        sql: Dialect,
        cursor: Any | None = None,
        begin: Callable[[], Any] | None = None,
    ) -> None:
        self.datastore = datastore
        self.sql = sql
        self._cursor = cursor
        self._begin = begin  # how its transaction begins, when that waits for its first write
        self._on_commit: list[Callable[[], None]] = []

    @property
    def cursor(self) -> Any:
        """The cursor of the unit's transaction: for its writes, and reads that page with it."""
        if self._cursor is None and self._begin is not None:
            self._cursor = self._begin()
        if self._cursor is None:
            raise RuntimeError("this unit of work has no transaction: it only reads")
        return self._cursor

    def after_commit(self, do: Callable[[], None]) -> None:
        """Have `do` run once the unit's transaction has committed (never if it rolls back):
        for what a process keeps in memory of what it stored."""
        self._on_commit.append(do)

    def committed(self) -> None:
        """Told by `Database.writing` that the transaction committed."""
        for do in self._on_commit:
            do()

    def rows(self, query: str, *params: Any) -> list[Any]:
        """The rows a query selects; the query is written with `?` placeholders."""
        if self._cursor is not None:
            self._cursor.execute(self.sql(query), params)
            return list(self._cursor.fetchall())
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql(query), params)
            return list(c.fetchall())

    def rows_in(self, query: str, values: Sequence[Any], *params: Any) -> list[Any]:
        """The rows a query selects for each of `values`, a few hundred a query: `{marks}` in
        the query stands for their placeholders, which come before those of `params`."""
        rows: list[Any] = []
        for start in range(0, len(values), IN_CHUNK):
            chunk = values[start : start + IN_CHUNK]
            rows += self.rows(query.format(marks=",".join("?" * len(chunk))), *chunk, *params)
        return rows

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        """Run a statement (`?` placeholders) in the unit's transaction."""
        self.cursor.execute(self.sql(statement), params)

    def execute_many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        self.cursor.executemany(self.sql(statement), rows)

    def insert_rows(self, table: str, types: Sequence[str], rows: Sequence[Sequence[Any]],
                    then: str = "") -> None:  # fmt: skip
        """Insert rows of columns of `types` (PostgreSQL's names) in one statement: on
        PostgreSQL one array per column (`unnest`), so a batch costs one statement and not
        one per row; on SQLite, in the process, one insert per row costs no round trip.
        `then` follows the insert (an ON CONFLICT clause)."""
        if not rows:
            return
        if self.sql.name == "postgres":
            arrays = ", ".join(f"%s::{kind}[]" for kind in types)
            self.cursor.execute(
                f"INSERT INTO {table} SELECT * FROM unnest({arrays}) {then}",
                [list(column) for column in zip(*rows, strict=True)],
            )
        else:
            marks = ",".join("?" * len(types))
            self.cursor.executemany(f"INSERT INTO {table} VALUES ({marks}) {then}", rows)

    def add_column(self, table: str, column: str) -> None:
        """Add a column to a table created before it existed (nothing if it has it)."""
        if self.sql.name == "postgres":
            self.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column}")
        elif not any(c["name"] == column.split()[0]
                     for c in self.rows(f"PRAGMA table_info({table})")):  # fmt: skip
            self.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
