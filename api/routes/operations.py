"""Operations: projection health and the quarantine list (admin), and liveness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.dependencies import Admin, ServicesDep
from api.schemas import Projections, QuarantineList

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz(services: ServicesDep) -> dict[str, Any]:
    """Up, and the store answers."""
    return {"status": "ok", "head": services.ledger.as_of().as_dict()}


@router.get("/projections", response_model=Projections)
def projections(services: ServicesDep, _: Admin) -> dict[str, Any]:
    """Each read model's version, tracking position and lag behind the ledger head."""
    return {"projections": services.runner.states()}


@router.get("/quarantine", response_model=QuarantineList)
def quarantine(services: ServicesDep, _: Admin, include_released: bool = False) -> dict[str, Any]:
    """Authentic deliveries that could not be read, with why (see `ledger quarantine replay`)."""
    entries = services.ledger.quarantine.list(include_released=include_released)
    return {"entries": [entry.as_dict() for entry in entries]}
