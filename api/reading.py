"""Where an answer comes from: the read models now, or the ledger as of a point.

Both paths compute a row with the same `ReadModel.compute`, so they agree; each
answer carries the `as_of` prefix its rows reflect.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import HTTPException

from api.errors import shown
from application.reading.views import Doc
from bootstrap.services import Services
from projections.read_model import Build, ReadModel, Selection


def not_found(what: str, key: str, position: int) -> HTTPException:
    return HTTPException(404, f"no {what} {shown(key)} as of position {position}")


def serving(services: Services, model: ReadModel) -> Build:
    """The build of `model` that current answers come from."""
    build = services.read_models.serving(model.name)
    if build is None:
        raise HTTPException(503, f"the {model.name} read model has no build yet",
                            headers={"Retry-After": "1"})  # fmt: skip
    return build


def read_one(services: Services, model: ReadModel, key: str, point: int | datetime | None) -> Doc:
    """One row of `model`: its current document, or the one it had as of `point`."""
    if point is None:
        position, doc = services.read_models.get(serving(services, model), key)
        as_of = services.ledger.as_of(position)
    else:
        with services.ledger.reading() as history:
            as_of = history.positions.as_of(point)
            row = model.compute(history, key, as_of)
        doc = row.doc if row else None
    if doc is None:
        raise not_found(model.kind, key, as_of.position)
    return {**doc, "as_of": as_of.as_dict()}


def read_many(
    services: Services, point: int | datetime | None, *selections: Selection
) -> tuple[Doc, list[list[Doc]]]:
    """Rows of several models, and the `as_of` they reflect."""
    if point is None:
        builds = [(serving(services, s.model), s) for s in selections]
        position, results = services.read_models.select(*builds)
        return services.ledger.as_of(position).as_dict(), results
    with services.ledger.reading() as history:
        as_of = history.positions.as_of(point)
        results = [
            [row.doc for row in s.model.rows_as_of(history, as_of) if s.matches(row)]
            for s in selections
        ]
    return as_of.as_dict(), results
