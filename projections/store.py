"""Where read models live: their builds' tables, the catalog of builds, and tracking.

Rows and tracking positions are written in one transaction and read in one, so
an answer's `as_of` is always the prefix its rows reflect; so are the notes of
rows set aside (`unapplied.py`). The store is mixed
into the library's tracking recorder of each database (the two classes below),
whose tracking it writes and reads in its own units of work, through two private
methods of the library pinned by `tests/test_library_seams.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder

from application.reading.views import Doc
from application.storage.database import Database
from application.storage.dialect import POSTGRES, Dialect
from application.storage.unit_of_work import UnitOfWork
from projections.read_model import Build, ReadModel, Row, Selection
from projections.unapplied import TABLE as UNAPPLIED_TABLE
from projections.unapplied import Unapplied, UnappliedNotes

EncodedRow = tuple[str, str | None, str | None, int, int, str]  # a row's columns, in order
TOMBSTONE = "null"  # the document of a row the ledger no longer shows: read as no row
Refused = Callable[[Build, str, Exception], Unapplied]  # the note for a row the store refused


@dataclass
class BuildUpdate:
    """What one batch changes in a build: rows written, rows gone (the ledger no longer shows
    them as of the batch, e.g. an anonymous subject whose streams a link took), rows set aside."""

    rows: list[EncodedRow] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    set_aside: list[Unapplied] = field(default_factory=list)


CATALOG_TABLE = """CREATE TABLE IF NOT EXISTS read_model_builds (
    name TEXT NOT NULL, version INTEGER NOT NULL, generation INTEGER NOT NULL,
    state TEXT NOT NULL, PRIMARY KEY (name, version, generation))"""


class ReadModelStore:
    database: Database
    sql: Dialect
    notes = UnappliedNotes()

    if TYPE_CHECKING:  # provided by the library's tracking recorder it is mixed into

        def create_table(self) -> None: ...
        def _insert_tracking(self, c: Any, tracking: Tracking) -> None: ...
        def _max_tracking_id(self, application_name: str, c: Any) -> int | None: ...

    @staticmethod
    def for_database(database: Database) -> ReadModelStore:
        """The store of the database's kind (its tracking recorder is the library's for it)."""
        if database.sql is POSTGRES:
            return PostgresReadModelStore(database)
        return SQLiteReadModelStore(database)

    # The catalog of builds.

    def prepare(self, models: Iterable[ReadModel]) -> None:
        """Make sure every model's current version has a build, starting one where it has not."""
        with self.database.writing() as uow:
            uow.execute(CATALOG_TABLE)
            uow.execute(UNAPPLIED_TABLE)
        for model in models:
            if not any(b.builds(model) and b.state != "retired" for b in self.builds(model.name)):
                self.start_build(model)

    def builds(self, name: str | None = None, uow: UnitOfWork | None = None) -> list[Build]:
        """The catalog, oldest first; in `uow` when given."""
        if uow is None:
            with self.database.reading() as uow:
                return self.builds(name, uow)
        where, params = ("WHERE name=?", (name,)) if name else ("", ())
        rows = uow.rows(f"SELECT * FROM read_model_builds {where}"
                        " ORDER BY name, version, generation", *params)  # fmt: skip
        return [Build(r["name"], r["version"], r["generation"], r["state"]) for r in rows]

    def start_build(self, model: ReadModel) -> Build:
        """A new, empty build of the model's current version, or the one already building."""
        build = self.register_build(model.name, model.version)
        with self.database.writing() as uow:
            uow.execute(
                f"CREATE TABLE IF NOT EXISTS {build.table}"
                f" (key TEXT{self.sql.binary_order} PRIMARY KEY, subject TEXT,"
                " status TEXT, flagged INTEGER NOT NULL, position BIGINT NOT NULL,"
                " doc TEXT NOT NULL)"
            )
            for column in ("status", "flagged"):
                uow.execute(f"CREATE INDEX IF NOT EXISTS {build.table}_{column}"
                            f" ON {build.table} ({column})")  # fmt: skip
            # A page of a list (`status`, `flagged`, in key order) reads only its own rows.
            uow.execute(f"CREATE INDEX IF NOT EXISTS {build.table}_listed"
                        f" ON {build.table} (status, flagged, key)")  # fmt: skip
        return build

    def register_build(self, name: str, version: int, state: str = "building") -> Build:
        """The build of `name` and `version` in `state`: the one in the catalog, else a new one."""
        same = [b for b in self.builds(name) if b.version == version]
        existing = [b for b in same if b.state == state]
        if existing:
            return existing[-1]
        build = Build(name, version, 1 + max((b.generation for b in same), default=0), state)
        with self.database.writing() as uow:
            uow.execute("INSERT INTO read_model_builds VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                        (build.name, build.version, build.generation, build.state))  # fmt: skip
        return build

    def serving(self, name: str) -> Build | None:
        """The build reads come from: the live one, else the newest one building."""
        builds = [b for b in self.builds(name) if b.state != "retired"]
        live = [b for b in builds if b.state == "live"]
        candidates = live or builds
        return candidates[-1] if candidates else None

    def promote(self, build: Build, uow: UnitOfWork | None = None) -> None:
        """Cut reads over to a build that has caught up; the one it replaces is retired."""
        if uow is None:
            with self.database.writing() as uow:
                return self.promote(build, uow)
        uow.execute("UPDATE read_model_builds SET state='retired' WHERE name=? AND state='live'",
                    (build.name,))  # fmt: skip
        uow.execute("UPDATE read_model_builds SET state='live'"
                    " WHERE name=? AND version=? AND generation=?",
                    (build.name, build.version, build.generation))  # fmt: skip
        return None

    def retire(self, build: Build) -> None:
        """Stop a build that will never serve (it was built through links since replaced)."""
        with self.database.writing() as uow:
            uow.execute("UPDATE read_model_builds SET state='retired'"
                        " WHERE name=? AND version=? AND generation=?",
                        (build.name, build.version, build.generation))  # fmt: skip

    def drop(self, build: Build, tables: Iterable[str] = ()) -> None:
        """Forget a retired build: its tables go, the ledger is untouched."""
        with self.database.writing() as uow:
            for table in tables or [build.table]:
                uow.execute(f"DROP TABLE IF EXISTS {table}")
            self.notes.forget_build(uow, build.label)
            uow.execute("DELETE FROM read_model_builds WHERE name=? AND version=?"
                        " AND generation=? AND state='retired'",
                        (build.name, build.version, build.generation))  # fmt: skip

    # Rows and positions.

    @contextmanager
    def _snapshot(self) -> Iterator[UnitOfWork]:
        """A read transaction that sees one commit, positions and rows alike."""
        with self.database.reading(pin_on_sqlite=True) as uow:
            if self.sql.snapshot:
                uow.execute(self.sql.snapshot)
            yield uow

    def position(self, build: Build, uow: UnitOfWork | None = None) -> int:
        """Where the build's tracking stands; in `uow`'s transaction when given."""
        if uow is None:
            with self.database.reading(pin_on_sqlite=True) as uow:
                return self.position(build, uow)
        return self._max_tracking_id(build.label, uow.cursor) or 0

    def track(self, uow: UnitOfWork, build: Build, position: int) -> None:
        """Record, in `uow`'s transaction, that the build has reached `position`."""
        self._insert_tracking(uow.cursor, Tracking(build.label, position))

    @staticmethod
    def encode(row: Row, position: int) -> EncodedRow:
        """A row's columns as stored (its document as JSON); raises if it cannot be encoded."""
        return (row.key, row.subject, row.status, int(row.flagged), position, json.dumps(row.doc))

    def write(
        self,
        position: int,
        updates: Mapping[Build, BuildUpdate],
        *,
        refused: Refused | None = None,
    ) -> None:
        """Store the builds' updates and their new tracking position together, or nothing. The
        rows come encoded: the transaction holds the database's write lock (on SQLite, the
        appends' too), so it does nothing but write.

        With `refused`, each row is written in a savepoint of its own, and one the database
        refuses is set aside with the note `refused` makes of it: the rest still apply.
        """
        with self.database.writing() as uow:
            for build, update in updates.items():
                upsert = (
                    f"INSERT INTO {build.table} VALUES (?,?,?,?,?,?) ON CONFLICT (key) DO UPDATE"
                    " SET subject=excluded.subject, status=excluded.status,"
                    " flagged=excluded.flagged, position=excluded.position, doc=excluded.doc"
                )
                notes = list(update.set_aside)
                if refused is None:
                    if update.rows:
                        uow.execute_many(upsert, update.rows)
                    written = update.rows
                else:
                    written = []
                    for row in update.rows:
                        try:
                            uow.execute("SAVEPOINT row_write")
                            uow.execute(upsert, row)
                            uow.execute("RELEASE SAVEPOINT row_write")
                            written.append(row)
                        except Exception as error:
                            uow.execute("ROLLBACK TO SAVEPOINT row_write")
                            notes.append(refused(build, row[0], error))
                if update.gone:  # kept as tombstones: as-of pages still find their keys
                    uow.execute_many(upsert, [(key, None, None, 0, position, TOMBSTONE)
                                              for key in update.gone])  # fmt: skip
                applied = {row[0] for row in written} | set(update.gone)
                self.notes.clear(uow, build.label, applied)
                self.notes.note(uow, build.label, notes)
                self.track(uow, build, position)

    def rewrite(
        self, build: Build, rows: list[EncodedRow], still: list[Unapplied], retried: set[str]
    ) -> None:
        """After a retry of the build's set-aside rows: the rows that now apply, and the notes
        of those still set aside (the build's position stays where it is)."""
        with self.database.writing() as uow:
            for row in rows:
                uow.execute(f"DELETE FROM {build.table} WHERE key=?", (row[0],))
                uow.execute(f"INSERT INTO {build.table} VALUES (?,?,?,?,?,?)", row)
            self.notes.clear(uow, build.label, retried)
            self.notes.note(uow, build.label, still)

    def keys_after(self, build: Build, after: str, limit: int) -> list[str]:
        """The build's next `limit` keys after `after`, tombstones too: every key that has had
        a row up to the build's position. In code-point order, by the primary key's index
        (its collation is the code-point order: `start_build`)."""
        with self.database.reading() as uow:
            rows = uow.rows(f"SELECT key FROM {build.table} WHERE key > ? ORDER BY key LIMIT ?",
                            after, limit)  # fmt: skip
        return [r["key"] for r in rows]

    def unapplied(self, build: Build, limit: int | None = None) -> tuple[int, list[Unapplied]]:
        """How many rows of the build are set aside, and the first `limit` of them."""
        with self.database.reading() as uow:
            return (self.notes.count(uow, build.label),
                    self.notes.listed(uow, build.label, limit))  # fmt: skip

    def get(self, build: Build, key: str) -> tuple[int, Doc | None]:
        """The build's position and its document for `key`, read together."""
        with self._snapshot() as uow:
            position = self.position(build, uow)
            rows = uow.rows(f"SELECT doc FROM {build.table} WHERE key=?", key)
        return position, json.loads(rows[0]["doc"]) if rows else None

    def select(
        self, *selections: tuple[Build, Selection], limit: int | None = None
    ) -> tuple[int, list[list[Doc]]]:
        """Rows of several builds (the first `limit` of each, in key order), read together,
        and the prefix they all reflect."""
        positions, results = [], []
        with self._snapshot() as uow:
            for build, selection in selections:
                positions.append(self.position(build, uow))
                query, params = selection.sql(build, self.sql.binary_order)
                if limit is not None:
                    query, params = f"{query} LIMIT ?", (*params, limit)
                results.append([json.loads(r["doc"]) for r in uow.rows(query, *params)])
        return min(positions), results


class SQLiteReadModelStore(ReadModelStore, SQLiteTrackingRecorder):
    def __init__(self, database: Database) -> None:
        super().__init__(database.datastore)
        self.database = database
        self.sql = database.sql


class PostgresReadModelStore(ReadModelStore, PostgresTrackingRecorder):
    def __init__(self, database: Database) -> None:
        super().__init__(database.datastore)
        self.database = database
        self.sql = database.sql
