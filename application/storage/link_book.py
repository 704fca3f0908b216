"""The domain's `LinkBook` kept in the links index's tables, in a writing unit of work.

`suffix` names the build of the links index written: "" for the live one. One
book serves a whole batch (`at` moves it to each entry's position) and remembers
every answer it read or wrote: its unit of work holds the append lock (or is the
only writer of its build), so nothing else changes these tables while it is open.
`prefetch` reads the batch's own streams and sessions in one query each instead
of one per entry, which on PostgreSQL is one round trip instead of many; what it
learns is kept until `write`, which stores each table's new rows in one statement
(call it before anything else reads these tables in the unit of work). The first
write of a link wins (the domain's rule): later ones change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from application.storage.schema import LINK_TYPES
from application.storage.unit_of_work import UnitOfWork


class StoredLinkBook:
    def __init__(self, uow: UnitOfWork, suffix: str = "") -> None:
        self.uow = uow
        self.suffix = suffix
        self.position = 0
        self._subjects: dict[tuple[str, str], str | None] = {}  # (table, key) -> subject
        self._mentions: dict[str, list[str]] = {}  # session -> streams, stored or to write
        self._unwritten: dict[str, list[tuple[Any, ...]]] = {table: [] for table in LINK_TYPES}

    def at(self, position: int) -> StoredLinkBook:
        """The book for the entry at `position`: what it writes is learned there."""
        self.position = position
        return self

    def prefetch(self, streams: Iterable[UUID], sessions: Iterable[str]) -> None:
        for table, column, keys in (("stream_links", "stream_id", {s.hex for s in streams}),
                                    ("session_ties", "session_id", set(sessions))):  # fmt: skip
            unknown = sorted(k for k in keys if (table, k) not in self._subjects)
            if not unknown:
                continue
            rows = self.uow.rows_in(f"SELECT {column} AS key, subject FROM {table}{self.suffix}"
                                    f" WHERE {column} IN ({{marks}})", unknown)  # fmt: skip
            found = {row["key"]: row["subject"] for row in rows}
            self._subjects.update({(table, key): found.get(key) for key in unknown})

    def _subject(self, table: str, column: str, value: str) -> str | None:
        if (table, value) not in self._subjects:
            rows = self.uow.rows(
                f"SELECT subject FROM {table}{self.suffix} WHERE {column}=?", value
            )
            self._subjects[(table, value)] = rows[0]["subject"] if rows else None
        return self._subjects[(table, value)]

    def _remember(self, table: str, *values: str) -> None:
        self._unwritten[table].append((*values, self.position))

    def write(self) -> None:
        """Store what was learned since the last write: each table's rows in one statement,
        in the order learned (so the first of a key is the one kept)."""
        for table, rows in self._unwritten.items():
            self.uow.insert_rows(f"{table}{self.suffix}", LINK_TYPES[table], rows,
                                 "ON CONFLICT DO NOTHING")  # fmt: skip
            rows.clear()

    def _link(self, table: str, key: str, subject: str) -> None:
        self._remember(table, key, subject)
        if (table, key) in self._subjects and self._subjects[(table, key)] is None:
            self._subjects[(table, key)] = subject  # none before: this write was the first

    def subject_of_stream(self, stream: UUID) -> str | None:
        return self._subject("stream_links", "stream_id", stream.hex)

    def subject_of_session(self, session_id: str) -> str | None:
        return self._subject("session_ties", "session_id", session_id)

    def streams_mentioning(self, session_id: str) -> Iterable[UUID]:
        if session_id not in self._mentions:
            rows = self.uow.rows(f"SELECT stream_id FROM session_mentions{self.suffix}"
                                 " WHERE session_id=?", session_id)  # fmt: skip
            unwritten = [row[1] for row in self._unwritten["session_mentions"]
                         if row[0] == session_id]  # fmt: skip
            self._mentions[session_id] = list(dict.fromkeys(
                [*(row["stream_id"] for row in rows), *unwritten]))  # fmt: skip
        return [UUID(stream) for stream in self._mentions[session_id]]

    def link_stream(self, stream: UUID, subject: str) -> None:
        self._link("stream_links", stream.hex, subject)

    def tie_session(self, session_id: str, subject: str) -> None:
        self._link("session_ties", session_id, subject)

    def note_mention(self, stream: UUID, session_id: str) -> None:
        mentioned = self._mentions.get(session_id)
        if mentioned is not None and stream.hex not in mentioned:
            mentioned.append(stream.hex)
        self._remember("session_mentions", session_id, stream.hex)

    def note_identity(self, identity_id: str, subject: str) -> None:
        self._remember("identity_refs", identity_id, subject)
