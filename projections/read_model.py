"""A read model: a named, versioned table of documents kept up to date from the ledger.

Each read model follows the ledger in position order. For every batch of new
entries it works out which of its rows the batch touched, recomputes those rows
as of the batch's last position with the same as-of reads auditors use, and
writes the rows and its tracking position in one transaction: exactly once, and
always equal to what folding the ledger up to its position would answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

from ledger.dialect import POSTGRES, SQLITE, Dialect
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


@dataclass(frozen=True)
class Selection:
    """Rows of one read model: all of them, those with a status, or the flagged ones."""

    model: ReadModel
    status: str | None = None
    flagged: bool | None = None

    def matches(self, row: Row) -> bool:
        return (self.status is None or row.status == self.status) and (
            self.flagged is None or row.flagged == self.flagged
        )

    def sql(self) -> tuple[str, tuple[Any, ...]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.status is not None:
            clauses.append("status=?")
            params.append(self.status)
        if self.flagged is not None:
            clauses.append("flagged=?")
            params.append(int(self.flagged))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return f"SELECT doc FROM {self.model.table}{where} ORDER BY key", tuple(params)


class ReadModelStore:
    """The read models' tables with their tracking records: a materialised view of the ledger.

    Rows and tracking positions are written in one transaction, and read in one,
    so an answer's `as_of` is always the prefix its rows reflect. Mixed into the
    library's tracking recorder of each store (see the two classes below).
    """

    datastore: Any
    sql: Dialect
    models: list[ReadModel]

    if TYPE_CHECKING:  # provided by the library's tracking recorder it is mixed into

        def _insert_tracking(self, c: Any, tracking: Tracking) -> None: ...
        def _max_tracking_id(self, application_name: str, c: Any) -> int | None: ...
        def max_tracking_id(self, application_name: str) -> int | None: ...

    def create_tables(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            for model in self.models:
                c.execute(
                    f"CREATE TABLE IF NOT EXISTS {model.table} (key TEXT PRIMARY KEY,"
                    " subject TEXT, status TEXT, flagged INTEGER NOT NULL,"
                    " position BIGINT NOT NULL, doc TEXT NOT NULL)"
                )
                for column in ("status", "flagged"):
                    c.execute(
                        f"CREATE INDEX IF NOT EXISTS {model.table}_{column}"
                        f" ON {model.table} ({column})"
                    )

    def position(self, model: ReadModel) -> int:
        return self.max_tracking_id(model.tracking_name) or 0

    def write(self, position: int, updates: Mapping[ReadModel, Iterable[Row]]) -> None:
        """Store the models' rows and their new tracking position together, or nothing."""
        with self.datastore.transaction(commit=True) as c:
            for model, rows in updates.items():
                upsert = self.sql(
                    f"INSERT INTO {model.table} VALUES (?,?,?,?,?,?) ON CONFLICT (key) DO UPDATE"
                    " SET subject=excluded.subject, status=excluded.status,"
                    " flagged=excluded.flagged, position=excluded.position, doc=excluded.doc"
                )
                for row in rows:
                    c.execute(upsert, (row.key, row.subject, row.status, int(row.flagged),
                                       position, json.dumps(row.doc)))  # fmt: skip
                self._insert_tracking(c, Tracking(model.tracking_name, position))

    def get(self, model: ReadModel, key: str) -> tuple[int, Doc | None]:
        """The model's position and its document for `key`, read together."""
        with self.datastore.transaction(commit=False) as c:
            position = self._max_tracking_id(model.tracking_name, c) or 0
            c.execute(self.sql(f"SELECT doc FROM {model.table} WHERE key=?"), (key,))
            row = c.fetchone()
        return position, json.loads(row["doc"]) if row else None

    def select(self, *selections: Selection) -> tuple[int, list[list[Doc]]]:
        """Rows of several models, read together, and the prefix they all reflect."""
        positions, results = [], []
        with self.datastore.transaction(commit=False) as c:
            for selection in selections:
                positions.append(self._max_tracking_id(selection.model.tracking_name, c) or 0)
                query, params = selection.sql()
                c.execute(self.sql(query), params)
                results.append([json.loads(r["doc"]) for r in c.fetchall()])
        return min(positions), results


class SQLiteReadModelStore(ReadModelStore, SQLiteTrackingRecorder):
    def __init__(self, datastore: SQLiteDatastore, models: Sequence[ReadModel]) -> None:
        super().__init__(datastore)
        self.sql = SQLITE
        self.models = list(models)
        self.create_table()
        self.create_tables()


class PostgresReadModelStore(ReadModelStore, PostgresTrackingRecorder):
    def __init__(self, datastore: PostgresDatastore, models: Sequence[ReadModel]) -> None:
        super().__init__(datastore)
        self.sql = POSTGRES
        self.models = list(models)
