"""The ledger index: bookkeeping rows written in the same transaction as each ledger event.

The event store holds what Verifa said. The index holds what the ledger needs to
find it again without scanning: the position and clock of each entry, its
idempotency key (unique: the database decides duplicates, even under concurrent
retries), and the links between streams, sessions and subjects, each with the
position at which it became known so that as-of reads can ignore later links.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from psycopg.sql import SQL

from domain.entries import StreamKey, text_field
from domain.personal_data import erasure_requested
from domain.routing import LinkRules, learn_links
from domain.sessions import is_session_event
from ledger.chain import GENESIS, entry_digest
from ledger.clock import utc_now_iso
from ledger.dialect import POSTGRES, SQLITE, Dialect
from ledger.erasure import erasure_scopes
from ledger.keyring import erase_keys

ENTRY_TABLES = [
    """CREATE TABLE IF NOT EXISTS ledger_entries (
        position BIGINT PRIMARY KEY,
        recorded_at TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        event_type TEXT NOT NULL,
        session_event INTEGER NOT NULL,
        stream_type TEXT NOT NULL,
        stream_key TEXT NOT NULL,
        stream_id TEXT NOT NULL,
        stream_version BIGINT NOT NULL,
        session_id TEXT,
        webhook_id TEXT,
        previous_position BIGINT NOT NULL,
        digest TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS ledger_entries_by_stream ON ledger_entries (stream_id, position)",
    "CREATE INDEX IF NOT EXISTS ledger_entries_by_session ON ledger_entries (session_id, position)",
    "CREATE INDEX IF NOT EXISTS ledger_entries_by_time ON ledger_entries (recorded_at, position)",
]

# The links index (the `subject_links` projection). The live build has these
# names; a build beside it has the same tables with its suffix, e.g. `_v2_g1`.
LINK_TABLES = {
    "stream_links": "stream_id TEXT PRIMARY KEY, subject TEXT NOT NULL, position BIGINT NOT NULL",
    "session_ties": "session_id TEXT PRIMARY KEY, subject TEXT NOT NULL, position BIGINT NOT NULL",
    "session_mentions": "session_id TEXT NOT NULL, stream_id TEXT NOT NULL,"
    " position BIGINT NOT NULL, PRIMARY KEY (session_id, stream_id)",
    "identity_refs": "identity_id TEXT NOT NULL, subject TEXT NOT NULL,"
    " position BIGINT NOT NULL, PRIMARY KEY (identity_id, subject)",
}
# Secondary indexes of the live build only: reads by subject, and sealing's read of the sessions
# a stream mentioned. Builds learn by primary key.
LINK_INDEXES = {
    "stream_links_by_subject": "stream_links (subject, position)",
    "identity_refs_by_subject": "identity_refs (subject, position)",
    "session_mentions_by_stream": "session_mentions (stream_id)",
}


def link_tables(suffix: str = "") -> list[str]:
    """The links index's tables; with a suffix, those of a build beside the live one."""
    statements = [f"CREATE TABLE IF NOT EXISTS {table}{suffix} ({columns})"
                  for table, columns in LINK_TABLES.items()]  # fmt: skip
    if not suffix:
        statements += [f"CREATE INDEX IF NOT EXISTS {name} ON {on}"
                       for name, on in LINK_INDEXES.items()]  # fmt: skip
    return statements


INDEX_TABLES = [*ENTRY_TABLES, *link_tables()]


@dataclass(frozen=True)
class IndexEntry:
    """What the index needs to know about a delivery being appended."""

    idempotency_key: str
    event_type: str
    stream: StreamKey
    payload: dict[str, Any]
    webhook_id: str | None


class CursorLinkBook:
    """The domain's `LinkBook` over an open write transaction; first writes win.

    `suffix` names the build of the links index written: "" for the live one.
    One book serves a whole batch (`at` moves it to each entry's position) and
    remembers every answer it read or wrote: the transaction holds the append
    lock (or is the only writer of its build), so nothing else changes these
    tables while it is open. `prefetch` reads the batch's own streams and
    sessions in one query each instead of one per entry, which on PostgreSQL
    is one round trip instead of many.
    """

    def __init__(self, cursor: Any, sql: Dialect, suffix: str = "") -> None:
        self.c = cursor
        self.sql = sql
        self.suffix = suffix
        self.position = 0
        self._subjects: dict[tuple[str, str], str | None] = {}  # (table, key) -> subject

    def at(self, position: int) -> CursorLinkBook:
        """The book for the entry at `position`: what it writes is learned there."""
        self.position = position
        return self

    def prefetch(self, streams: Iterable[UUID], sessions: Iterable[str]) -> None:
        for table, column, keys in (("stream_links", "stream_id", {s.hex for s in streams}),
                                    ("session_ties", "session_id", set(sessions))):  # fmt: skip
            unknown = sorted(k for k in keys if (table, k) not in self._subjects)
            if not unknown:
                continue
            marks = ",".join("?" * len(unknown))
            self.c.execute(self.sql(f"SELECT {column} AS key, subject FROM {table}{self.suffix}"
                                    f" WHERE {column} IN ({marks})"), unknown)  # fmt: skip
            found = {row["key"]: row["subject"] for row in self.c.fetchall()}
            self._subjects.update({(table, key): found.get(key) for key in unknown})

    def _subject(self, table: str, column: str, value: str) -> str | None:
        if (table, value) not in self._subjects:
            self.c.execute(
                self.sql(f"SELECT subject FROM {table}{self.suffix} WHERE {column}=?"), (value,)
            )
            row = self.c.fetchone()
            self._subjects[(table, value)] = row["subject"] if row else None
        return self._subjects[(table, value)]

    def _remember(self, table: str, *values: str) -> None:
        self.c.execute(
            self.sql(f"INSERT INTO {table}{self.suffix} VALUES (?,?,?) ON CONFLICT DO NOTHING"),
            (*values, self.position),
        )

    def _link(self, table: str, key: str, subject: str) -> None:
        self._remember(table, key, subject)
        if (table, key) in self._subjects and self._subjects[(table, key)] is None:
            self._subjects[(table, key)] = subject  # none before: this write was the first

    def subject_of_stream(self, stream: UUID) -> str | None:
        return self._subject("stream_links", "stream_id", stream.hex)

    def subject_of_session(self, session_id: str) -> str | None:
        return self._subject("session_ties", "session_id", session_id)

    def streams_mentioning(self, session_id: str) -> Iterable[UUID]:
        self.c.execute(
            self.sql(f"SELECT stream_id FROM session_mentions{self.suffix} WHERE session_id=?"),
            (session_id,),
        )
        return [UUID(row["stream_id"]) for row in self.c.fetchall()]

    def link_stream(self, stream: UUID, subject: str) -> None:
        self._link("stream_links", stream.hex, subject)

    def tie_session(self, session_id: str, subject: str) -> None:
        self._link("session_ties", session_id, subject)

    def note_mention(self, stream: UUID, session_id: str) -> None:
        self._remember("session_mentions", session_id, stream.hex)

    def note_identity(self, identity_id: str, subject: str) -> None:
        self._remember("identity_refs", identity_id, subject)


