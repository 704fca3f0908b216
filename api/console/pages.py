"""The console's reading pages: home and search, a subject as of any point, entities (§6.1).

Each page reads through the same ledger calls as the API routes, with the same roles:
auditors see personal data masked, and an officer's or admin's page that shows it is in
the access log. Every page does bounded work: a timeline page examines at most
`EXAMINED` entries, whatever its filters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.console.auth import ConsoleAuditor, check_csrf
from api.console.points import BadPoint, read_point, subject_url
from api.console.rendering import error_page, page, pretty, see_other
from api.dependencies import NAME_CHARS, Reader, ServicesDep
from api.reading import events_as_seen
from application.reading.changes import status_changes
from application.reading.views import Doc, empty_status
from bootstrap.services import Services
from domain.entries import AsOf, LedgerEntry
from domain.payloads import EVENT_MODELS
from domain.personal_data import ERASURE_REQUESTED
from projections.models import CASES, CHECKS, DOCUMENTS, SESSIONS, SUBJECT_STATUS
from projections.read_model import ReadModel

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE = 50  # events a timeline page shows
EXAMINED = 500  # entries a timeline page reads, at most, to find them
INLINE_PAYLOAD = 4096  # characters of a payload shown in the timeline; beyond, on its own page
SHOWN_ITEMS = 100  # checks, cases, sessions or documents listed in a status
SHOWN_CHANGES = 200  # changes listed between two points
EVENT_TYPES = sorted([*EVENT_MODELS, ERASURE_REQUESTED])  # offered by the event type filter
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
        asked = read_point(as_of, "as of")
        earlier = prefix(compare, "compare with")
        since_at = found.position if (found := prefix(since, "events after")) else 0
        until_at = found.position if (found := prefix(until, "events up to")) else None
    except BadPoint as problem:
        return error_page(request, 422, str(problem))
    point, status = _status(services, ref, asked)
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
    shown, examined_to, next_after = _timeline_page(services, ref, point, max(after, since_at),
                                                    until_at, event)  # fmt: skip
    events = _events_for(services, reader, ref, shown, point)
    keep = {"as_of": point.position, "compare": earlier.position if earlier else None,
            "event": event, "since": since, "until": until}  # fmt: skip
    return page(
        request, "subject.html", reader=reader, ref=ref, here=subject_url(ref), status=status,
        as_of=point, evidence_url=f"/console/evidence/{quote(ref, safe='')}?as_of={point.position}",
        earlier=earlier, changes=changes, events=events, filters=keep, examined_to=examined_to,
        next_url=subject_url(ref, **keep, after=next_after) if next_after else None,
        first_url=subject_url(ref, **keep) if after else None, shown_items=SHOWN_ITEMS,
        shown_changes=SHOWN_CHANGES, inline_payload=INLINE_PAYLOAD, event_types=EVENT_TYPES,
    )  # fmt: skip


def _status(services: Services, ref: str, point: int | datetime | None) -> tuple[AsOf, Doc | None]:
    """The subject's status: now, from the read model (as the API answers it), or folded
    from the ledger as of the point asked for (and now, for a subject the read model has not
    caught up with yet)."""
    if point is None and (build := services.read_models.serving(SUBJECT_STATUS.name)):
        position, doc = services.read_models.get(build, ref)
        if doc is not None:
            return services.ledger.as_of(position), doc
    as_of = services.ledger.as_of(point)
    return as_of, services.ledger.subject_status(ref, as_of)


def _timeline_page(
    services: Services, ref: str, as_of: AsOf, after: int, until: int | None, event: str | None
) -> tuple[list[LedgerEntry], int, int | None]:
    """Up to `PAGE` of the subject's entries (as of `as_of`) after `after` and up to `until`,
    of the type asked for, examining at most `EXAMINED`; how far it examined; and where the
    next page starts (None: there is no more)."""
    read = services.ledger.timeline(ref, as_of, after=after, limit=EXAMINED + 1) or []
    within = [e for e in read if until is None or e.position <= until]
    examined, more = within[:EXAMINED], len(within) > EXAMINED
    matching = [e for e in examined if not event or e.event_type == event]
    if len(matching) > PAGE:
        return matching[:PAGE], matching[PAGE - 1].position, matching[PAGE - 1].position
    reached = examined[-1].position if examined else after
    return matching, reached, reached if more else None


def _events_for(services: Services, reader: Reader, ref: str, entries: list[LedgerEntry],
                as_of: AsOf) -> list[dict[str, Any]]:  # fmt: skip
    """The entries as this reader may see them, each payload's text if it is short enough to
    show in the timeline; a disclosure of personal data is logged."""
    what = f"console timeline as of {as_of.position}"
    views = events_as_seen(services, reader, ref, entries, what)
    for view in views:
        text = pretty(view["payload"])
        view.update(text=text if len(text) <= INLINE_PAYLOAD else None, size=len(text))
    return views


@router.get("/events/{position}", response_class=HTMLResponse)
def event_page(
    request: Request,
    position: Annotated[int, Path(ge=1, le=2**62)],
    services: ServicesDep,
    reader: ConsoleAuditor,
    subject: Annotated[str, Query(min_length=1, max_length=NAME_CHARS)],
) -> Response:
    """One entry of a subject's timeline with its whole payload (the timeline shows long
    ones here only)."""
    head = services.ledger.as_of()
    found = services.ledger.timeline(subject, head, after=position - 1, limit=1) or []
    if not found or found[0].position != position:
        return error_page(request, 404, f"No entry {position} in the timeline of"
                          f" {subject[:64]!r}.")  # fmt: skip
    [view] = _events_for(services, reader, subject, found, head)
    return page(request, "event.html", reader=reader, ref=subject, event=view,
                text=pretty(view["payload"]), subject_url=subject_url)  # fmt: skip


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
