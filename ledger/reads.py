"""Answers reconstructed from the ledger as of a prefix: the auditor's exact view.

Subjects and sessions are folded from the entries visible at `as_of`; checks,
cases and documents are their aggregates at the version they had then. Each
answer is shaped as the read API serves it; None means nothing was visible yet.
"""

from __future__ import annotations

from collections.abc import Callable

from domain.aggregates import Case, Check, Document
from domain.entries import StreamKey
from domain.subject import fold_session, fold_subject
from ledger.history import AsOf, History
from ledger.views import Doc, case_view, check_view, document_view, session_view, subject_view


def subject_status(history: History, subject: str, as_of: AsOf) -> Doc | None:
    if not history.subject_is_known(subject, as_of):
        return None
    status = fold_subject(
        subject,
        history.subject_history(subject, as_of),
        history.shared_identity_with(subject, as_of),
    )
    return subject_view(status)


def session_state(history: History, session_id: str, as_of: AsOf) -> Doc | None:
    entries = history.session_history(session_id, as_of)
    if not entries:
        return None
    return session_view(
        fold_session(session_id, entries), history.session_subject(session_id, as_of)
    )


def check_state(history: History, check_id: str, as_of: AsOf) -> Doc | None:
    stream = StreamKey("check", check_id)
    check = history.stream_as_of(stream, as_of)
    if not isinstance(check, Check) or check.screening is None:
        return None
    return check_view(check.screening, history.stream_subject(stream, as_of))


def case_state(history: History, case_id: str, as_of: AsOf) -> Doc | None:
    stream = StreamKey("case", case_id)
    case = history.stream_as_of(stream, as_of)
    if not isinstance(case, Case) or case.review is None:
        return None
    return case_view(case.review, history.stream_subject(stream, as_of))


def document_state(history: History, document_id: str, as_of: AsOf) -> Doc | None:
    stream = StreamKey("document", document_id)
    document = history.stream_as_of(stream, as_of)
    if not isinstance(document, Document) or document.details is None:
        return None
    return document_view(document.details, history.stream_subject(stream, as_of))


ENTITY_READS: dict[str, Callable[[History, str, AsOf], Doc | None]] = {
    "session": session_state,
    "check": check_state,
    "case": case_state,
    "document": document_state,
}
