"""`POST /webhooks/verifa`: authenticate, then record, deduplicate or quarantine (DESIGN §4)."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse

from api.dependencies import ServicesDep
from api.errors import answered_unavailable
from api.metrics import APPEND_SECONDS, DELIVERIES
from api.schemas import DeliveryAnswer
from api.signed_delivery import REFUSALS, SIGNED_REQUEST
from application.recording.outcomes import Quarantined
from application.webhook_authentication.signature import SignatureError, verify

router = APIRouter(tags=["ingestion"])


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) anything over the limit before reading it all."""
    too_large = HTTPException(413, f"body larger than {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise too_large
    return bytes(body)


@router.post(
    "/webhooks/verifa",
    response_model=DeliveryAnswer,
    response_model_exclude_none=True,
    responses=REFUSALS,
    openapi_extra=SIGNED_REQUEST,
)
async def receive_delivery(request: Request, services: ServicesDep) -> JSONResponse:
    """Answer 2xx only once the delivery is durably recorded (or held in quarantine).

    The answer is built directly (its schema is `DeliveryAnswer`): this is the ledger's
    busiest endpoint, and a response model would be validated again on every delivery.
    """
    try:
        body = await read_body(request, services.settings.max_body_bytes)
    except HTTPException:
        DELIVERIES.labels("too_large").inc()
        raise
    try:
        webhook_id = verify(
            services.credentials.webhook_secrets,
            request.headers,
            body,
            now=time.time(),
            tolerance_seconds=services.settings.signature_tolerance_seconds,
        )
    except SignatureError as error:
        DELIVERIES.labels("refused").inc()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(error)) from None
    started = time.perf_counter()
    try:
        outcome = await services.ledger.ingest_async(body, webhook_id)
    except Exception as error:
        DELIVERIES.labels("unavailable" if answered_unavailable(error) else "failed").inc()
        raise
    APPEND_SECONDS.observe(time.perf_counter() - started)
    DELIVERIES.labels(outcome.status).inc()
    if isinstance(outcome, Quarantined):
        return JSONResponse({"status": "quarantined", "id": outcome.id})
    return JSONResponse({"status": outcome.status, "position": outcome.position})
