"""The domain's `LinkBook` kept in the links index's tables, in a writing unit of work.

`suffix` names the build of the links index written: "" for the live one. One
book serves a whole batch (`at` moves it to each entry's position) and remembers
every answer it read or wrote: its unit of work holds the append lock (or is the
only writer of its build), so nothing else changes these tables while it is open.
`prefetch` reads the batch's own streams and sessions in one query each instead
of one per entry, which on PostgreSQL is one round trip instead of many. The
first write of a link wins (the domain's rule): later ones change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from application.storage.unit_of_work import UnitOfWork


class StoredLinkBook:
    def __init__(self, uow: UnitOfWork, suffix: str = "") -> None:
        self.uow = uow
        self.suffix = suffix
        self.position = 0
        self._subjects: dict[tuple[str, str], str | None] = {}  # (table, key) -> subject

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
            marks = ",".join("?" * len(unknown))
            rows = self.uow.rows(f"SELECT {column} AS key, subject FROM {table}{self.suffix}"
                                 f" WHERE {column} IN ({marks})", *unknown)  # fmt: skip
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
        self.uow.execute(f"INSERT INTO {table}{self.suffix} VALUES (?,?,?) ON CONFLICT DO NOTHING",
                         (*values, self.position))  # fmt: skip

    def _link(self, table: str, key: str, subject: str) -> None:
        self._remember(table, key, subject)
        if (table, key) in self._subjects and self._subjects[(table, key)] is None:
            self._subjects[(table, key)] = subject  # none before: this write was the first

    def subject_of_stream(self, stream: UUID) -> str | None:
        return self._subject("stream_links", "stream_id", stream.hex)

    def subject_of_session(self, session_id: str) -> str | None:
        return self._subject("session_ties", "session_id", session_id)

    def streams_mentioning(self, session_id: str) -> Iterable[UUID]:
        rows = self.uow.rows(
            f"SELECT stream_id FROM session_mentions{self.suffix} WHERE session_id=?", session_id
        )
        return [UUID(row["stream_id"]) for row in rows]

    def link_stream(self, stream: UUID, subject: str) -> None:
        self._link("stream_links", stream.hex, subject)

    def tie_session(self, session_id: str, subject: str) -> None:
        self._link("session_ties", session_id, subject)

    def note_mention(self, stream: UUID, session_id: str) -> None:
        self._remember("session_mentions", session_id, stream.hex)

    def note_identity(self, identity_id: str, subject: str) -> None:
        self._remember("identity_refs", identity_id, subject)
