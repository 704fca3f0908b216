"""Whose entries are whose, as of a prefix: a subject's history, a session's (DESIGN §5.1).

A subject's history is every entry of the streams linked to it, as far as the
links were known at the prefix: a stream linked later appears, earlier entries
and all, only from the position of the link on.
"""

from __future__ import annotations

from typing import Any

from application.storage.entry_rows import EntryRows
from application.storage.unit_of_work import UnitOfWork
from domain.entries import AsOf, LedgerEntry

_LINKED = "SELECT stream_id FROM stream_links WHERE subject=? AND position<=?"


class Timelines:
    def __init__(self, uow: UnitOfWork, rows: EntryRows) -> None:
        self.uow = uow
        self.rows = rows

    def _entries(self, query: str, *params: Any) -> list[LedgerEntry]:
        return [self.rows.entry(row) for row in self.uow.rows(query, *params)]

    def subject_is_known(self, subject: str, as_of: AsOf) -> bool:
        return bool(self.uow.rows(_LINKED + " LIMIT 1", subject, as_of.position))

    def subject_history(
        self, subject: str, as_of: AsOf, *, after: int = 0, limit: int | None = None
    ) -> list[LedgerEntry]:
        """The subject's own and linked streams' entries after a position, ascending."""
        query = (
            f"{self.rows.select} WHERE e.stream_id IN ({_LINKED})"
            " AND e.position<=? AND e.position>? ORDER BY e.position"
        )
        params: list[Any] = [subject, as_of.position, as_of.position, after]
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
