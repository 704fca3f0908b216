"""The console's lists: what needs attention (review queue, alerts), the transparency log,
and for admins the read models and the quarantine (§6.1).

The lists read as the API's do (`api.reading.read_list`): a page at a time, pinned to the
first page's position, so paging never loses its place while deliveries arrive.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.console.auth import ConsoleAdmin, ConsoleAuditor, check_csrf
from api.console.points import BadPoint, read_point, subject_url
from api.console.rendering import download, error_page, page, see_other
from api.dependencies import NAME_CHARS, ServicesDep
from api.reading import LIST_CURSOR_PATTERN, read_list
from api.routes.subjects import MAX_EVIDENCE_ENTRIES
from application.reading.evidence import TooMuchEvidence
from projections.models import ALERTS, REVIEW_QUEUE
from projections.read_model import Selection

router = APIRouter(prefix="/console", include_in_schema=False)

ROWS = 25  # rows a list page shows per part
Cursor = Annotated[str | None, Query(pattern=LIST_CURSOR_PATTERN)]
PointText = Annotated[str | None, Query(max_length=64)]

LISTS = {
    "review-queue": ("Review queue", [("Sessions pending manual review", "session", "session_id",
                                       Selection(REVIEW_QUEUE, status="session", flagged=True)),
                                      ("Cases not yet decided", "case", "case_id",
                                       Selection(REVIEW_QUEUE, status="case", flagged=True))]),
    "alerts": ("Alerts", [("Checks with open monitoring hits", "check", "check_id",
                           Selection(ALERTS, status="check", flagged=True)),
                          ("Restricted subjects", "subject", "subject",
                           Selection(ALERTS, status="subject", flagged=True))]),
}  # fmt: skip


def _list_page(name: str):  # type: ignore[no-untyped-def]
    title, parts = LISTS[name]

    def list_page(request: Request, services: ServicesDep, reader: ConsoleAuditor,
                  as_of: PointText = None, cursor: Cursor = None) -> Response:  # fmt: skip
        try:
            point = read_point(as_of, "as of")
        except BadPoint as problem:
            return error_page(request, 422, str(problem))
        shown, results, next_cursor = read_list(services, point, cursor, ROWS,
                                                *(part[3] for part in parts))  # fmt: skip
        sections = [(*part[:3], docs) for part, docs in zip(parts, results, strict=True)]
        return page(request, "list.html", reader=reader, title=title, sections=sections,
                    as_of=shown, here=f"/console/{name}", next_cursor=next_cursor,
                    subject_url=subject_url)  # fmt: skip

    return list_page


def _choose_point(name: str):  # type: ignore[no-untyped-def]
    def choose_point(request: Request, services: ServicesDep, reader: ConsoleAuditor,
                     csrf: Annotated[str, Form(max_length=128)],
                     as_of: Annotated[str, Form(max_length=64)] = "") -> Response:  # fmt: skip
        """The point form: the list's own address at that point, to read, keep or share."""
        if not check_csrf(request, services, csrf) or not as_of.strip():
            return see_other(f"/console/{name}")
        return see_other(f"/console/{name}?{urlencode({'as_of': as_of.strip()})}")

    return choose_point


for _name in LISTS:
    router.add_api_route(f"/{_name}", _list_page(_name), methods=["GET"],
                         response_class=HTMLResponse)  # fmt: skip
    router.add_api_route(f"/{_name}", _choose_point(_name), methods=["POST"])


@router.get("/transparency", response_class=HTMLResponse)
def transparency(request: Request, services: ServicesDep, reader: ConsoleAuditor) -> Response:
    """The latest signed checkpoint and the key that verifies it, and what to do with them."""
    issued = services.ledger.checkpoints.issue(services.signing_key)
    return page(request, "transparency.html", reader=reader, checkpoint=issued,
                verifier=str(services.signing_key.verifier), verification=None)  # fmt: skip


@router.post("/transparency/verify", response_class=HTMLResponse)
def verify(request: Request, services: ServicesDep, reader: ConsoleAdmin,
           csrf: Annotated[str, Form(max_length=128)]) -> Response:  # fmt: skip
    """`ledger verify` from the console: it reads the whole ledger, so it is an admin's."""
    if not check_csrf(request, services, csrf):
        return see_other("/console/transparency")
    result = services.ledger.verify(services.signing_key.verifier).as_dict()
    issued = services.ledger.checkpoints.issue(services.signing_key)
    return page(request, "transparency.html", reader=reader, checkpoint=issued,
                verifier=str(services.signing_key.verifier), verification=result)  # fmt: skip


@router.get("/evidence/{ref:path}")
def evidence(request: Request, ref: str, services: ServicesDep, reader: ConsoleAuditor,
             as_of: PointText = None) -> Response:  # fmt: skip
    """A subject's evidence bundle to download: `ledger evidence verify` checks it offline."""
    if len(ref) > NAME_CHARS:
        return error_page(request, 422, "That reference is longer than any the ledger holds.")
    try:
        point = read_point(as_of, "as of")
        found = services.ledger.evidence(ref, point, services.signing_key, MAX_EVIDENCE_ENTRIES)
    except BadPoint as problem:
        return error_page(request, 422, str(problem))
    except TooMuchEvidence as problem:
        return error_page(request, 422, f"{problem}: export it with `ledger evidence export`.")
    if found is None:
        return error_page(request, 404, f"No subject {ref[:64]!r} at that point.")
    name = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in ref)[:64]
    position = found["as_of"]["position"]
    return download(json.dumps(found, indent=1), f"evidence-{name}-{position}.json")


@router.get("/projections", response_class=HTMLResponse)
def projections(request: Request, services: ServicesDep, reader: ConsoleAdmin) -> Response:
    return page(request, "projections.html", reader=reader, states=services.runner.states())


@router.get("/quarantine", response_class=HTMLResponse)
def quarantine(request: Request, services: ServicesDep, reader: ConsoleAdmin,
               after: Annotated[str, Query(max_length=64)] = "") -> Response:  # fmt: skip
    """Held deliveries, oldest first; their bodies may hold personal data (access log)."""
    services.ledger.access_log.record(reader.who, reader.role, "(quarantine)",
                                      "console quarantine list")  # fmt: skip
    entries = services.ledger.quarantine.list(after=after, limit=ROWS + 1)
    shown: list[dict[str, Any]] = [entry.as_dict() for entry in entries[:ROWS]]
    return page(request, "quarantine.html", reader=reader, entries=shown,
                next_after=entries[ROWS - 1].id if len(entries) > ROWS else None)  # fmt: skip
