"""Which data keys an erasure destroys (DESIGN §7), found through the links the ledger learned.

A session's erasure covers its documents (every document stream that mentioned
the session); a subject's covers its sessions, their documents and every stream
linked to it. The keys are destroyed inside the append of the delivery or request
that asks for it, so the event is recorded if and only if the keys are gone.
"""

from __future__ import annotations

from typing import Any

from domain.personal_data import ErasureRequest
from ledger.dialect import Dialect
from ledger.history import stream_column

_SESSION_DOCUMENTS = (
    f"SELECT DISTINCT {stream_column('m', 'stream_key')} AS document_id FROM session_mentions m"
    f" WHERE m.session_id=? AND {stream_column('m', 'stream_type')}='document'"
)
_SUBJECT_STREAMS = (
    f"SELECT l.stream_id, {stream_column('l', 'stream_type')} AS stream_type,"
    f" {stream_column('l', 'stream_key')} AS stream_key FROM stream_links l WHERE l.subject=?"
)


def _column(c: Any, sql: Dialect, query: str, *params: Any) -> list[Any]:
    c.execute(sql(query), params)
    return [next(iter(dict(row).values())) for row in c.fetchall()]


def erasure_scopes(c: Any, sql: Dialect, request: ErasureRequest) -> set[str]:
    """The scopes whose keys the request destroys, as far as the ledger knows them now."""
    sessions = set(request.sessions)
    documents = set(request.documents)
    scopes = set()
    if request.subject:
        sessions.update(_column(c, sql, "SELECT session_id FROM session_ties WHERE subject=?",
                                request.subject))  # fmt: skip
        c.execute(sql(_SUBJECT_STREAMS), (request.subject,))
        for row in c.fetchall():
            scopes.add(f"stream:{row['stream_id']}")
            if row["stream_type"] == "document":
                documents.add(row["stream_key"])
    for session_id in sessions:
        scopes.add(f"session:{session_id}")
        documents.update(_column(c, sql, _SESSION_DOCUMENTS, session_id))
    scopes.update(f"document:{document_id}" for document_id in documents)
    return scopes
