"""What needs a compliance officer's attention: the review queue and the alerts (DESIGN §6)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.dependencies import AsOfPoint, Auditor, ServicesDep
from api.errors import UNAUTHENTICATED
from api.reading import read_many
from api.schemas import Alerts, ReviewQueue
from projections.models import ALERTS, REVIEW_QUEUE
from projections.read_model import Selection

router = APIRouter(tags=["queues"], responses=UNAUTHENTICATED)


@router.get("/review-queue", response_model=ReviewQueue)
def review_queue(services: ServicesDep, _: Auditor, point: AsOfPoint) -> dict[str, Any]:
    """Sessions pending manual review and cases not yet decided."""
    as_of, (sessions, cases) = read_many(
        services,
        point,
        Selection(REVIEW_QUEUE, status="session", flagged=True),
        Selection(REVIEW_QUEUE, status="case", flagged=True),
    )
    return {"as_of": as_of, "sessions": sessions, "cases": cases}


@router.get("/alerts", response_model=Alerts)
def alerts(services: ServicesDep, _: Auditor, point: AsOfPoint) -> dict[str, Any]:
    """Checks whose monitoring found hits that are still open, and restricted subjects."""
    as_of, (hits, restricted) = read_many(
        services,
        point,
        Selection(ALERTS, status="check", flagged=True),
        Selection(ALERTS, status="subject", flagged=True),
    )
    return {"as_of": as_of, "monitoring_hits": hits, "restricted_subjects": restricted}
