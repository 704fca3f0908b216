"""Verifying the hash chain (DESIGN §7): recompute every digest, name the first that differs.

Verification recomputes the chain from the first entry, one page at a time, and
names the first position whose stored rows no longer give the digest recorded
for it: a changed byte, a deleted row or two swapped rows all break the chain
there. Rewriting the whole chain after a change is caught by an exported digest:
the ledger must still pass through it (`verify --since`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from application.integrity.chain import GENESIS, entry_digest
from application.storage.database import Database
from application.storage.dialect import POSTGRES
from application.storage.schema import INDEX_FIELDS


@dataclass(frozen=True)
class Digest:
    """The chain's head at a position: what `ledger digest` exports."""

    position: int
    digest: str

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "digest": self.digest}

    @classmethod
    def load(cls, path: Path) -> Digest:
        try:
            data = json.loads(path.read_text())
            digest = cls(int(data["position"]), str(data["digest"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            msg = f"{path} is not a digest file ({{'position', 'digest'}}): {error}"
            raise ValueError(msg) from None
        if len(digest.digest) != 64 or digest.position < 0:
            raise ValueError(f"{path} is not a digest file: bad position or digest")
        return digest


class Failure(Protocol):
    position: int
    problem: str


class EntryCheck(Protocol):
    """Another check of each entry in verification's one pass over the ledger."""

    def entry(self, row: tuple[Any, ...], leaf_index: int | None) -> Failure | None:
        """`row`: the stored event's originator id, version, topic and state, then the index
        row (`INDEX_FIELDS`)."""

    def finish(self, last_position: int) -> Failure | None: ...


@dataclass(frozen=True)
class Verification:
    """What verifying the chain found."""

    ok: bool
    checked: int
    head: Digest
    first_bad_position: int | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "head": self.head.as_dict(),
                "first_bad_position": self.first_bad_position, "problem": self.problem}  # fmt: skip


class Chain:
    """Reads, heads and verifies the chain stored in the ledger index."""

    def __init__(self, database: Database, batch_size: int = 2000) -> None:
        self.datastore = database.datastore
        self.sql = sql = database.sql
        self.batch_size = batch_size
        position = sql.position_column
        index_columns = ", ".join(f"e.{field}" for field in INDEX_FIELDS)
        # Fetched as tuples in this order (see `verify`). Both sides of the join are bounded:
        # a merge join would otherwise read the index from the first position at every page.
        self.rows_sql = (
            f"SELECT s.{position}, s.originator_id, s.originator_version, s.topic, s.state,"
            f" e.previous_position, e.digest, e.leaf_index, {index_columns}"
            f" FROM {sql.events_table} s"
            f" LEFT JOIN ledger_entries e ON e.position = s.{position} AND e.position > ?"
            f" WHERE s.{position} > ? ORDER BY s.{position} LIMIT ?"
        )
        self.orphans_sql = (
            f"SELECT min(e.position) AS position FROM ledger_entries e LEFT JOIN"
            f" {sql.events_table} s ON s.{position} = e.position WHERE s.{position} IS NULL"
        )

    def head(self) -> Digest:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT position, digest FROM ledger_entries ORDER BY position DESC LIMIT 1")
            row = c.fetchone()
        return Digest(row["position"], row["digest"]) if row else Digest(0, GENESIS)

    def _rows(self) -> Iterator[tuple[Any, ...]]:
        """Every stored event with its index row, in position order, a batch at a time. On
        PostgreSQL the next batch is read (in another thread, the server working meanwhile)
        while this one is checked; SQLite reads in this process, so nothing would overlap."""
        with ThreadPoolExecutor(1, thread_name_prefix="chain-read") as reader:
            read_ahead = self.sql is POSTGRES
            page = reader.submit(self._page, 0) if read_ahead else None
            after = 0
            while True:
                rows = page.result() if page else self._page(after)
                if read_ahead and len(rows) == self.batch_size:
                    page = reader.submit(self._page, rows[-1][0])
                yield from rows
                if len(rows) < self.batch_size:
                    return
                after = rows[-1][0]

    def _page(self, after: int) -> list[tuple[Any, ...]]:
        with self.datastore.transaction(commit=False) as c:
            self.sql.tuple_rows(c)
            c.execute(self.sql(self.rows_sql), (after, after, self.batch_size))
            return list(c.fetchall())

    def verify(self, since: Digest | None = None, also: EntryCheck | None = None) -> Verification:
        """Recompute the chain from the first entry; stop at the first that does not match.
        `also` checks each entry in the same pass (the transparency log's tree)."""
        previous_digest, previous_at = GENESIS, 0  # the last entry checked
        checked = 0
        passed_since = since is None or since.position == 0
        if since and since.position == 0 and since.digest != GENESIS:
            return Verification(False, 0, self.head(), 0, "not a digest of this ledger")

        def broken(position: int, problem: str) -> Verification:
            return Verification(False, checked, self.head(), position, problem)

        for row in self._rows():
            position, originator_id, version, topic, state, previous_position, stored = row[:7]
            leaf_index, index_row = row[7], row[8:]
            if since and not passed_since and position > since.position:
                return broken(since.position, "the exported digest's position is not in the"
                              " ledger any more: an entry was deleted")  # fmt: skip
            if index_row[0] is None:
                return broken(position, "the event has no index row: it was deleted")
            if not isinstance(previous_position, int) or not isinstance(state, bytes):
                return broken(position, "the stored entry was changed (a value of the wrong type)")
            if previous_position != previous_at:
                if previous_position > previous_at:
                    return broken(previous_position, "the entry is missing: it was deleted")
                return broken(position, "entries were reordered or inserted")
            try:
                digest = entry_digest(previous_digest, previous_at, index_row,
                                      originator_id, version, topic, state)  # fmt: skip
            except (TypeError, ValueError):
                return broken(position, "the stored entry was changed (a value of the wrong type)")
            if digest != stored:
                return broken(position, "the stored entry was changed")
            if also and (failure := also.entry((*row[1:5], *index_row), leaf_index)):
                return broken(failure.position, failure.problem)
            if since and position == since.position:
                if digest != since.digest:
                    return broken(position, "the ledger no longer extends the exported digest")
                passed_since = True
            previous_digest, previous_at = digest, position
            checked += 1
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.orphans_sql)
            orphan = c.fetchone()["position"]
        if orphan is not None:
            return broken(orphan, "the index row has no event: the event was deleted")
        if not passed_since:
            assert since is not None
            return broken(since.position, "the ledger ends before the exported digest's position")
        if also and (failure := also.finish(previous_at)):
            return broken(failure.position, failure.problem)
        return Verification(True, checked, Digest(previous_at, previous_digest))
