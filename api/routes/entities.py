"""Sessions, checks, cases and documents, each now or as of a point (DESIGN §6).

An id may hold `/` (send it as `%2F`): the routes take the rest of the path.
"""

# No `from __future__ import annotations`: each route's parameters are annotated with the
# `Path` of its own kind, which FastAPI could not find from a string.
from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.dependencies import NAME_CHARS, NAME_PATTERN, AsOfPoint, Auditor, ServicesDep
from api.errors import NOT_FOUND, UNAUTHENTICATED
from api.reading import read_one
from api.schemas import Entity
from projections.models import CASES, CHECKS, DOCUMENTS, SESSIONS
from projections.read_model import ReadModel

router = APIRouter(tags=["entities"], responses={**UNAUTHENTICATED, **NOT_FOUND})


def _entity_route(path: str, kind: str, model: ReadModel, example: str) -> None:
    entity_id_path = Path(
        min_length=1,
        max_length=NAME_CHARS,
        pattern=NAME_PATTERN,
        description=f"The {kind}'s id, URL-encoded",
        openapi_examples={"verifa": {"summary": "As in Verifa's tutorial", "value": example}},
    )

    def read_entity(
        entity_id: Annotated[str, entity_id_path],
        services: ServicesDep,
        _: Auditor,
        point: AsOfPoint,
    ) -> dict[str, Any]:
        return read_one(services, model, entity_id, point)

    read_entity.__doc__ = f"The {kind}'s state and the subject it is linked to (or null)."
    router.add_api_route(
        path, read_entity, methods=["GET"], response_model=Entity, name=f"read_{kind}"
    )


_entity_route("/sessions/{entity_id:path}", "session", SESSIONS, "session_abc123")
_entity_route("/checks/{entity_id:path}", "check", CHECKS, "check_abc123")
_entity_route("/cases/{entity_id:path}", "case", CASES, "case_abc123")
_entity_route("/documents/{entity_id:path}", "document", DOCUMENTS, "doc_abc123")
