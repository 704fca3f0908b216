"""Sessions, checks, cases and documents, each now or as of a point (DESIGN §6)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.dependencies import AsOfPoint, Auditor, ServicesDep
from api.reading import read_one
from api.schemas import Entity
from projections.models import CASES, CHECKS, DOCUMENTS, SESSIONS
from projections.read_model import ReadModel

router = APIRouter(tags=["entities"])


def _entity_route(path: str, kind: str, model: ReadModel) -> None:
    def read_entity(
        entity_id: str, services: ServicesDep, _: Auditor, point: AsOfPoint
    ) -> dict[str, Any]:
        return read_one(services, model, entity_id, point)

    read_entity.__doc__ = f"The {kind}'s state and the subject it is linked to (or null)."
    router.add_api_route(
        path, read_entity, methods=["GET"], response_model=Entity, name=f"read_{kind}"
    )


_entity_route("/sessions/{entity_id}", "session", SESSIONS)
_entity_route("/checks/{entity_id}", "check", CHECKS)
_entity_route("/cases/{entity_id}", "case", CASES)
_entity_route("/documents/{entity_id}", "document", DOCUMENTS)
