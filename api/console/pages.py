"""The console's reading pages: home and search, a subject as of any point, entities (§6.1).

Each page reads through the same ledger calls as the API routes, with the same roles:
auditors see personal data masked, and an officer's or admin's page that shows it is in
the access log. Every page does bounded work: a timeline page examines at most
`EXAMINED` entries, whatever its filters.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.console.auth import ConsoleAuditor, check_csrf
from api.console.points import BadPoint, read_point, subject_url
from api.console.rendering import error_page, page, see_other
from api.dependencies import NAME_CHARS, Reader, ServicesDep
from application.reading.changes import status_changes
from application.reading.views import empty_status, entry_view
from bootstrap.services import Services
from domain.entries import AsOf, LedgerEntry
from projections.models import CASES, CHECKS, DOCUMENTS, SESSIONS
from projections.read_model import ReadModel

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE = 50  # events a timeline page shows
EXAMINED = 500  # entries a timeline page reads, at most, to find them
ENTITIES: dict[str, ReadModel] = {
    "session": SESSIONS, "check": CHECKS, "case": CASES, "document": DOCUMENTS,
}  # fmt: skip
RECENT = 50  # entries the home page looks at for the subjects recorded lately


@router.get("", response_class=HTMLResponse)
def home(request: Request, services: ServicesDep, reader: ConsoleAuditor) -> Response:
    return _home(request, services, reader)


def _home(request: Request, services: Services, reader: Reader, problem: str | None = None,
          status_code: int = 200) -> Response:  # fmt: skip
    """Search, the ledger's head, and the subjects of its latest entries (a way in)."""
    with services.ledger.reading() as history:
        head = history.positions.as_of(None)
        latest = history.feed.summaries(max(0, head.position - RECENT), RECENT)
    recent = list(dict.fromkeys(e.subject for e in reversed(latest) if e.subject))[:10]
    return page(request, "home.html", status_code, reader=reader, problem=problem, head=head,
                recent=recent, subject_url=subject_url)  # fmt: skip


@router.post("/search")
def search(
    request: Request,
    services: ServicesDep,
    reader: ConsoleAuditor,
    q: Annotated[str, Form(max_length=NAME_CHARS)],
    csrf: Annotated[str, Form(max_length=128)],
) -> Response:
    """A subject's `external_ref`, or a session, check, case or document id: its page."""
    if not check_csrf(request, services, csrf):
        return see_other("/console")
    name = q.strip()
    if not name:
        return see_other("/console")
    head = services.ledger.as_of()
    with services.ledger.reading() as history:
        if history.timelines.subject_is_known(name, head):
            return see_other(subject_url(name))
        for kind, model in ENTITIES.items():
            if model.compute(history, name, head) is not None:
                return see_other(f"/console/{kind}s/{quote(name, safe='')}")
    return _home(request, services, reader, f"Nothing is named {name[:64]!r}.", 404)


