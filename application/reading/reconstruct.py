"""Answers reconstructed from the ledger as of a prefix: the auditor's exact view.

Subjects and sessions are folded from the entries visible at `as_of`; checks,
cases and documents are their aggregates at the version they had then. Each
answer is shaped as the read API serves it; None means nothing was visible yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from application.reading.history import History
from application.reading.views import (
    Doc,
    case_view,
    check_view,
    document_view,
    session_view,
    subject_view,
)
from domain.aggregates import Case, Check, Document, LedgerStream
from domain.cases import ReviewCase
from domain.documents import DocumentRecord
from domain.entries import AsOf, StreamKey
from domain.screening import Screening
from domain.sessions import Session
from domain.subject import SubjectStatus, fold_session, fold_subject


def subject_fold(history: History, subject: str, as_of: AsOf) -> SubjectStatus | None:
    """The subject's status as the domain folds it, or None while no stream is its."""
    if not history.timelines.subject_is_known(subject, as_of):
        return None
    return fold_subject(
        subject,
        history.timelines.subject_history(subject, as_of),
        history.links.shared_identity_with(subject, as_of),
    )


def subject_status(history: History, subject: str, as_of: AsOf) -> Doc | None:
    status = subject_fold(history, subject, as_of)
    return None if status is None else subject_view(status)


def session_fold(history: History, session_id: str, as_of: AsOf) -> Session | None:
    """The session as the domain folds its `session.*` entries, or None before the first."""
    entries = history.timelines.session_history(session_id, as_of)
    return fold_session(session_id, entries) if entries else None


def session_state(history: History, session_id: str, as_of: AsOf) -> Doc | None:
    session = session_fold(history, session_id, as_of)
    if session is None:
        return None
    return session_view(session, history.links.session_subject(session_id, as_of))


@dataclass(frozen=True)
class EntityKind:
    """How one kind of entity stream is read: the state its aggregate holds, the domain fold
    that state is made by (one delivery at a time), and the document served."""

    state_of: Callable[[LedgerStream], Any]
    fold: Callable[[str, Any, str, dict[str, Any]], Any]
    view: Callable[[Any, str | None], Doc]


ENTITIES: dict[str, EntityKind] = {
    "check": EntityKind(
        lambda a: a.screening if isinstance(a, Check) else None, Screening.fold, check_view
    ),
    "case": EntityKind(
        lambda a: a.review if isinstance(a, Case) else None, ReviewCase.fold, case_view
    ),
    "document": EntityKind(
        lambda a: a.details if isinstance(a, Document) else None,
        DocumentRecord.fold,
        document_view,
    ),
}


def entity_fold(history: History, kind: str, key: str, as_of: AsOf) -> Any | None:
    """The state an entity's aggregate had at the prefix, or None."""
    aggregate = history.streams.as_of(StreamKey(kind, key), as_of)  # type: ignore[arg-type]
    return ENTITIES[kind].state_of(aggregate) if aggregate is not None else None


def entity_state(history: History, kind: str, key: str, as_of: AsOf) -> Doc | None:
    """A check, case or document as of the prefix, with its subject then, or None."""
    state = entity_fold(history, kind, key, as_of)
    if state is None:
        return None
    stream = StreamKey(kind, key)  # type: ignore[arg-type]
    return ENTITIES[kind].view(state, history.links.stream_subject(stream, as_of))
