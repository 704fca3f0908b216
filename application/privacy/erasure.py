"""What an erasure destroys (DESIGN §7.3), and when the database files forget it.

A session's erasure covers its documents (every document stream that mentioned
the session); a subject's covers its sessions, their documents and every stream
linked to it, as far as the links the ledger learned tell. The keys are destroyed
inside the append of the delivery or request that asks for it (`LedgerIndex`),
so the event is recorded if and only if the keys are gone. Their old bytes are
then purged from the database files (`Keyring.purge_destroyed`), soon after.
"""

from __future__ import annotations

import time
from typing import Any

from application.privacy.keyring import Keyring
from application.storage.schema import stream_column
from application.storage.unit_of_work import UnitOfWork
from domain.personal_data import ErasureRequest

_SESSION_DOCUMENTS = (
    f"SELECT DISTINCT {stream_column('m', 'stream_key')} AS document_id FROM session_mentions m"
    f" WHERE m.session_id=? AND {stream_column('m', 'stream_type')}='document'"
)
_SUBJECT_STREAMS = (
    f"SELECT l.stream_id, {stream_column('l', 'stream_type')} AS stream_type,"
    f" {stream_column('l', 'stream_key')} AS stream_key FROM stream_links l WHERE l.subject=?"
)

# An erasure's purge follows at once when no delivery is waiting, else after at most this
# long, once for all erasures meanwhile, so that under load it delays few batches.
PURGE_DELAY_SECONDS = 1.0


def _column(uow: UnitOfWork, query: str, *params: Any) -> list[Any]:
    return [next(iter(dict(row).values())) for row in uow.rows(query, *params)]


def erasure_scopes(uow: UnitOfWork, request: ErasureRequest) -> set[str]:
    """The scopes whose keys the request destroys, as far as the ledger knows them now."""
    sessions = set(request.sessions)
    documents = set(request.documents)
    scopes = set()
    if request.subject:
        sessions.update(
            _column(uow, "SELECT session_id FROM session_ties WHERE subject=?", request.subject)
        )
        for row in uow.rows(_SUBJECT_STREAMS, request.subject):
            scopes.add(f"stream:{row['stream_id']}")
            if row["stream_type"] == "document":
                documents.add(row["stream_key"])
    for session_id in sessions:
        scopes.add(f"session:{session_id}")
        documents.update(_column(uow, _SESSION_DOCUMENTS, session_id))
    scopes.update(f"document:{document_id}" for document_id in documents)
    return scopes


class PurgeSchedule:
    """When the destroyed keys' old bytes are purged from the files: soon after each erasure."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._due: float | None = None  # when the next purge is due (None: nothing to purge)

    def erased(self) -> None:
        """Keys were destroyed: purge them within `PURGE_DELAY_SECONDS`."""
        self._due = self._due or time.monotonic() + PURGE_DELAY_SECONDS

    def purge_if_due(self, *, busy: bool) -> None:
        """Purge now if anything is to be purged and either nothing waits (not `busy`) or the
        delay has passed."""
        if self._due is not None and (not busy or time.monotonic() >= self._due):
            self._due = None
            self.keyring.purge_destroyed()

    def close(self) -> None:
        self.purge_if_due(busy=False)
