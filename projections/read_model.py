"""A read model: a named, versioned table of documents kept up to date from the ledger.

Each read model follows the ledger in position order. For every batch of new
entries it works out which of its rows the batch touched, recomputes those rows
as of the batch's last position with the same as-of reads auditors use, and
writes the rows and its tracking position in one transaction: exactly once, and
always equal to what folding the ledger up to its position would answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteTrackingRecorder

from ledger.history import AsOf, EntrySummary, History, LinkChanges
from ledger.views import Doc


@dataclass(frozen=True)
class Batch:
    """New ledger entries, and the links they revealed."""

    entries: list[EntrySummary]
    links: LinkChanges

    @property
    def last_position(self) -> int:
        return self.entries[-1].position


@dataclass(frozen=True)
class Row:
    """One document of a read model, with the columns its queries filter on."""

    key: str
    subject: str | None
    status: str | None
    flagged: bool
    doc: Doc


class ReadModel:
    """Base of the read models; subclasses say which rows a batch touches and how to compute one."""

    name: str
    version: int
    kind: str  # what one row is about: subject, session, check, case or document

    @property
    def tracking_name(self) -> str:
        return f"{self.name}_v{self.version}"

    @property
    def table(self) -> str:
        return f"read_{self.name}_v{self.version}"

    def touched_keys(self, batch: Batch) -> set[str]:
        raise NotImplementedError

    def compute(self, history: History, key: str, as_of: AsOf) -> Row | None:
        raise NotImplementedError

    def rows_as_of(self, history: History, as_of: AsOf) -> list[Row]:
        """Every row the model would hold at a prefix, folded from the ledger."""
        return [
            row
            for key in sorted(history.keys_seen(self.kind, as_of))
            if (row := self.compute(history, key, as_of)) is not None
        ]


class ReadModelStore:
    """The read models' tables and tracking records, in the ledger's database."""

    def __init__(self, datastore: SQLiteDatastore) -> None:
        self.datastore = datastore
        self.tracking = SQLiteTrackingRecorder(datastore)
        self.tracking.create_table()

    def create(self, model: ReadModel) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {model.table} (key TEXT PRIMARY KEY,"
                " subject TEXT, status TEXT, flagged INTEGER NOT NULL, position INTEGER"
                " NOT NULL, doc TEXT NOT NULL)"
            )
            c.execute(f"CREATE INDEX IF NOT EXISTS {model.table}_status ON {model.table} (status)")
            c.execute(
                f"CREATE INDEX IF NOT EXISTS {model.table}_flagged ON {model.table} (flagged)"
            )

    def position(self, model: ReadModel) -> int:
        return self.tracking.max_tracking_id(model.tracking_name) or 0

    def write(self, model: ReadModel, position: int, rows: Iterable[Row]) -> None:
        """Store the rows and the new tracking position together, or neither."""
        with self.datastore.transaction(commit=True) as c:
            for row in rows:
                self._upsert(c, model, position, row)
            self.tracking._insert_tracking(c, Tracking(model.tracking_name, position))

    @staticmethod
    def _upsert(c: SQLiteCursor, model: ReadModel, position: int, row: Row) -> None:
        c.execute(
            f"INSERT OR REPLACE INTO {model.table} VALUES (?,?,?,?,?,?)",
            (row.key, row.subject, row.status, int(row.flagged), position, json.dumps(row.doc)),
        )

    def get(self, model: ReadModel, key: str) -> Doc | None:
        rows = self._select(model, "WHERE key=?", key)
        return rows[0] if rows else None

    def where(self, model: ReadModel, clause: str, *params: Any) -> list[Doc]:
        return self._select(model, clause + " ORDER BY key", *params)

    def _select(self, model: ReadModel, clause: str, *params: Any) -> list[Doc]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT doc FROM {model.table} {clause}", params)
            return [json.loads(r[0]) for r in c.fetchall()]
