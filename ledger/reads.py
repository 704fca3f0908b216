"""Answers reconstructed from the ledger as of a prefix: the auditor's exact view.

Each function folds the entries visible at `as_of` with the domain rules and
shapes the result as the read API serves it; None means nothing was visible yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.cases import ReviewCase
from domain.documents import DocumentRecord
from domain.entries import StreamKey
from domain.screening import Screening
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


def _stream_state(
    kind: str, state: Callable[[str], Any], view: Callable[[Any, str | None], Doc]
) -> Callable[[History, str, AsOf], Doc | None]:
    def read(history: History, key: str, as_of: AsOf) -> Doc | None:
        stream = StreamKey(kind, key)  # type: ignore[arg-type]
        entries = history.stream_history(stream, as_of)
        if not entries:
            return None
        entity = state(key)
        for entry in entries:
            entity.apply(entry.event_type, entry.payload)
        return view(entity, history.stream_subject(stream, as_of))

    read.__doc__ = f"The {kind} with this id as of a prefix, or None if not yet seen."
    return read


check_state = _stream_state("check", Screening, check_view)
case_state = _stream_state("case", ReviewCase, case_view)
document_state = _stream_state("document", DocumentRecord, document_view)

ENTITY_READS: dict[str, Callable[[History, str, AsOf], Doc | None]] = {
    "session": session_state,
    "check": check_state,
    "case": case_state,
    "document": document_state,
}
