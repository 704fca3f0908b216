"""What needs a compliance officer's attention: the review queue and the alerts (DESIGN §6)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.dependencies import AsOfPoint, Auditor, ServicesDep
from api.errors import UNAUTHENTICATED
from api.reading import LIST_CURSOR_PATTERN, read_list
from api.schemas import Alerts, ReviewQueue
from projections.models import ALERTS, REVIEW_QUEUE
from projections.read_model import Selection

router = APIRouter(tags=["queues"], responses=UNAUTHENTICATED)


Limit = Annotated[int, Query(ge=1, le=1000, description="rows per part of the list, at most")]
Cursor = Annotated[
    str | None,
    Query(pattern=LIST_CURSOR_PATTERN,
          description="`next_cursor` of the page before; it pins the pages' `as_of`"),
]  # fmt: skip


@router.get("/review-queue", response_model=ReviewQueue)
def review_queue(
    services: ServicesDep, _: Auditor, point: AsOfPoint, cursor: Cursor = None, limit: Limit = 25
) -> dict[str, Any]:
    """Sessions pending manual review and cases not yet decided, a page at a time (page on
    with `next_cursor` until it is null; a page may hold fewer rows than `limit`)."""
    as_of, (sessions, cases), next_cursor = read_list(
        services,
        point,
        cursor,
        limit,
        Selection(REVIEW_QUEUE, status="session", flagged=True),
        Selection(REVIEW_QUEUE, status="case", flagged=True),
    )
    return {"as_of": as_of, "sessions": sessions, "cases": cases, "next_cursor": next_cursor}


@router.get("/alerts", response_model=Alerts)
def alerts(
    services: ServicesDep, _: Auditor, point: AsOfPoint, cursor: Cursor = None, limit: Limit = 25
) -> dict[str, Any]:
    """Checks whose monitoring found hits that are still open, and restricted subjects, a
    page at a time (as the review queue)."""
    as_of, (hits, restricted), next_cursor = read_list(
        services,
        point,
        cursor,
        limit,
        Selection(ALERTS, status="check", flagged=True),
        Selection(ALERTS, status="subject", flagged=True),
    )
    return {"as_of": as_of, "monitoring_hits": hits, "restricted_subjects": restricted,
            "next_cursor": next_cursor}  # fmt: skip
