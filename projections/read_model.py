"""A read model: a named, versioned table of documents kept up to date from the ledger.

Each read model follows the ledger in position order. For every batch of new
entries it works out which of its rows the batch touched, recomputes those rows
as of the batch's last position with the same as-of reads auditors use, and
writes the rows and its tracking position in one transaction: exactly once, and
always equal to what folding the ledger up to its position would answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from application.reading.history import History
from application.reading.views import Doc
from application.storage.entry_feed import EntrySummary, LinkChanges, StoredEntries
from domain.entries import AsOf, LedgerEntry, StreamKey


@dataclass(frozen=True)
class Batch:
    """New ledger entries after a position, and the links they revealed; for the rows
    carried from the batch before (`carried.py`), the entries as stored, the subjects that
    streams with entries before the batch joined (their history changed behind them), and
    the subjects each of `identities_shared` shares an identity with at the batch's end."""

    entries: list[EntrySummary]
    links: LinkChanges
    after: int = 0
    stored: StoredEntries | None = None
    rejoined: frozenset[str] = frozenset()
    shared_identities: Mapping[str, list[str]] = field(default_factory=dict)

    @property
    def last_position(self) -> int:
        return self.entries[-1].position

    @cached_property
    def linked_streams(self) -> dict[StreamKey, str]:
        """The streams the batch linked, each to its subject (a stream is linked once)."""
        return dict(self.links.stream_subjects)

    @cached_property
    def tied_sessions(self) -> dict[str, str]:
        """The sessions the batch tied, each to its subject (a session is tied once)."""
        return dict(self.links.session_subjects)

    @cached_property
    def identities_shared(self) -> frozenset[str]:
        """The subjects whose identities gained a reference in the batch."""
        return frozenset(self.links.identity_subjects)

    def entries_by_key(self, model: ReadModel) -> dict[str, list[LedgerEntry]]:
        """The entries that extend each of the model's rows, in position order (each entry
        decoded once, whichever models need it)."""
        assert self.stored is not None, "a batch read to carry rows over it"
        by_key: dict[str, list[LedgerEntry]] = {}
        for summary in self.entries:
            for key in model.entry_keys(summary):
                by_key.setdefault(key, []).append(self.stored.at(summary.position))
        return by_key


@dataclass(frozen=True)
class Row:
    """One document of a read model, with the columns its queries filter on."""

    key: str
    subject: str | None
    status: str | None
    flagged: bool
    doc: Doc


class NotCarried:
    """What `ReadModel.carry` answers when a row cannot be carried over a batch: its history
    changed behind it, and it is folded from the ledger instead."""


NOT_CARRIED = NotCarried()


class ReadModel:
    """Base of the read models. A subclass says which rows a batch touches, how a row's fold
    is read from the ledger at a prefix, how a fold carries over a batch of new entries, and
    the row a fold gives. Both ways give one fold: the property tests hold them equal."""

    name: str
    version: int
    kind: str  # what one row is about: subject, session, check, case or document

    def touched_keys(self, batch: Batch) -> set[str]:
        raise NotImplementedError

    def fold(self, history: History, key: str, as_of: AsOf) -> Any:
        """The row's fold at the prefix, read from the ledger (None: nothing visible)."""
        raise NotImplementedError

    def entry_keys(self, entry: EntrySummary) -> tuple[str, ...]:
        """The rows whose fold the entry extends."""
        raise NotImplementedError

    def carry(self, key: str, before: Any, entries: list[LedgerEntry],
              batch: Batch) -> Any:  # fmt: skip
        """The row's fold after the batch, from its fold at `batch.after` (None at the
        ledger's start) and the batch's `entries` for it; or `NOT_CARRIED`."""
        raise NotImplementedError

    def row(self, key: str, fold: Any) -> Row | None:
        """The row a fold gives (None: nothing visible)."""
        raise NotImplementedError

    def compute(self, history: History, key: str, as_of: AsOf) -> Row | None:
        """The row as of the prefix, from the ledger: what an auditor's as-of read answers."""
        return self.row(key, self.fold(history, key, as_of))

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