def write_index(
    c: Any,
    sql: Dialect,
    positions: Sequence[int],
    stored_events: Sequence[StoredEvent],
    entries: Sequence[IndexEntry],
    link_rules: LinkRules,
) -> None:
    """Index the events just inserted, inside the insert's transaction and table lock."""
    if len(entries) != len(stored_events):
        msg = "every ledger event is saved with its index entry"
        raise ValueError(msg)
    c.execute("SELECT position, recorded_at, digest FROM ledger_entries"
              " ORDER BY position DESC LIMIT 1")  # fmt: skip
    last = c.fetchone()
    # The ledger clock: UTC now, never earlier than the last entry, so it grows with position.
    recorded_at = max(utc_now_iso(), last["recorded_at"]) if last else utc_now_iso()
    previous = (last["position"], last["digest"]) if last else (0, GENESIS)
    book = CursorLinkBook(c, sql)
    book.prefetch((e.stream.id for e in entries),
                  filter(None, (text_field(e.payload, "session_id") for e in entries)))  # fmt: skip
    for position, stored, entry in zip(positions, stored_events, entries, strict=True):
        row = (
            position,
            recorded_at,
            entry.idempotency_key,
            entry.event_type,
            int(is_session_event(entry.event_type)),
            entry.stream.type,
            entry.stream.key,
            entry.stream.id.hex,
            stored.originator_version,
            text_field(entry.payload, "session_id"),
            entry.webhook_id,
        )
        digest = entry_digest(previous[1], previous[0], row, stored.originator_id,
                              stored.originator_version, stored.topic, stored.state)  # fmt: skip
        c.execute(sql("INSERT INTO ledger_entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"),
                  (*row, previous[0], digest))  # fmt: skip
        previous = (position, digest)
        link_rules(book.at(position), entry.stream, entry.payload)
        erasure = erasure_requested(entry.event_type, entry.payload)
        if erasure:
            erase_keys(c, sql, erasure_scopes(c, sql, erasure), position)


class IndexedSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, plus the ledger index in the same transaction."""

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.link_rules: LinkRules = learn_links  # the live links build's rules

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *INDEX_TABLES]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        positions = super()._insert_events(c, stored_events, **kwargs)
        assert positions is not None
        entries = kwargs.get("index_entries", ())
        write_index(c, SQLITE, positions, stored_events, entries, self.link_rules)
        return positions


class IndexedPostgresRecorder(PostgresApplicationRecorder):
    """The library's PostgreSQL recorder, plus the ledger index in the same transaction.

    Every append takes the library's EXCLUSIVE lock on the events table, so
    positions commit in order (readers never skip a gap) and the index's clock
    and link learning see every earlier entry. The insert and the index share one
    plain transaction: any error, the server's or ours, rolls both back.
    """

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.link_rules: LinkRules = learn_links  # the live links build's rules
        # The transaction a group commit's batch is in, if any: the append joins it.
        self.batch_cursor: Callable[[], Any] = lambda: None
        self.sql_create_statements.extend(SQL(statement).format() for statement in INDEX_TABLES)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        batch = self.batch_cursor()
        if batch is not None:  # committed with the batch's transaction
            return self._insert_indexed(batch, stored_events, **kwargs)
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            return self._insert_indexed(curs, stored_events, **kwargs)

    def _insert_indexed(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> list[int]:
        # Pipelined: statements go out without waiting for each answer (the table lock, the
        # notification and the insert, then the index's writes), so few round trips wait.
        with curs.connection.pipeline():
            self._insert_stored_events(curs, stored_events, **kwargs)  # lock, notify, insert
            positions = [row["notification_id"] for row in curs.fetchall()]
            entries = kwargs.get("index_entries", ())
            write_index(curs, POSTGRES, positions, stored_events, entries, self.link_rules)
        return positions
