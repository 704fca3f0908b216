"""Integrity: recompute the ledger's hash chain and Merkle tree on request (DESIGN §7.1)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.dependencies import Admin, ServicesDep
from api.errors import FORBIDDEN, UNAUTHENTICATED, invalid
from api.schemas import LedgerVerification
from application.integrity.verification import Digest
from domain.entries import MAX_POSITION

router = APIRouter(prefix="/ledger", tags=["integrity"], responses=UNAUTHENTICATED)


@router.get("/verify", response_model=LedgerVerification, responses=FORBIDDEN)
def verify(
    services: ServicesDep,
    _: Admin,
    since_position: Annotated[int | None, Query(ge=0, le=MAX_POSITION)] = None,
    since_digest: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
) -> dict[str, Any]:
    """Whether every stored entry still gives its digest and its leaf, and every signed
    checkpoint its root; which entry first does not.

    It reads the whole ledger, so it is an admin's operation (as `ledger verify` is).

    With `since_position` and `since_digest` (from `ledger digest`), also whether
    the ledger still passes through that exported head: history only grew.
    """
    if (since_position is None) != (since_digest is None):
        missing = "since_digest" if since_digest is None else "since_position"
        raise invalid(("query", missing), "give both since_position and since_digest, or neither")
    since = None
    if since_position is not None and since_digest is not None:
        since = Digest(since_position, since_digest)
    return services.ledger.verify(services.signing_key.verifier, since).as_dict()
