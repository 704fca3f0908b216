"""The transparency log (DESIGN §7.1): signed checkpoints, the verifier key, and proofs.

Anyone with a token may read them: a checkpoint, a leaf and a proof hold no
personal data (it is sealed in the leaf), and they are what an auditor checks the
ledger with, without trusting it. Each answer is O(log n) work.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import PlainTextResponse

from api.dependencies import Auditor, ServicesDep
from api.errors import NOT_FOUND, UNAUTHENTICATED, Responses
from api.schemas import CheckpointList, ConsistencyProof, InclusionProof
from application.storage.unit_of_work import UnitOfWork
from bootstrap.services import Services
from domain.entries import MAX_POSITION

router = APIRouter(prefix="/ledger", tags=["transparency"], responses=UNAUTHENTICATED)
TEXT: Responses = {200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                          "description": "text"}}  # fmt: skip


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def tree_of(services: Services, uow: UnitOfWork, asked: int | None) -> int:
    """The tree size a proof is asked for, checked against the log; by default the latest
    checkpoint's (issuing one if none was), which the log holds by construction."""
    log = services.ledger.transparency
    if asked is not None:
        if asked > (head := log.size(uow)):
            raise HTTPException(404, f"no tree of {asked} leaves: the log has {head}")
        return asked
    latest = services.ledger.checkpoints.latest(uow)
    if latest is None:
        return services.ledger.checkpoints.issue(services.signing_key).tree_size
    return latest.tree_size


@router.get("/verifier-key", response_model=None, responses=TEXT)
def verifier_key(services: ServicesDep, _: Auditor) -> PlainTextResponse:
    """The key that checks the log's checkpoints, as C2SP notes write it
    (`<origin>+<key id>+<key>`): keep it apart from the ledger, it is what you trust."""
    return PlainTextResponse(f"{services.signing_key.verifier}\n")


@router.get("/checkpoint", response_model=None, responses=TEXT)
def checkpoint(services: ServicesDep, _: Auditor) -> PlainTextResponse:
    """The latest signed checkpoint (a C2SP signed note): it covers every entry acknowledged
    before this request."""
    return PlainTextResponse(services.ledger.checkpoints.issue(services.signing_key).note)


@router.get("/checkpoints", response_model=CheckpointList)
def checkpoints(
    services: ServicesDep,
    _: Auditor,
    after: Annotated[int, Query(ge=0, le=MAX_POSITION, description="a checkpoint's id")] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> dict[str, Any]:
    """Every checkpoint the ledger signed, in the order it signed them, a page at a time
    (page on with `after`: the last id of the page before)."""
    issued = services.ledger.checkpoints.list(after, limit)
    return {"checkpoints": [c.as_dict() for c in issued]}


@router.get("/proof/inclusion", response_model=InclusionProof, responses=NOT_FOUND)
def inclusion(
    services: ServicesDep,
    _: Auditor,
    position: Annotated[int, Query(ge=1, le=MAX_POSITION)],
    tree_size: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None,
) -> dict[str, Any]:
    """That the entry at `position` is in the tree of `tree_size` leaves (default: the latest
    checkpoint's), RFC 9162 §2.1.3: its leaf and the hashes to the root."""
    log = services.ledger.transparency
    with services.ledger.database.reading() as uow:  # one transaction, a few queries
        size = tree_of(services, uow, tree_size)
        leaf = log.leaves(uow, [position]).get(position)
        if leaf is None:
            raise HTTPException(404, f"no entry at position {position}")
        if leaf.leaf_index >= size:
            raise HTTPException(404, f"the entry is leaf {leaf.leaf_index}, not in a tree of"
                                f" {size}")  # fmt: skip
        hashes = log.inclusion_proof(uow, leaf.leaf_index, size)
    return {"position": position, "leaf_index": leaf.leaf_index, "tree_size": size,
            "leaf": b64(leaf.leaf), "hashes": [b64(h) for h in hashes]}  # fmt: skip


@router.get("/proof/consistency", response_model=ConsistencyProof, responses=NOT_FOUND)
def consistency(
    services: ServicesDep,
    _: Auditor,
    first: Annotated[int, Query(alias="from", ge=1, le=MAX_POSITION)],
    second: Annotated[int | None, Query(alias="to", ge=1, le=MAX_POSITION)] = None,
) -> dict[str, Any]:
    """That the tree of `to` leaves (default: the latest checkpoint's) extends the one of
    `from`, RFC 9162 §2.1.4: history only grew."""
    log = services.ledger.transparency
    with services.ledger.database.reading() as uow:
        size = tree_of(services, uow, second)
        if first > size:
            raise HTTPException(404, f"no proof that a tree of {size} extends a larger one")
        hashes = log.consistency_proof(uow, first, size)
    return {"from": first, "to": size, "hashes": [b64(h) for h in hashes]}
