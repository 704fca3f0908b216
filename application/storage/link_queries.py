"""Who belongs to whom: the links index read (DESIGN §5.1).

Each link is stored with the position at which it became known, so a read as of
a prefix sees only the links known then. Sealing reads the sessions a stream has
named so far, as the appends left them.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from application.storage.unit_of_work import UnitOfWork
from domain.entries import AsOf, StreamKey


class LinkQueries:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def stream_subject(self, stream: StreamKey, as_of: AsOf) -> str | None:
        rows = self.uow.rows(
            "SELECT subject FROM stream_links WHERE stream_id=? AND position<=?",
            stream.id.hex,
            as_of.position,
        )
        return rows[0]["subject"] if rows else None

    def session_subject(self, session_id: str, as_of: AsOf) -> str | None:
        rows = self.uow.rows(
            "SELECT subject FROM session_ties WHERE session_id=? AND position<=?",
            session_id,
            as_of.position,
        )
        return rows[0]["subject"] if rows else None

    def shared_identity_with(self, subject: str, as_of: AsOf) -> list[str]:
        """The other subjects an identity of this one appears under (possible duplicates)."""
        return self.shared_identities([subject], as_of)[subject]

    def shared_identities(self, subjects: Sequence[str], as_of: AsOf) -> dict[str, list[str]]:
        """`shared_identity_with` of each of the subjects: their identities, then the subjects
        of those, a few hundred a read. (Two reads, each by index: joined in one, PostgreSQL
        without planner statistics scanned every identity reference.)"""
        shared: dict[str, list[str]] = {subject: [] for subject in subjects}
        refs = self.uow.rows_in("SELECT identity_id, subject FROM identity_refs WHERE subject IN"
                                " ({marks}) AND position<=?", sorted(shared),
                                as_of.position)  # fmt: skip
        identities: dict[str, set[str]] = {}
        for ref in refs:
            identities.setdefault(ref["identity_id"], set()).add(ref["subject"])
        rows = self.uow.rows_in("SELECT identity_id, subject FROM identity_refs WHERE identity_id"
                                " IN ({marks}) AND position<=?", sorted(identities),
                                as_of.position)  # fmt: skip
        for row in rows:
            for subject in identities[row["identity_id"]]:
                if row["subject"] != subject:
                    shared[subject].append(row["subject"])
        return {subject: sorted(set(others)) for subject, others in shared.items()}

    def sessions_mentioned(self, streams: Sequence[StreamKey]) -> dict[UUID, list[str]]:
        """The sessions each stream's deliveries have named so far, in one read (one index
        probe per stream, whatever the planner's statistics say)."""
        ids = sorted({stream.id.hex for stream in streams})
        if not ids:
            return {}
        probe = "SELECT stream_id, session_id FROM session_mentions WHERE stream_id=?"
        mentioned: dict[UUID, list[str]] = {}
        for row in self.uow.rows(" UNION ALL ".join([probe] * len(ids)), *ids):
            mentioned.setdefault(UUID(row["stream_id"]), []).append(row["session_id"])
        return mentioned
