"""Reading the ledger as of a point in its own time (DESIGN §2 "as of").

Every read names a prefix of the ledger, `AsOf(position, recorded_at)`, and sees
only the entries and the links recorded at or before it. The live projections
use these reads too, so what they store is what an as-of read would answer.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Repository
from eventsourcing.persistence import Mapper, StoredEvent

from domain.aggregates import DELIVERY_TOPICS, LedgerStream, replay
from domain.entries import LedgerEntry, StreamKey
from ledger.dialect import POSTGRES, Dialect


@dataclass(frozen=True)
class AsOf:
    """A prefix of the ledger: every entry up to `position`; the last one's `recorded_at`."""

    position: int
    recorded_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "recorded_at": self.recorded_at}


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


_POSITION = re.compile(r"[0-9]+")
# Positions are SQLite integers; anything larger means "past the head".
MAX_POSITION = 2**63 - 1


def parse_point(text: str | None) -> int | datetime | None:
    """An `as_of` as users write it: a position, or an ISO-8601 instant with an offset."""
    if text is None:
        return None
    if _POSITION.fullmatch(text):
        return int(text)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        msg = "as_of must be a position (integer) or an ISO-8601 instant with offset"
        raise ValueError(msg)
    return instant


_ENTRY_COLUMNS = """e.position, e.recorded_at, e.event_type, e.idempotency_key, e.stream_type,
    e.stream_key, s.originator_id, s.originator_version, s.topic, s.state"""
_LINKED = "SELECT stream_id FROM stream_links WHERE subject=? AND position<=?"


def stream_column(alias: str, column: str) -> str:
    """SQL for a column (`stream_type`, `stream_key`) of the stream in a row of `alias` (a link
    table's), from the stream's first entry: one index probe per row whatever the planner's
    statistics say, where a join on stream_id can turn into a scan of the whole ledger."""
    return (f"(SELECT e.{column} FROM ledger_entries e WHERE e.stream_id = {alias}.stream_id"
            " ORDER BY e.position LIMIT 1)")  # fmt: skip


