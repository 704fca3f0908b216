"""Whose entries are whose, as of a prefix: a subject's history, a session's (DESIGN §5.1).

A subject's history is every entry of the streams linked to it, as far as the
links were known at the prefix: a stream linked later appears, earlier entries
and all, only from the position of the link on. An anonymous subject, an
applicant known only by a session (`session:<id>`) or an identity
(`identity:<id>`), has the streams that named it and are linked to no subject
at the prefix.
"""

from __future__ import annotations

from typing import Any

from application.storage.entry_rows import EntryRows
from application.storage.unit_of_work import UnitOfWork
from domain.entries import AsOf, LedgerEntry, StreamKey
from domain.routing import is_anonymous

_LINKED = "SELECT stream_id FROM stream_links WHERE subject=? AND position<=?"
_UNLINKED = "NOT EXISTS (SELECT 1 FROM stream_links l WHERE l.stream_id={} AND l.position<=?)"
_SESSION_STREAMS = ("SELECT m.stream_id FROM session_mentions m WHERE m.session_id=?"
                    f" AND m.position<=? AND {_UNLINKED.format('m.stream_id')}")  # fmt: skip
_IDENTITY_STREAM = f"SELECT ? AS stream_id WHERE {_UNLINKED.format('?')}"


def _streams_of(subject: str, as_of: AsOf) -> tuple[str, list[Any]]:
    """A query for the ids of the subject's streams as of the prefix, and its parameters."""
    if not is_anonymous(subject):
        return _LINKED, [subject, as_of.position]
    if subject.startswith("session:"):
        return _SESSION_STREAMS, [subject.removeprefix("session:"), as_of.position, as_of.position]
    stream = StreamKey("applicant", subject).id.hex
    return _IDENTITY_STREAM, [stream, stream, as_of.position]


class Timelines:
    def __init__(self, uow: UnitOfWork, rows: EntryRows) -> None:
        self.uow = uow
        self.rows = rows

    def _entries(self, query: str, *params: Any) -> list[LedgerEntry]:
        return [self.rows.entry(row) for row in self.uow.rows(query, *params)]

    def subject_is_known(self, subject: str, as_of: AsOf) -> bool:
        if not is_anonymous(subject):
            return bool(self.uow.rows(_LINKED + " LIMIT 1", subject, as_of.position))
        streams, params = _streams_of(subject, as_of)
        query = f"SELECT 1 FROM ledger_entries WHERE stream_id IN ({streams}) AND position<=?"
        return bool(self.uow.rows(query + " LIMIT 1", *params, as_of.position))

    def subject_history(
        self, subject: str, as_of: AsOf, *, after: int = 0, limit: int | None = None
    ) -> list[LedgerEntry]:
        """The subject's own and linked streams' entries after a position, ascending."""
        streams, params = _streams_of(subject, as_of)
        query = (
            f"{self.rows.select} WHERE e.stream_id IN ({streams})"
            " AND e.position<=? AND e.position>? ORDER BY e.position"
        )
        params += [as_of.position, after]
        if limit is not None:
            query, params = query + " LIMIT ?", [*params, limit]
        return self._entries(query, *params)

    def session_is_known(self, session_id: str) -> bool:
        rows = self.uow.rows("SELECT 1 FROM ledger_entries WHERE session_id=? LIMIT 1", session_id)
        return bool(rows)

    def session_history(self, session_id: str, as_of: AsOf) -> list[LedgerEntry]:
        """The `session.*` entries of a session, in every applicant stream that received one."""
        return self._entries(
            f"{self.rows.select} WHERE e.session_id=? AND e.stream_type='applicant'"
            " AND e.session_event=1 AND e.position<=? ORDER BY e.position",
            session_id,
            as_of.position,
        )