@router.post("/subjects/{ref:path}")
def chooseread_point(
    request: Request,
    ref: str,
    services: ServicesDep,
    reader: ConsoleAuditor,
    csrf: Annotated[str, Form(max_length=128)],
    as_of: Annotated[str, Form(max_length=64)] = "",
    compare: Annotated[str, Form(max_length=64)] = "",
    event: Annotated[str, Form(max_length=256)] = "",
    since: Annotated[str, Form(max_length=64)] = "",
    until: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """The point and filter form: the page's own address, to read, keep or share."""
    if not check_csrf(request, services, csrf):
        return see_other(subject_url(ref))
    return see_other(subject_url(ref, as_of=as_of.strip(), compare=compare.strip(),
                                 event=event.strip(), since=since.strip(),
                                 until=until.strip()))  # fmt: skip


@router.get("/subjects/{ref:path}", response_class=HTMLResponse)
def subject_page(
    request: Request,
    ref: str,
    services: ServicesDep,
    reader: ConsoleAuditor,
    as_of: Annotated[str | None, Query(max_length=64)] = None,
    compare: Annotated[str | None, Query(max_length=64)] = None,
    event: Annotated[str | None, Query(max_length=256)] = None,
    since: Annotated[str | None, Query(max_length=64)] = None,
    until: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> Response:
    """A subject's status and timeline as of a point, filtered, a page at a time; with
    `compare`, what changed since that earlier point."""
    if len(ref) > NAME_CHARS:
        return error_page(request, 422, "That reference is longer than any the ledger holds.")
    ledger = services.ledger

    def prefix(text: str | None, what: str) -> AsOf | None:
        point = read_point(text, what)
        return None if point is None else ledger.as_of(point)

    try:
        point = ledger.as_of(read_point(as_of, "as of"))
        earlier = prefix(compare, "compare with")
        since_at = found.position if (found := prefix(since, "events after")) else 0
        until_at = found.position if (found := prefix(until, "events up to")) else None
    except BadPoint as problem:
        return error_page(request, 422, str(problem))
    status = ledger.subject_status(ref, point)
    if status is None:
        return error_page(request, 404, f"No subject {ref[:64]!r} as of position {point.position}.")
    changes = None
    if earlier is not None:  # the events between the points, and what they changed
        if earlier.position > point.position:
            return error_page(request, 422, f"Compare with an earlier point than position"
                              f" {point.position}.")  # fmt: skip
        before = ledger.subject_status(ref, earlier) or empty_status(ref)
        changes = status_changes(before, status)
        since_at = max(since_at, earlier.position)
    upto = AsOf(min(point.position, until_at), None) if until_at is not None else point
    shown, next_after = _timeline_page(services, ref, upto, max(after, since_at), event)
    events = _events_for(services, reader, ref, shown, point)
    keep = {"as_of": point.position, "compare": earlier.position if earlier else None,
            "event": event, "since": since, "until": until}  # fmt: skip
    return page(
        request, "subject.html", reader=reader, ref=ref, here=subject_url(ref), status=status,
        as_of=point, evidence_url=f"/console/evidence/{quote(ref, safe='')}?as_of={point.position}",
        earlier=earlier, changes=changes, events=events, filters=keep,
        next_url=subject_url(ref, **keep, after=next_after) if next_after else None,
        first_url=subject_url(ref, **keep) if after else None,
        pretty=lambda value: json.dumps(value, indent=2, ensure_ascii=False),
    )  # fmt: skip


def _timeline_page(
    services: Services, ref: str, upto: AsOf, after: int, event: str | None
) -> tuple[list[LedgerEntry], int | None]:
    """Up to `PAGE` entries after `after` of the type asked for, examining at most
    `EXAMINED`, and where the next page starts (None: there is no more)."""
    read = services.ledger.timeline(ref, upto, after=after, limit=EXAMINED + 1) or []
    examined, more = read[:EXAMINED], len(read) > EXAMINED
    matching = [e for e in examined if not event or e.event_type == event]
    if len(matching) > PAGE:
        return matching[:PAGE], matching[PAGE - 1].position
    return matching, examined[-1].position if more else None


def _events_for(services: Services, reader: Reader, ref: str, entries: list[LedgerEntry],
                as_of: AsOf) -> list[dict[str, Any]]:  # fmt: skip
    """The entries as this reader may see them; a disclosure of personal data is logged."""
    if reader.role == "auditor":
        return [entry_view(entry, masked=True) for entry in entries]
    if entries:
        services.ledger.access_log.record(reader.who, reader.role, ref,
                                          f"console timeline as of {as_of.position}")  # fmt: skip
    return [entry_view(entry) for entry in services.ledger.disclose(entries)]


def _entity_page(kind: str, model: ReadModel):  # type: ignore[no-untyped-def]
    def entity_page(
        request: Request,
        entity_id: str,
        services: ServicesDep,
        reader: ConsoleAuditor,
        as_of: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        if len(entity_id) > NAME_CHARS:
            return error_page(request, 422, f"That id is longer than any {kind} has.")
        try:
            point = services.ledger.as_of(read_point(as_of, "as of"))
        except BadPoint as problem:
            return error_page(request, 422, str(problem))
        with services.ledger.reading() as history:
            row = model.compute(history, entity_id, point)
        if row is None:
            return error_page(request, 404, f"No {kind} {entity_id[:64]!r} as of position"
                              f" {point.position}.")  # fmt: skip
        return page(request, "entity.html", reader=reader, kind=kind, entity_id=entity_id,
                    doc=row.doc, as_of=point, subject_url=subject_url)  # fmt: skip

    return entity_page


for _kind, _model in ENTITIES.items():
    router.add_api_route(f"/{_kind}s/{{entity_id:path}}", _entity_page(_kind, _model),
                         methods=["GET"], response_class=HTMLResponse)  # fmt: skip
