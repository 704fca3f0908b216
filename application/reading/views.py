"""The documents the read API serves, built from domain state.

The live projections store these documents and the as-of reads build them on
the spot, with the same functions, so both answers have one shape and one meaning.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from domain.cases import ReviewCase
from domain.documents import DocumentRecord
from domain.entries import LedgerEntry
from domain.personal_data import mask_personal_data
from domain.screening import Screening
from domain.sessions import Session
from domain.subject import SubjectStatus

Doc = dict[str, Any]


def session_view(session: Session, subject: str | None) -> Doc:
    return {**asdict(session), "subject": subject}


def check_view(screening: Screening, subject: str | None) -> Doc:
    return {**asdict(screening), "subject": subject}


def case_view(case: ReviewCase, subject: str | None) -> Doc:
    return {**asdict(case), "is_open": case.is_open, "subject": subject}


def document_view(document: DocumentRecord, subject: str | None) -> Doc:
    return {**asdict(document), "subject": subject}


def subject_view(status: SubjectStatus) -> Doc:
    """The §6 status document of a subject."""
    current = status.current_session
    return {
        "subject": status.subject,
        "verification": {
            "status": status.verification_status,
            "session_id": current.session_id if current else None,
            "identity_id": (
                current.identity_id if current and current.identity_id else status.identity_id
            ),
            "decision_changed": current.decision_changed if current else False,
            "reason": current.reason if current else None,
            "shared_identity_with": status.shared_identity_with,
        },
        "aml": {
            "status": status.aml_status,
            "restricted": status.restricted,
            "open_hit_count": status.open_hit_count,
            "checks": [check_view(c, status.subject) for c in status.checks.values()],
        },
        "cases": [case_view(c, status.subject) for c in status.cases.values()],
        "sessions": [session_view(s, status.subject) for s in status.sessions.values()],
        "documents": [document_view(d, status.subject) for d in status.documents.values()],
    }


def empty_status(subject: str) -> Doc:
    """The status of a subject before any entry of its: what a comparison starts from."""
    return subject_view(SubjectStatus(subject))


def entry_view(entry: LedgerEntry, *, masked: bool = False) -> Doc:
    """One timeline row: where the entry sits, what it was, and what Verifa sent."""
    return {
        "position": entry.position,
        "recorded_at": entry.recorded_at,
        "event": entry.event_type,
        "idempotency_key": entry.idempotency_key,
        "aggregate": {"type": entry.stream.type, "id": entry.stream.key},
        "payload": mask_personal_data(entry.payload) if masked else entry.payload,
    }
