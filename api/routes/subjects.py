"""Auditor routes about a subject: its timeline and its status (DESIGN §6).

A subject's reference may hold `/` (send it as `%2F`): the routes take the rest of the
path up to their last segment.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.dependencies import (
    NAME_CHARS,
    NAME_PATTERN,
    AsOfPoint,
    Auditor,
    ComparedPoints,
    ServicesDep,
)
from api.errors import NOT_FOUND, UNAUTHENTICATED, invalid
from api.reading import events_as_seen, not_found, read_one
from api.schemas import EvidenceBundle, SubjectChanges, SubjectStatus, Timeline
from application.reading.changes import status_changes
from application.reading.evidence import TooMuchEvidence
from application.reading.views import empty_status
from domain.entries import MAX_POSITION
from projections.models import SUBJECT_STATUS

router = APIRouter(
    prefix="/subjects", tags=["subjects"], responses={**UNAUTHENTICATED, **NOT_FOUND}
)

SubjectRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=NAME_CHARS,
        pattern=NAME_PATTERN,
        description="The subject's `external_ref` (or `session:<id>`), URL-encoded",
        openapi_examples={"verifa": {"summary": "As in Verifa's tutorial", "value": "user_456"}},
    ),
]

CURSOR_HELP = (
    "`next_cursor` of the page before. It pins the pages' `as_of`: give `as_of` with it "
    "only if it names the same position (422 if not)."
)
# Any text of this form is a cursor: positions past the last there can be mean the last.
CURSOR_PATTERN = r"^[0-9]{1,19}\.[0-9]{1,19}$"


def encode_cursor(as_of: int, after: int) -> str:
    """Opaque to clients; it pins the page's prefix so later deliveries never shift pages."""
    return f"{as_of}.{after}"


def decode_cursor(cursor: str) -> tuple[int, int]:
    as_of, after = cursor.split(".")
    return min(int(as_of), MAX_POSITION), min(int(after), MAX_POSITION)


@router.get("/{external_ref:path}/timeline", response_model=Timeline)
def subject_timeline(
    external_ref: SubjectRef,
    services: ServicesDep,
    reader: Auditor,
    point: AsOfPoint,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN, description=CURSOR_HELP)] = None,
) -> dict[str, Any]:
    """Every ledger event in the subject's history, ascending by position, page by page.

    Auditors see personal data (document extractions) masked. Officers and admins
    see it as sent until it is erased, and each such read is in the access log.
    """
    ledger = services.ledger
    if cursor is not None:
        pinned, after = decode_cursor(cursor)
        as_of = ledger.as_of(pinned)
        if point is not None and (named := ledger.as_of(point)).position != as_of.position:
            raise invalid(("query", "as_of"), f"as_of names position {named.position}, the"
                          f" cursor position {as_of.position}: leave as_of out", point)  # fmt: skip
    else:
        as_of, after = ledger.as_of(point), 0
    entries = ledger.timeline(external_ref, as_of, after=after, limit=limit + 1)
    if entries is None:
        raise not_found("subject", external_ref, as_of.position)
    page = entries[:limit]
    more = len(entries) > limit
    events = events_as_seen(services, reader, external_ref, page,
                            f"timeline as of {as_of.position}")  # fmt: skip
    return {
        "subject": external_ref,
        "as_of": as_of.as_dict(),
        "events": events,
        "next_cursor": encode_cursor(as_of.position, page[-1].position) if more else None,
    }


@router.get("/{external_ref:path}/changes", response_model=SubjectChanges)
def subject_changes(
    external_ref: SubjectRef,
    services: ServicesDep,
    reader: Auditor,
    points: ComparedPoints,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN, description=CURSOR_HELP)] = None,
) -> dict[str, Any]:
    """What changed for the subject between two points: its events after `from` up to `to`,
    page by page, and its status field by field (a subject not known yet at `from` starts
    from the empty status). Personal data in the events as in `/timeline`."""
    ledger = services.ledger
    start = ledger.as_of(points[0])
    end, after = ledger.as_of(points[1]), start.position
    if cursor is not None:
        pinned, after = decode_cursor(cursor)
        if points[1] is not None and end.position != min(pinned, ledger.as_of().position):
            raise invalid(("query", "to"), f"to names position {end.position}, the cursor"
                          f" position {pinned}: leave to out", points[1])  # fmt: skip
        end, after = ledger.as_of(pinned), max(after, start.position)
    if start.position > end.position:
        raise invalid(("query", "from"), f"from names position {start.position}, after to"
                      f" (position {end.position})", points[0])  # fmt: skip
    entries = ledger.timeline(external_ref, end, after=after, limit=limit + 1)
    status_then = ledger.subject_status(external_ref, start)
    status_now = ledger.subject_status(external_ref, end)
    if entries is None or status_now is None:
        raise not_found("subject", external_ref, end.position)
    page = entries[:limit]
    more = len(entries) > limit
    events = events_as_seen(services, reader, external_ref, page,
                            f"changes from {start.position} to {end.position}")  # fmt: skip
    return {
        "subject": external_ref,
        "from": start.as_dict(),
        "to": end.as_dict(),
        "events": events,
        "status_changes": status_changes(status_then or empty_status(external_ref), status_now),
        "next_cursor": encode_cursor(end.position, page[-1].position) if more else None,
    }


@router.get("/{external_ref:path}/status", response_model=SubjectStatus)
def subject_status(
    external_ref: SubjectRef, services: ServicesDep, _: Auditor, point: AsOfPoint
) -> dict[str, Any]:
    """Verification, AML, cases and sessions: now (from the projection) or as of a point."""
    return read_one(services, SUBJECT_STATUS, external_ref, point)


# Entries one evidence answer may prove; `ledger evidence export` has no limit.
MAX_EVIDENCE_ENTRIES = 1000


@router.get("/{external_ref:path}/evidence", response_model=EvidenceBundle)
def subject_evidence(
    external_ref: SubjectRef, services: ServicesDep, _: Auditor, point: AsOfPoint
) -> dict[str, Any]:
    """The subject's status as of a point with every entry under it, each with its inclusion
    proof against a signed checkpoint (DESIGN §7.2): `ledger evidence verify` checks it
    offline. Personal data stays sealed in the leaves."""
    ledger = services.ledger
    try:
        found = ledger.evidence(external_ref, point, services.signing_key, MAX_EVIDENCE_ENTRIES)
    except TooMuchEvidence as error:
        raise invalid(("path", "external_ref"), f"{error}: export it with"
                      " `ledger evidence export`") from None  # fmt: skip
    if found is None:
        raise not_found("subject", external_ref, ledger.as_of(point).position)
    return found
