"""Where an answer comes from: the read models now, or the ledger as of a point.

Both paths compute a row with the same `ReadModel.compute`, so they agree; each
answer carries the `as_of` prefix its rows reflect.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import HTTPException

from api.dependencies import Reader
from api.errors import invalid, shown
from application.reading.views import Doc, entry_view
from bootstrap.services import Services
from domain.entries import MAX_POSITION, LedgerEntry
from projections.models import AttentionModel
from projections.pages import NotBuiltYet, page_as_of
from projections.read_model import Build, ReadModel, Selection


def events_as_seen(services: Services, reader: Reader, subject: str,
                   entries: list[LedgerEntry], what: str) -> list[Doc]:  # fmt: skip
    """Timeline rows as the reader may see them: personal data masked for auditors, else as
    sent until erased, that read written to the access log (`what` says which read)."""
    if reader.role == "auditor":
        return [entry_view(entry, masked=True) for entry in entries]
    if entries:
        services.ledger.access_log.record(reader.who, reader.role, subject, what)
    return [entry_view(entry) for entry in services.ledger.disclose(entries)]


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


# A list's cursor: the position its pages are pinned to, then, for each part of the list,
# the key to go on after (hex of its UTF-8) or `-` once the part is done. Any text of this
# form is a cursor: positions past the last there can be mean the last.
LIST_CURSOR_PATTERN = r"^[0-9]{1,19}\.(-|([0-9a-f]{2}){0,1024})\.(-|([0-9a-f]{2}){0,1024})$"
DONE = "-"


def encode_list_cursor(position: int, afters: list[str | None]) -> str:
    parts = [DONE if a is None else a.encode("utf-8", "surrogatepass").hex() for a in afters]
    return ".".join([str(position), *parts])


def decode_list_cursor(cursor: str) -> tuple[int, list[str | None]]:
    position, *parts = cursor.split(".")
    afters = [None if p == DONE else bytes.fromhex(p).decode("utf-8", "replace") for p in parts]
    return min(int(position), MAX_POSITION), afters


def read_list(
    services: Services,
    point: int | datetime | None,
    cursor: str | None,
    limit: int,
    *selections: Selection,
) -> tuple[Doc, list[list[Doc]], str | None]:
    """A page of each part of a list, its `as_of`, and the cursor to the next page (None at
    the end). The first page of a current list comes from the read models; every other
    page is folded from the ledger as of the first page's position, examining at most
    `limit` keys per part (`projections.pages`), so no request does work that grows with
    the ledger."""
    if point is None and cursor is None:
        builds = [(serving(services, s.model), s) for s in selections]
        position, results = services.read_models.select(*builds, limit=limit + 1)
        afters = [_key_of(docs[limit - 1], s) if len(docs) > limit else None
                  for docs, s in zip(results, selections, strict=True)]  # fmt: skip
        as_of = services.ledger.as_of(position)
        more = any(a is not None for a in afters)
        return (as_of.as_dict(), [docs[:limit] for docs in results],
                encode_list_cursor(as_of.position, afters) if more else None)  # fmt: skip
    ledger = services.ledger
    if cursor is not None:
        pinned, after_keys = decode_list_cursor(cursor)
        as_of = ledger.as_of(pinned)
        if point is not None and ledger.as_of(point).position != as_of.position:
            raise invalid(("query", "as_of"), "as_of names another position than the"
                          " cursor's: leave as_of out", point)  # fmt: skip
    else:
        as_of, after_keys = ledger.as_of(point), [""] * len(selections)
    results, afters = [], []
    for selection, after in zip(selections, after_keys, strict=True):
        if after is None:
            results.append([])
            afters.append(None)
            continue
        try:
            page = page_as_of(services.read_models, ledger, selection, as_of, after, limit)
        except NotBuiltYet as busy:
            raise HTTPException(503, str(busy), headers={"Retry-After": "1"}) from None
        results.append([row.doc for row in page.rows])
        afters.append(page.next_key)
    more = any(a is not None for a in afters)
    return (as_of.as_dict(), results,
            encode_list_cursor(as_of.position, afters) if more else None)  # fmt: skip


def _key_of(doc: Doc, selection: Selection) -> str:
    """The read model key of a row's document (the attention lists' parts are keyed so)."""
    model = selection.model
    source = model.parts[selection.status or ""][0] if isinstance(model, AttentionModel) else model
    field = {"subject": "subject", "session": "session_id", "check": "check_id",
             "case": "case_id", "document": "document_id"}[source.kind]  # fmt: skip
    return str(doc[field])
