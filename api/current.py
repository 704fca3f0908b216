"""Answers from the read models (now) or from the ledger (as of a point): one place decides."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import HTTPException, status

from api.services import Services
from ledger.history import AsOf
from ledger.views import Doc
from projections.read_model import ReadModel


def projection_as_of(services: Services, model: ReadModel) -> AsOf:
    """The prefix a read model reflects: its tracking position."""
    return services.ledger.as_of(services.read_models.position(model))


def read_one(
    services: Services,
    model: ReadModel,
    key: str,
    point: int | datetime | None,
    fold: Callable[[AsOf], Doc | None],
    what: str,
) -> Doc:
    """The current document from `model`, or the as-of fold when a point is asked for."""
    if point is None:
        as_of = projection_as_of(services, model)
        doc = services.read_models.get(model, key)
    else:
        as_of = services.ledger.as_of(point)
        doc = fold(as_of)
    if doc is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no {what} {key!r} as of position {as_of.position}"
        )
    return {**doc, "as_of": as_of.as_dict()}
