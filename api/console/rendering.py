"""How the console answers: pages from Jinja2 templates shipped in the package, with the
security headers every page carries, and error pages that never show a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import Response
from starlette.types import Scope

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")  # autoescaped: .html templates


def pretty(value: Any) -> str:
    """A JSON value as the pages show it: indented, non-ASCII as it is."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def segment(value: Any) -> str:
    """A name as one segment of a path: `/`, `?`, `#`, `%` and all else escaped."""
    return quote(str(value), safe="")


templates.env.filters["pretty"] = pretty
templates.env.filters["segment"] = segment

# No inline script or style, nothing from another origin, no framing, forms post home only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",  # pages may hold personal data (officers)
}


class ConsoleStatic(StaticFiles):
    """The console's stylesheet and icon, with the security headers of its pages."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        return response


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A rendered page, with the security headers. Every console answer is made here, by
    `see_other`, `download` or `ConsoleStatic`: no middleware, which would wrap every request
    of the API, deliveries included."""
    answer = templates.TemplateResponse(request, template, context, status_code=status_code)
    answer.headers.update(HEADERS)
    return answer


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    reader = getattr(request.state, "console_reader", None)
    return page(request, "error.html", status_code, message=message, reader=reader,
                status=status_code)  # fmt: skip


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=HEADERS)


def download(body: str, filename: str) -> Response:
    """A JSON file to save, never kept in a cache (it may be an officer's)."""
    return Response(body, media_type="application/json", headers={
        **HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip
