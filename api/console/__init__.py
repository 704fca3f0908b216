"""The auditor console: the ledger in a browser at /console, on the API's own server (§6.1).

Pages are rendered on the server from the templates beside this file; the static files
ship here too, so nothing is fetched from anywhere else and there is no build step.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from api.console import auth, lists, pages
from api.console.rendering import STATIC, ConsoleStatic, error_page
from api.console.sign_outs import SignOuts
from bootstrap.services import Services


def is_console(request: Request) -> bool:
    return request.url.path == "/console" or request.url.path.startswith("/console/")


def invalid_page(request: Request, error: RequestValidationError) -> Response:
    """A form or an address the console cannot take: what was wrong, in words."""
    problems = [f"{'/'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}"
                for e in error.errors()[:5]]  # fmt: skip
    return error_page(request, 422, "; ".join(problems))


def unavailable_page(request: Request) -> Response:
    answer = error_page(request, 503, "The store is out of reach or busy: try again shortly.")
    answer.headers["Retry-After"] = "1"
    return answer


def fault_page(request: Request) -> Response:
    return error_page(request, 500, "The console failed to answer; the fault is logged.")


def install(app: FastAPI, services: Services) -> None:
    """The console's routes, static files, security headers and error pages, on `app`."""
    app.state.console_sign_outs = SignOuts(services.ledger.database)
    app.state.console_sign_outs.create_table()
    app.include_router(auth.router)
    app.include_router(pages.router)
    app.include_router(lists.router)
    app.mount("/console/static", ConsoleStatic(directory=STATIC), name="console-static")

    @app.exception_handler(auth.SignInRequired)
    async def sign_in(request: Request, error: auth.SignInRequired) -> Response:
        return auth.sign_in_redirect(error)

    @app.exception_handler(auth.NotAllowed)
    async def not_allowed(request: Request, error: auth.NotAllowed) -> Response:
        return error_page(request, 403, f"This page needs the {error.role} role.")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if not is_console(request):
            return await http_exception_handler(request, error)
        answer = error_page(request, error.status_code, str(error.detail)[:200])
        answer.headers.update(error.headers or {})
        return answer
