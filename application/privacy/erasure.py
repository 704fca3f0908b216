"""What an erasure destroys (DESIGN §7): the data keys of its scopes.

A session's erasure covers its documents (every document stream that mentioned
the session); a subject's covers its sessions, their documents and every stream
linked to it, as far as the links the ledger learned tell. The keys are destroyed
inside the append of the delivery or request that asks for it (`LedgerIndex`),
so the event is recorded if and only if the keys are gone. Their old bytes are
purged from the database files soon after (`KeyPurger`). Quarantined deliveries
that name an erased scope are erased with it (their keys too).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from application.storage.schema import stream_column
from application.storage.unit_of_work import UnitOfWork
from domain.entries import StreamKey
from domain.personal_data import ErasureRequest
from domain.routing import is_anonymous

_SESSION_DOCUMENTS = (
    f"SELECT DISTINCT {stream_column('m', 'stream_key')} AS document_id FROM session_mentions m"
    f" WHERE m.session_id=? AND {stream_column('m', 'stream_type')}='document'"
)
_SUBJECT_STREAMS = (
    f"SELECT l.stream_id, {stream_column('l', 'stream_type')} AS stream_type,"
    f" {stream_column('l', 'stream_key')} AS stream_key FROM stream_links l WHERE l.subject=?"
)


# Which quarantined deliveries each scope covers (`Quarantine.hold` writes it): by digest, so
# that a name of any length fits the index.
QUARANTINE_NAMES_TABLE = """CREATE TABLE IF NOT EXISTS quarantine_names (
    scope_digest TEXT NOT NULL, entry_id TEXT NOT NULL, PRIMARY KEY (scope_digest, entry_id))"""


def scope_digest(scope: str) -> str:
    return hashlib.sha256(scope.encode("utf-8", "surrogatepass")).hexdigest()


def quarantined_under(uow: UnitOfWork, scopes: Iterable[str]) -> set[str]:
    """The scopes of the quarantined deliveries that any of `scopes` covers."""
    digests = sorted({scope_digest(scope) for scope in scopes})
    if not digests:
        return set()
    marks = ",".join("?" * len(digests))
    query = f"SELECT DISTINCT entry_id FROM quarantine_names WHERE scope_digest IN ({marks})"
    return {f"quarantine:{entry_id}" for entry_id in _column(uow, query, *digests)}


def _column(uow: UnitOfWork, query: str, *params: Any) -> list[Any]:
    return [next(iter(dict(row).values())) for row in uow.rows(query, *params)]


def erasure_scopes(uow: UnitOfWork, request: ErasureRequest) -> set[str]:
    """The scopes whose keys the request destroys, as far as the ledger knows them now."""
    sessions = set(request.sessions)
    documents = set(request.documents)
    scopes = set()
    subject = request.subject
    if subject and is_anonymous(subject):  # its streams: its session's, or its own applicant's
        if subject.startswith("session:"):
            sessions.add(subject.removeprefix("session:"))
        else:
            scopes.add(f"stream:{StreamKey('applicant', subject).id.hex}")
    elif subject:
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
    return scopes | quarantined_under(uow, scopes)
