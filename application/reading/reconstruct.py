"""Answers reconstructed from the ledger as of a prefix: the auditor's exact view.

Subjects and sessions are folded from the entries visible at `as_of`; checks,
cases and documents are their aggregates at the version they had then. Each
answer is shaped as the read API serves it; None means nothing was visible yet.
"""

from __future__ import annotations

from collections.abc import Callable
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
from domain.entries import AsOf, StreamKey
from domain.subject import fold_session, fold_subject


def subject_status(history: History, subject: str, as_of: AsOf) -> Doc | None:
    if not history.timelines.subject_is_known(subject, as_of):
        return None
    status = fold_subject(
        subject,
        history.timelines.subject_history(subject, as_of),
        history.links.shared_identity_with(subject, as_of),
    )
    return subject_view(status)


def session_state(history: History, session_id: str, as_of: AsOf) -> Doc | None:
    entries = history.timelines.session_history(session_id, as_of)
    if not entries:
        return None
    return session_view(
        fold_session(session_id, entries), history.links.session_subject(session_id, as_of)
    )


def _stream_entity(
    history: History,
    stream: StreamKey,
    as_of: AsOf,
    state_of: Callable[[LedgerStream], Any],
    view: Callable[[Any, str | None], Doc],
) -> Doc | None:
    """The state an entity's aggregate had at the prefix, with its subject then, or None."""
    aggregate = history.streams.as_of(stream, as_of)
    state = state_of(aggregate) if aggregate is not None else None
    return None if state is None else view(state, history.links.stream_subject(stream, as_of))


def check_state(history: History, check_id: str, as_of: AsOf) -> Doc | None:
    return _stream_entity(
        history,
        StreamKey("check", check_id),
        as_of,
        lambda a: a.screening if isinstance(a, Check) else None,
        check_view,
    )


def case_state(history: History, case_id: str, as_of: AsOf) -> Doc | None:
    return _stream_entity(
        history,
        StreamKey("case", case_id),
        as_of,
        lambda a: a.review if isinstance(a, Case) else None,
        case_view,
    )


def document_state(history: History, document_id: str, as_of: AsOf) -> Doc | None:
    return _stream_entity(
        history,
        StreamKey("document", document_id),
        as_of,
        lambda a: a.details if isinstance(a, Document) else None,
        document_view,
    )


ENTITY_READS: dict[str, Callable[[History, str, AsOf], Doc | None]] = {
    "session": session_state,
    "check": check_state,
    "case": case_state,
    "document": document_state,
}
