"""Operations: projection health, the quarantine list and the access log (admin), liveness."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from api.dependencies import NAME_CHARS, NAME_PATTERN, Admin, ServicesDep
from api.errors import FORBIDDEN, UNAUTHENTICATED, Responses
from api.metrics import exposition
from api.schemas import AccessLogPage, Health, Projections, QuarantineList, Readiness

router = APIRouter(tags=["operations"])
ADMIN_ONLY: Responses = {**UNAUTHENTICATED, **FORBIDDEN}

# Access log ids are the stores' 64-bit integers.
LAST_ID = 2**63 - 1


@router.get("/healthz", response_model=Health)
async def healthz() -> dict[str, Any]:
    """The process is alive and answers (the store is not asked: see `/readyz`)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness)
def readyz(services: ServicesDep) -> dict[str, Any]:
    """Ready to serve: the store answers (503 otherwise), with the ledger's head."""
    return {"status": "ready", "head": services.ledger.as_of().as_dict()}


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def metrics(services: ServicesDep) -> PlainTextResponse:
    """Deliveries by outcome, append, batch and request latencies, group-commit batch sizes,
    the head, and each read model's position, lag and rows set aside (no personal data)."""
    text, content_type = exposition(services)
    return PlainTextResponse(text, media_type=content_type)


@router.get("/projections", response_model=Projections, responses=ADMIN_ONLY)
def projections(services: ServicesDep, _: Admin) -> dict[str, Any]:
    """Each read model's version, tracking position and lag behind the ledger head."""
    return {"projections": services.runner.states()}


@router.get("/quarantine", response_model=QuarantineList, responses=ADMIN_ONLY)
def quarantine(
    services: ServicesDep,
    reader: Admin,
    include_released: bool = False,
    after: Annotated[str, Query(max_length=64, description="the last id of the page before")] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> dict[str, Any]:
    """Authentic deliveries that could not be read, with why (see `ledger quarantine replay`),
    oldest first, a page at a time (page on with `after`: the last id of the page before).

    Their bodies may hold personal data: each read is in the access log.
    """
    services.ledger.access_log.record(reader.who, reader.role, "(quarantine)", "quarantine list")
    entries = services.ledger.quarantine.list(
        include_released=include_released, after=after, limit=limit
    )
    return {"entries": [entry.as_dict() for entry in entries]}


@router.get("/access-log", response_model=AccessLogPage, responses=ADMIN_ONLY)
def access_log(
    services: ServicesDep,
    _: Admin,
    subject: Annotated[str | None, Query(max_length=NAME_CHARS, pattern=NAME_PATTERN)] = None,
    after: Annotated[int, Query(ge=0, le=LAST_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Who read personal data, whose and when, oldest first; page on with `after` (an id)."""
    accesses = services.ledger.access_log.list(subject, after, limit)
    return {"accesses": [access.as_dict() for access in accesses]}
