"""Auditor routes about a subject: its timeline and its status (DESIGN §6)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from api.dependencies import AsOfPoint, Auditor, ServicesDep
from api.reading import not_found, read_one
from api.schemas import SubjectStatus, Timeline
from application.reading.views import entry_view
from domain.entries import MAX_POSITION
from projections.models import SUBJECT_STATUS

router = APIRouter(prefix="/subjects", tags=["subjects"])


def encode_cursor(as_of: int, after: int) -> str:
    """Opaque to clients; it pins the page's prefix so later deliveries never shift pages."""
    return base64.urlsafe_b64encode(json.dumps([as_of, after]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        as_of, after = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        if not all(type(n) is int and 0 <= n <= MAX_POSITION for n in (as_of, after)):
            raise ValueError
    except (ValueError, TypeError, UnicodeError, binascii.Error, RecursionError):
        raise HTTPException(422, "invalid cursor") from None
    return as_of, after


@router.get("/{external_ref}/timeline", response_model=Timeline)
def subject_timeline(
    external_ref: str,
    services: ServicesDep,
    reader: Auditor,
    point: AsOfPoint,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Every ledger event in the subject's history, ascending by position, page by page.

    Auditors see personal data (document extractions) masked. Officers and admins
    see it as sent until it is erased, and each such read is in the access log.
    """
    ledger = services.ledger
    if cursor is not None:
        pinned, after = decode_cursor(cursor)
        as_of = ledger.as_of(pinned)
    else:
        as_of, after = ledger.as_of(point), 0
    entries = ledger.timeline(external_ref, as_of, after=after, limit=limit + 1)
    if entries is None:
        raise not_found("subject", external_ref, as_of.position)
    page = entries[:limit]
    more = len(entries) > limit
    if reader.role == "auditor":
        events = [entry_view(entry, masked=True) for entry in page]
    else:
        ledger.access_log.record(reader.who, reader.role, external_ref,
                                 f"timeline as of {as_of.position}")  # fmt: skip
        events = [entry_view(entry) for entry in ledger.disclose(page)]
    return {
        "subject": external_ref,
        "as_of": as_of.as_dict(),
        "events": events,
        "next_cursor": encode_cursor(as_of.position, page[-1].position) if more else None,
    }


@router.get("/{external_ref}/status", response_model=SubjectStatus)
def subject_status(
    external_ref: str, services: ServicesDep, _: Auditor, point: AsOfPoint
) -> dict[str, Any]:
    """Verification, AML, cases and sessions: now (from the projection) or as of a point."""
    return read_one(services, SUBJECT_STATUS, external_ref, point)
