"""What needs a compliance officer's attention: the review queue and the alerts (DESIGN §6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter

from api.current import projection_as_of
from api.dependencies import AsOfPoint, Auditor, ServicesDep
from api.schemas import Alerts, ReviewQueue
from api.services import Services
from ledger.history import AsOf
from ledger.views import Doc
from projections.models import CASES, CHECKS, SESSIONS, SUBJECT_STATUS
from projections.read_model import ReadModel

router = APIRouter(tags=["queues"])


def _select(
    services: Services,
    model: ReadModel,
    point: int | datetime | None,
    *,
    status: str | None = None,
    flagged: bool = False,
) -> tuple[AsOf, list[Doc]]:
    """Rows of a read model with a status or a flag: now from its table, or folded as of a point."""
    if point is None:
        clause = "WHERE status=?" if status is not None else "WHERE flagged=1"
        params = (status,) if status is not None else ()
        return projection_as_of(services, model), services.read_models.where(model, clause, *params)
    as_of = services.ledger.as_of(point)
    rows = model.rows_as_of(services.ledger.history, as_of)
    return as_of, [
        row.doc
        for row in rows
        if (row.status == status if status is not None else row.flagged == flagged)
    ]


def _earliest(*prefixes: AsOf) -> AsOf:
    return min(prefixes, key=lambda prefix: prefix.position)


@router.get("/review-queue", response_model=ReviewQueue)
def review_queue(services: ServicesDep, _: Auditor, point: AsOfPoint) -> dict[str, Any]:
    """Sessions pending manual review and cases not yet decided."""
    sessions_as_of, sessions = _select(services, SESSIONS, point, status="pending_review")
    cases_as_of, cases = _select(services, CASES, point, status="open")
    return {
        "as_of": _earliest(sessions_as_of, cases_as_of).as_dict(),
        "sessions": sessions,
        "cases": cases,
    }


@router.get("/alerts", response_model=Alerts)
def alerts(services: ServicesDep, _: Auditor, point: AsOfPoint) -> dict[str, Any]:
    """Checks whose monitoring found hits that are still open, and restricted subjects."""
    checks_as_of, hits = _select(services, CHECKS, point, flagged=True)
    subjects_as_of, restricted = _select(services, SUBJECT_STATUS, point, flagged=True)
    return {
        "as_of": _earliest(checks_as_of, subjects_as_of).as_dict(),
        "monitoring_hits": hits,
        "restricted_subjects": restricted,
    }
