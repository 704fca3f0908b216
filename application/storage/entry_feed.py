"""What is new in the ledger after a position: the feed the projections follow.

Read models advance batch by batch in position order. For a batch they need its
entries (summaries are enough to know which rows it touches), the links that
became known within it, and how far behind the head they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from application.storage.entry_rows import EntryRows
from application.storage.schema import stream_column
from application.storage.unit_of_work import UnitOfWork
from domain.entries import AsOf, LedgerEntry, StreamKey


@dataclass(frozen=True)
class EntrySummary:
    """An index row without its payload: enough to know what a new entry touches."""

    position: int
    event_type: str
    stream: StreamKey
    session_id: str | None  # for `session.*` entries: the session they belong to
    subject: str | None  # the stream's subject as of the end of the batch it came in


@dataclass(frozen=True)
class LinkChanges:
    """Links that became known within a range of positions."""

    stream_subjects: list[tuple[StreamKey, str]]
    session_subjects: list[tuple[str, str]]
    identity_subjects: list[str]


class EntryFeed:
    def __init__(self, uow: UnitOfWork, rows: EntryRows) -> None:
        self.uow = uow
        self.rows = rows

    def entries(self, as_of: AsOf) -> list[LedgerEntry]:
        """The whole ledger up to a prefix, in position order."""
        query = f"{self.rows.select} WHERE e.position<=? ORDER BY e.position"
        return [self.rows.entry(row) for row in self.uow.rows(query, as_of.position)]

    def entries_after(self, after: int, limit: int) -> list[LedgerEntry]:
        """The next entries after a position."""
        # Both sides of the join bounded: a merge join would otherwise read the events'
        # index from the first position on.
        query = (f"{self.rows.select} WHERE e.position>? AND s.{self.uow.sql.position_column}>?"
                 " ORDER BY e.position LIMIT ?")  # fmt: skip
        return [self.rows.entry(row) for row in self.uow.rows(query, after, after, limit)]

    def count_after(self, position: int) -> int:
        rows = self.uow.rows("SELECT count(*) AS n FROM ledger_entries WHERE position>?", position)
        return int(rows[0]["n"])

    def summaries(self, after: int, limit: int) -> list[EntrySummary]:
        """The next entries after a position, each with its stream's subject at the batch's end."""
        rows = self.uow.rows(
            "WITH batch AS (SELECT * FROM ledger_entries WHERE position>? ORDER BY position"
            " LIMIT ?) SELECT b.position, b.event_type, b.session_event, b.stream_type,"
            " b.stream_key, b.session_id, l.subject FROM batch b LEFT JOIN stream_links l"
            " ON l.stream_id = b.stream_id AND l.position <= (SELECT max(position) FROM batch)"
            " ORDER BY b.position",
            after,
            limit,
        )
        return [
            EntrySummary(
                r["position"],
                r["event_type"],
                StreamKey(r["stream_type"], r["stream_key"]),
                r["session_id"] if r["session_event"] else None,
                r["subject"],
            )
            for r in rows
        ]

    def link_changes(self, after: int, upto: int) -> LinkChanges:
        streams = self.uow.rows(
            f"SELECT {stream_column('l', 'stream_type')} AS stream_type,"
            f" {stream_column('l', 'stream_key')} AS stream_key, l.subject FROM stream_links l"
            " WHERE l.position>? AND l.position<=?",
            after,
            upto,
        )
        sessions = self.uow.rows(
            "SELECT session_id, subject FROM session_ties WHERE position>? AND position<=?",
            after,
            upto,
        )
        identities = self.uow.rows(
            "SELECT DISTINCT everyone.subject AS subject FROM identity_refs new"
            " JOIN identity_refs everyone ON everyone.identity_id = new.identity_id"
            " WHERE new.position>? AND new.position<=?",
            after,
            upto,
        )
        return LinkChanges(
            stream_subjects=[
                (StreamKey(r["stream_type"], r["stream_key"]), r["subject"]) for r in streams
            ],
            session_subjects=[(r["session_id"], r["subject"]) for r in sessions],
            identity_subjects=[r["subject"] for r in identities],
        )

    def keys_seen(self, kind: str, as_of: AsOf) -> list[str]:
        """Every subject, session id, or key of one stream type with an entry in the prefix."""
        params: list[Any] = []
        if kind == "subject":
            query = "SELECT DISTINCT subject AS k FROM stream_links WHERE position<=?"
        elif kind == "session":
            query = (
                "SELECT DISTINCT session_id AS k FROM ledger_entries WHERE session_event=1"
                " AND session_id IS NOT NULL AND stream_type='applicant' AND position<=?"
            )
        else:
            query = (
                "SELECT DISTINCT stream_key AS k FROM ledger_entries"
                " WHERE stream_type=? AND position<=?"
            )
            params = [kind]
        return [r["k"] for r in self.uow.rows(query, *params, as_of.position)]
