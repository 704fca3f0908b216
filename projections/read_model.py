"""A read model: a named, versioned table of documents kept up to date from the ledger.

Each read model follows the ledger in position order. For every batch of new
entries it works out which of its rows the batch touched, recomputes those rows
as of the batch's last position with the same as-of reads auditors use, and
writes the rows and its tracking position in one transaction: exactly once, and
always equal to what folding the ledger up to its position would answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from application.reading.history import History
from application.reading.views import Doc
from application.storage.entry_feed import EntrySummary, LinkChanges
from domain.entries import AsOf


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

    def touched_keys(self, batch: Batch) -> set[str]:
        raise NotImplementedError

    def compute(self, history: History, key: str, as_of: AsOf) -> Row | None:
        raise NotImplementedError

    def rows_as_of(self, history: History, as_of: AsOf) -> list[Row]:
        """Every row the model would hold at a prefix, folded from the ledger."""
        return [
            row
            for key in sorted(history.feed.keys_seen(self.kind, as_of))
            if (row := self.compute(history, key, as_of)) is not None
        ]


@dataclass(frozen=True)
class Build:
    """One materialisation of a read model's version: its own table, built from position 0.

    A new version of a read model, or a rebuild of the current one, is a new
    build beside the serving one; reads switch to it once it has caught up.
    """

    name: str
    version: int
    generation: int
    state: str = "building"  # building, live or retired

    @property
    def label(self) -> str:
        return f"{self.name}_v{self.version}_g{self.generation}"

    @property
    def table(self) -> str:
        return f"read_{self.label}"

    def builds(self, model: ReadModel) -> bool:
        """Whether this is a build of `model`'s code (name and version)."""
        return (self.name, self.version) == (model.name, model.version)


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

    def sql(self, build: Build, order: str = "") -> tuple[str, tuple[Any, ...]]:
        clauses: list[str] = ["doc <> 'null'"]  # not a tombstone (`store.TOMBSTONE`)
        params: list[Any] = []
        if self.status is not None:
            clauses.append("status=?")
            params.append(self.status)
        if self.flagged is not None:
            clauses.append("flagged=?")
            params.append(int(self.flagged))
        where = f" WHERE {' AND '.join(clauses)}"
        return f"SELECT doc FROM {build.table}{where} ORDER BY key{order}", tuple(params)
