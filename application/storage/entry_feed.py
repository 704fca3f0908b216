"""What is new in the ledger after a position: the feed the projections follow.

Read models advance batch by batch in position order. For a batch they need its
entries (summaries are enough to know which rows it touches), the links that
became known within it, and how far behind the head they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from application.storage.entry_rows import EntryRows
from application.storage.schema import stream_column
from application.storage.unit_of_work import UnitOfWork
from domain.entries import AsOf, LedgerEntry, StreamKey
from domain.routing import is_anonymous


@dataclass(frozen=True)
class EntrySummary:
    """An index row without its payload: enough to know what a new entry touches."""

    position: int
    event_type: str
    stream: StreamKey
    session_id: str | None  # for `session.*` entries: the session they belong to
    subject: str | None  # the stream's subject as of the end of the batch it came in (§5.1)
    anonymous: tuple[str, ...] = ()  # unlinked: the anonymous subjects its stream belongs to


@dataclass(frozen=True)
class LinkChanges:
    """Links that became known within a range of positions, and the anonymous subjects whose
    streams they took (a stream joins a subject from the link on, and leaves its session's)."""

    stream_subjects: list[tuple[StreamKey, str]]
    session_subjects: list[tuple[str, str]]
    identity_subjects: list[str]
    left_anonymous: list[str] = field(default_factory=list)


class StoredEntries:
    """Entries read but not decoded yet: a reader that needs a few of them decodes those."""

    def __init__(self, rows: EntryRows, stored: dict[int, Any]) -> None:
        self._rows = rows
        self._stored = stored
        self._decoded: dict[int, LedgerEntry] = {}

    def all(self) -> list[LedgerEntry]:
        """Every entry, decoded, in position order."""
        return [self.at(position) for position in self._stored]

    def at(self, position: int) -> LedgerEntry:
        entry = self._decoded.get(position)
        if entry is None:
            entry = self._decoded[position] = self._rows.entry(self._stored[position])
        return entry


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
        return self.stored_after(after, limit).all()

    def stored_after(self, after: int, limit: int) -> StoredEntries:
        """The next entries after a position, as stored: each decoded when first asked for."""
        # Both sides of the join bounded: a merge join would otherwise read the events'
        # index from the first position on.
        query = (f"{self.rows.select} WHERE e.position>? AND s.{self.uow.sql.position_column}>?"
                 " ORDER BY e.position LIMIT ?")  # fmt: skip
        rows = self.uow.rows(query, after, after, limit)
        return StoredEntries(self.rows, {row["position"]: row for row in rows})

    def count_after(self, position: int) -> int:
        rows = self.uow.rows("SELECT count(*) AS n FROM ledger_entries WHERE position>?", position)
        return int(rows[0]["n"])

    def summaries(self, after: int, limit: int) -> list[EntrySummary]:
        """The next entries after a position, each with its stream's subject at the batch's end."""
        rows = self.uow.rows(
            "WITH batch AS (SELECT * FROM ledger_entries WHERE position>? ORDER BY position"
            " LIMIT ?) SELECT b.position, b.event_type, b.session_event, b.stream_type,"
            " b.stream_key, b.stream_id, b.session_id, l.subject FROM batch b"
            " LEFT JOIN stream_links l ON l.stream_id = b.stream_id"
            " AND l.position <= (SELECT max(position) FROM batch) ORDER BY b.position",
            after,
            limit,
        )
        if not rows:
            return []
        unlinked = {r["stream_id"] for r in rows if r["subject"] is None}
        sessions = self._sessions_named(unlinked, rows[-1]["position"])
        summaries = []
        for r in rows:
            stream = StreamKey(r["stream_type"], r["stream_key"])
            session = r["session_id"] if r["session_event"] else None
            anonymous: tuple[str, ...] = ()
            if r["subject"] is None:
                own = (
                    (stream.key,) if stream.type == "applicant" and is_anonymous(stream.key) else ()
                )
                named = tuple(f"session:{s}" for s in sessions.get(r["stream_id"], ()))
                anonymous = own + named
            summaries.append(EntrySummary(r["position"], r["event_type"], stream, session,
                                          r["subject"], anonymous))  # fmt: skip
        return summaries

    def _sessions_named(self, streams: set[str], upto: int) -> dict[str, list[str]]:
        """The sessions each stream had named up to a position (a stream's anonymous subjects),
        read a few hundred streams at a time."""
        named: dict[str, list[str]] = {}
        rows = self.uow.rows_in("SELECT stream_id, session_id FROM session_mentions"
                                " WHERE stream_id IN ({marks}) AND position<=?", sorted(streams),
                                upto)  # fmt: skip
        for row in rows:
            named.setdefault(row["stream_id"], []).append(row["session_id"])
        return named

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
        left = self.uow.rows(
            "SELECT DISTINCT m.session_id FROM stream_links l JOIN session_mentions m"
            " ON m.stream_id = l.stream_id WHERE l.position>? AND l.position<=?",
            after,
            upto,
        )
        stream_subjects = [
            (StreamKey(r["stream_type"], r["stream_key"]), r["subject"]) for r in streams
        ]
        left_anonymous = {f"session:{r['session_id']}" for r in left}
        left_anonymous |= {stream.key for stream, _ in stream_subjects
                           if stream.type == "applicant" and is_anonymous(stream.key)}  # fmt: skip
        return LinkChanges(
            stream_subjects=stream_subjects,
            session_subjects=[(r["session_id"], r["subject"]) for r in sessions],
            identity_subjects=[r["subject"] for r in identities],
            left_anonymous=sorted(left_anonymous),
        )

    def with_entries_upto(self, streams: list[StreamKey], position: int) -> set[StreamKey]:
        """Those of the streams with an entry at or before a position (by the stream index,
        a few hundred streams a query)."""
        if position == 0 or not streams:
            return set()
        by_id = {stream.id.hex: stream for stream in streams}
        ids, found = sorted(by_id), set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            probe = "SELECT ? AS stream_id WHERE EXISTS (SELECT 1 FROM ledger_entries"
            probe += " WHERE stream_id=? AND position<=?)"
            params = [p for stream_id in chunk for p in (stream_id, stream_id, position)]
            rows = self.uow.rows(" UNION ALL ".join([probe] * len(chunk)), *params)
            found |= {by_id[row["stream_id"]] for row in rows}
        return found

    def keys_seen(self, kind: str, as_of: AsOf) -> list[str]:
        """Every subject, session id, or key of one stream type with an entry in the prefix."""
        params: list[Any] = []
        if kind == "subject":  # linked subjects, and anonymous ones with unlinked streams
            unlinked = "NOT EXISTS (SELECT 1 FROM stream_links l WHERE l.stream_id={}.stream_id"
            unlinked += " AND l.position<=?)"
            query = (
                "SELECT DISTINCT subject AS k FROM stream_links WHERE position<=?"
                " UNION SELECT DISTINCT 'session:' || m.session_id AS k FROM session_mentions m"
                f" WHERE m.position<=? AND {unlinked.format('m')}"
                " UNION SELECT DISTINCT e.stream_key AS k FROM ledger_entries e"
                " WHERE e.stream_type='applicant' AND substr(e.stream_key, 1, 9)='identity:'"
                f" AND e.position<=? AND {unlinked.format('e')}"
            )
            params = [as_of.position] * 4  # and a fifth below
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