class History:
    """As-of queries over the event store and its index."""

    def __init__(
        self, datastore: Any, sql: Dialect, mapper: Mapper[UUID], repository: Repository[UUID]
    ) -> None:
        self.datastore = datastore
        self.sql = sql
        self.mapper = mapper
        self.repository = repository
        self._pinned = threading.local()
        self.entries_sql = (
            f"SELECT {_ENTRY_COLUMNS} FROM ledger_entries e JOIN {sql.events_table} s"
            f" ON s.{sql.position_column} = e.position"
        )

    @contextmanager
    def reading(self, *, then_writing: bool = False, on_sqlite: bool = False) -> Iterator[None]:
        """Run this thread's reads in one transaction on one connection (many small reads,
        such as a projection batch's, then cost one connection checkout, not one each).
        With `then_writing`, a group commit's batch: its append joins the transaction
        (`write_cursor`), which commits on leaving the block.

        On PostgreSQL, where each checkout is round trips to the server. On SQLite only
        when asked (`on_sqlite`, for a projection batch's thousands of reads in a process
        of its own): there a long read transaction holds back the write-ahead log's
        checkpoints, and an API process's reads must not slow its own appends.
        """
        pinned = getattr(self._pinned, "cursor", None) is not None
        if pinned or (self.sql is not POSTGRES and not on_sqlite):
            yield
            return
        with self.datastore.transaction(commit=then_writing) as c:
            self._pinned.cursor, self._pinned.writing = c, then_writing
            try:
                yield
            finally:
                self._pinned.cursor, self._pinned.writing = None, False

    def write_cursor(self) -> Any:
        """This thread's batch transaction (see `reading`), if one is open for writing."""
        return self._pinned.cursor if getattr(self._pinned, "writing", False) else None

    def _rows(self, sql: str, *params: Any, cursor: Any = None) -> list[Any]:
        cursor = cursor or getattr(self._pinned, "cursor", None)
        if cursor is not None:
            cursor.execute(self.sql(sql), params)
            return list(cursor.fetchall())
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql(sql), params)
            return list(c.fetchall())

    def _entries(self, sql: str, *params: Any) -> list[LedgerEntry]:
        return [self._entry(row) for row in self._rows(sql, *params)]

    def _entry(self, row: Any) -> LedgerEntry:
        body, sealed, scope = self._delivery(row)
        return LedgerEntry(
            position=row["position"],
            recorded_at=row["recorded_at"],
            event_type=row["event_type"],
            idempotency_key=row["idempotency_key"],
            stream=StreamKey(row["stream_type"], row["stream_key"]),
            payload=json.loads(body),
            sealed=base64.b64decode(sealed) if sealed else None,
            scope=scope,
        )

    def _delivery(self, row: Any) -> tuple[str, str | None, str | None]:
        """The stored event's body, sealed body and scope.

        Read from its stored JSON when it is one of the ledger's delivery events stored
        as plain JSON (the ledger configures no compression or cipher): the library's
        mapper would build the whole event, timestamp and all, to give three strings.
        """
        state = bytes(row["state"])
        if row["topic"] in DELIVERY_TOPICS and state[:1] == b"{":
            fields = json.loads(state)
            return fields["body"], fields.get("sealed"), fields.get("scope")
        event = self.mapper.to_domain_event(
            StoredEvent(
                UUID(str(row["originator_id"])), row["originator_version"], row["topic"], state
            )
        )
        assert isinstance(event, LedgerStream.Opened | LedgerStream.Recorded)
        return event.body, event.sealed, event.scope

    # Where a read stands.

    def head(self) -> AsOf:
        return self.as_of_position(None)

    def _prefix(self, where: str, *params: Any) -> AsOf:
        rows = self._rows(
            f"SELECT position, recorded_at FROM ledger_entries {where}"
            " ORDER BY position DESC LIMIT 1",
            *params,
        )
        return AsOf(rows[0]["position"], rows[0]["recorded_at"]) if rows else AsOf(0, None)

    def as_of_position(self, position: int | None) -> AsOf:
        """The prefix up to `position` (the head when None or past it)."""
        if position is None:
            return self._prefix("")
        return self._prefix("WHERE position<=?", min(position, MAX_POSITION))

    def as_of_instant(self, instant: datetime) -> AsOf:
        """The prefix up to the last entry recorded at or before `instant`."""
        try:
            stamp = instant.astimezone(UTC).isoformat(timespec="microseconds")
        except OverflowError:  # the edges of the calendar: before or after everything
            return AsOf(0, None) if instant.year == datetime.min.year else self.head()
        return self._prefix("WHERE recorded_at<=?", stamp)

    def count_after(self, position: int) -> int:
        rows = self._rows("SELECT count(*) AS n FROM ledger_entries WHERE position>?", position)
        return int(rows[0]["n"])

    def position_of(self, idempotency_key: str) -> int | None:
        rows = self._rows(
            "SELECT position FROM ledger_entries WHERE idempotency_key=?", idempotency_key
        )
        return int(rows[0]["position"]) if rows else None

    def positions_of(self, idempotency_keys: Sequence[str]) -> dict[str, int]:
        """The positions of those keys already recorded."""
        if not idempotency_keys:
            return {}
        marks = ",".join("?" * len(idempotency_keys))
        rows = self._rows(f"SELECT idempotency_key, position FROM ledger_entries"
                          f" WHERE idempotency_key IN ({marks})", *idempotency_keys)  # fmt: skip
        return {row["idempotency_key"]: int(row["position"]) for row in rows}

    def stream_versions(self, stream_ids: Sequence[UUID]) -> dict[UUID, int]:
        """The stored version of each of those streams that has events."""
        if not stream_ids:
            return {}
        # One index probe per stream (its last entry), whatever the planner's statistics say:
        # with none, PostgreSQL answered `stream_id IN (...)` by scanning the whole ledger.
        values = ",".join(["(?)"] * len(stream_ids))
        rows = self._rows(f"SELECT v.column1 AS stream_id, (SELECT e.stream_version FROM"
                          f" ledger_entries e WHERE e.stream_id = v.column1 ORDER BY e.position"
                          f" DESC LIMIT 1) AS version FROM (VALUES {values}) AS v",
                          *(s.hex for s in stream_ids))  # fmt: skip
        return {UUID(row["stream_id"]): int(row["version"])
                for row in rows if row["version"] is not None}  # fmt: skip

    def current_streams(self, stream_ids: Sequence[UUID]) -> dict[UUID, LedgerStream]:
        """Those of the streams that are stored, each as it stands now, all in one read."""
        if not stream_ids:
            return {}
        marks = ",".join("?" * len(stream_ids))
        ids = [s.hex if self.sql is not POSTGRES else s for s in stream_ids]
        return self._replayed(f"SELECT originator_id, originator_version, topic, state"
                              f" FROM {self.sql.events_table} WHERE originator_id IN ({marks})"
                              f" ORDER BY originator_id, originator_version", *ids)  # fmt: skip

    def _replayed(self, sql: str, *params: Any) -> dict[UUID, LedgerStream]:
        """The streams of the stored events the query selects, in version order per stream."""
        events: dict[UUID, list[Any]] = {}
        for row in self._rows(sql, *params):
            stream_id = UUID(str(row["originator_id"]))
            stored = StoredEvent(stream_id, row["originator_version"], row["topic"],
                                 bytes(row["state"]))  # fmt: skip
            events.setdefault(stream_id, []).append(self.mapper.to_domain_event(stored))
        return {stream_id: replay(None, stream) for stream_id, stream in events.items()}

    def entries(self, as_of: AsOf) -> list[LedgerEntry]:
        """The whole ledger up to a prefix, in position order."""
        return self._entries(
            f"{self.entries_sql} WHERE e.position<=? ORDER BY e.position", as_of.position
        )

    def entries_after(self, after: int, limit: int, cursor: Any = None) -> list[LedgerEntry]:
        """The next entries after a position; in `cursor`'s transaction when given."""
        # Both sides of the join bounded: a merge join would otherwise read the events'
        # index from the first position on.
        rows = self._rows(
            f"{self.entries_sql} WHERE e.position>? AND s.{self.sql.position_column}>?"
            " ORDER BY e.position LIMIT ?",
            after,
            after,
            limit,
            cursor=cursor,
        )
        return [self._entry(row) for row in rows]

    # Subjects.

    def subject_is_known(self, subject: str, as_of: AsOf) -> bool:
        return bool(self._rows(_LINKED + " LIMIT 1", subject, as_of.position))

    def subject_history(
        self, subject: str, as_of: AsOf, *, after: int = 0, limit: int | None = None
    ) -> list[LedgerEntry]:
        """The subject's own and linked streams, as far as links were known at `as_of`."""
        sql = (
            f"{self.entries_sql} WHERE e.stream_id IN ({_LINKED})"
            " AND e.position<=? AND e.position>? ORDER BY e.position"
        )
        params: list[Any] = [subject, as_of.position, as_of.position, after]
        if limit is not None:
            sql, params = sql + " LIMIT ?", [*params, limit]
        return self._entries(sql, *params)

    def shared_identity_with(self, subject: str, as_of: AsOf) -> list[str]:
        # Two reads, each by index: joined in one, PostgreSQL without planner statistics
        # scanned every identity reference.
        identities = self._rows(
            "SELECT identity_id FROM identity_refs WHERE subject=? AND position<=?",
            subject,
            as_of.position,
        )
        if not identities:
            return []
        marks = ",".join("?" * len(identities))
        rows = self._rows(
            f"SELECT DISTINCT subject FROM identity_refs WHERE identity_id IN ({marks})"
            " AND position<=? AND subject<>?",
            *(row["identity_id"] for row in identities),
            as_of.position,
            subject,
        )
        return sorted(row["subject"] for row in rows)

    # Sessions and streams.

    def session_history(self, session_id: str, as_of: AsOf) -> list[LedgerEntry]:
        return self._entries(
            f"{self.entries_sql} WHERE e.session_id=? AND e.stream_type='applicant'"
            " AND e.session_event=1 AND e.position<=? ORDER BY e.position",
            session_id,
            as_of.position,
        )

    def sessions_mentioned(self, streams: Sequence[StreamKey]) -> dict[UUID, list[str]]:
        """The sessions each stream's deliveries have named so far, in one read (one index
        probe per stream, whatever the planner's statistics say)."""
        ids = sorted({stream.id.hex for stream in streams})
        if not ids:
            return {}
        probe = "SELECT stream_id, session_id FROM session_mentions WHERE stream_id=?"
        mentioned: dict[UUID, list[str]] = {}
        for row in self._rows(" UNION ALL ".join([probe] * len(ids)), *ids):
            mentioned.setdefault(UUID(row["stream_id"]), []).append(row["session_id"])
        return mentioned

    def session_is_known(self, session_id: str) -> bool:
        return bool(
            self._rows("SELECT 1 FROM ledger_entries WHERE session_id=? LIMIT 1", session_id)
        )

    def session_subject(self, session_id: str, as_of: AsOf) -> str | None:
        rows = self._rows(
            "SELECT subject FROM session_ties WHERE session_id=? AND position<=?",
            session_id,
            as_of.position,
        )
        return rows[0]["subject"] if rows else None

    def stream_as_of(self, stream: StreamKey, as_of: AsOf) -> LedgerStream | None:
        """The stream's aggregate as it stood at the prefix (None before its first event)."""
        streams = self._replayed(
            f"SELECT s.originator_id, s.originator_version, s.topic, s.state"
            f" FROM ledger_entries e JOIN {self.sql.events_table} s"
            f" ON s.{self.sql.position_column} = e.position"
            " WHERE e.stream_id=? AND e.position<=? ORDER BY e.position",
            stream.id.hex,
            as_of.position,
        )
        return streams.get(stream.id)

    def stream_subject(self, stream: StreamKey, as_of: AsOf) -> str | None:
        rows = self._rows(
            "SELECT subject FROM stream_links WHERE stream_id=? AND position<=?",
            stream.id.hex,
            as_of.position,
        )
        return rows[0]["subject"] if rows else None

    # What changed: for projections.

    def summaries(self, after: int, limit: int) -> list[EntrySummary]:
        """The next entries after a position, each with its stream's subject at the batch's end."""
        rows = self._rows(
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
        streams = self._rows(
            f"SELECT {stream_column('l', 'stream_type')} AS stream_type,"
            f" {stream_column('l', 'stream_key')} AS stream_key, l.subject FROM stream_links l"
            " WHERE l.position>? AND l.position<=?",
            after,
            upto,
        )
        sessions = self._rows(
            "SELECT session_id, subject FROM session_ties WHERE position>? AND position<=?",
            after,
            upto,
        )
        identities = self._rows(
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
            sql = "SELECT DISTINCT subject AS k FROM stream_links WHERE position<=?"
        elif kind == "session":
            sql = (
                "SELECT DISTINCT session_id AS k FROM ledger_entries WHERE session_event=1"
                " AND session_id IS NOT NULL AND stream_type='applicant' AND position<=?"
            )
        else:
            sql = (
                "SELECT DISTINCT stream_key AS k FROM ledger_entries"
                " WHERE stream_type=? AND position<=?"
            )
            params = [kind]
        return [r["k"] for r in self._rows(sql, *params, as_of.position)]
