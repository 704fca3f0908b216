"""Signing in to the console with a bearer token, signing out, and who a page is for.

Roles are the API's (`bootstrap.credentials.ROLES`): a page needs a role as a route
does, and the reader it gives names the token by its fingerprint in the access log.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.console.rendering import page, see_other
from api.console.sessions import PRE_SESSION_COOKIE, SESSION_COOKIE, SESSION_SECONDS, SessionKey
from api.console.sign_outs import SignOuts
from api.dependencies import Reader, ServicesDep, fingerprint, role_of
from bootstrap.credentials import ROLES
from bootstrap.services import Services

router = APIRouter(prefix="/console", include_in_schema=False)

TOKEN_CHARS = 512  # far longer than any token `ledger` generates or an operator would set


class SignInRequired(Exception):
    """A page was asked for without a live session: the answer is the sign-in page."""

    def __init__(self, back_to: str) -> None:
        self.back_to = back_to


class NotAllowed(Exception):
    """The session's role does not include the one the page needs."""

    def __init__(self, role: str) -> None:
        self.role = role


def session_key(services: Services) -> SessionKey:
    assert services.credentials.master_key is not None, "`ledger serve` always has one"
    return SessionKey(services.credentials.master_key)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def console_reader(role: str = "auditor"):  # type: ignore[no-untyped-def]
    """A dependency: the signed-in reader, whose role must include `role`."""

    def signed_in(request: Request, services: ServicesDep) -> Reader:  # reads: in a thread
        session = session_key(services).read(request.cookies.get(SESSION_COOKIE))
        live = (session is not None and any(
            r == session.role and f"{r}:{fingerprint(t)}" == session.who
            for t, r in services.credentials.api_tokens.items()
        ) and not sign_outs(request).signed_out(session))  # fmt: skip
        if session is None or not live:
            raise SignInRequired(_asked_for(request))
        if ROLES.index(session.role) < ROLES.index(role):
            raise NotAllowed(role)
        reader = Reader(session.role, session.who)
        request.state.console_reader = reader
        request.state.csrf_token = session_key(services).csrf_token(session.id)
        return reader

    return signed_in


ConsoleAuditor = Annotated[Reader, Depends(console_reader("auditor"))]
ConsoleAdmin = Annotated[Reader, Depends(console_reader("admin"))]


def sign_outs(request: Request) -> SignOuts:
    outs: SignOuts = request.app.state.console_sign_outs
    return outs


def check_csrf(request: Request, services: Services, token: str) -> bool:
    """Whether a signed-in form's token is the one its session was given."""
    key = session_key(services)
    session = key.read(request.cookies.get(SESSION_COOKIE))
    return key.csrf_ok(session.id if session else None, token)


def _asked_for(request: Request) -> str:
    """Where to come back to after signing in: the page as asked for, byte for byte (a GET;
    a form sent without a session starts again from home)."""
    if request.method != "GET":
        return "/console"
    raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
    path = raw.decode("latin-1")
    return path + (f"?{request.url.query}" if request.url.query else "")


def _safe_next(back_to: str) -> str:
    """Only a console page: a sign-in never sends the browser anywhere else, not even by
    `..` segments or a backslash that a browser reads as a slash."""
    path = back_to.split("?", 1)[0]
    inside = (path == "/console" or path.startswith("/console/")) and "\\" not in back_to
    segments = path.split("/")
    if not inside or any(s in (".", "..") or s.lower().startswith("%2e") for s in segments):
        return "/console"
    return back_to


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, services: ServicesDep, next: str = "/console") -> Response:
    return _login_page(request, services, next)


def _login_page(request: Request, services: Services, next: str,
                problem: str | None = None) -> Response:  # fmt: skip
    """The sign-in form, its CSRF token bound to a cookie of its own."""
    binding = secrets.token_urlsafe(16)
    csrf = session_key(services).csrf_token(binding)
    answer = page(request, "login.html", 401 if problem else 200, problem=problem,
                  next=_safe_next(next[:1024]), csrf=csrf)  # fmt: skip
    answer.set_cookie(PRE_SESSION_COOKIE, binding, max_age=600, httponly=True,
                      samesite="strict", secure=_secure(request), path="/console")  # fmt: skip
    return answer


@router.post("/login")
def login(
    request: Request,
    services: ServicesDep,
    token: Annotated[str, Form(max_length=TOKEN_CHARS)],
    csrf: Annotated[str, Form(max_length=128)],
    next: Annotated[str, Form(max_length=1024)] = "/console",
) -> Response:
    """A token that a role holds starts a session; anything else shows the form again."""
    if not session_key(services).csrf_ok(request.cookies.get(PRE_SESSION_COOKIE), csrf):
        return _login_page(request, services, next, problem="The form expired: sign in again.")
    role = role_of(services, token)
    if role is None:
        return _login_page(request, services, next, problem="That token is not known.")
    _, cookie = session_key(services).issue(role, f"{role}:{fingerprint(token)}")
    answer = see_other(_safe_next(next))
    answer.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_SECONDS, httponly=True,
                      samesite="strict", secure=_secure(request), path="/console")  # fmt: skip
    answer.delete_cookie(PRE_SESSION_COOKIE, path="/console")
    return answer


@router.post("/logout")
def logout(request: Request, services: ServicesDep, reader: ConsoleAuditor,
           csrf: Annotated[str, Form(max_length=128)]) -> Response:  # fmt: skip
    if not check_csrf(request, services, csrf):
        return see_other("/console")
    session = session_key(services).read(request.cookies.get(SESSION_COOKIE))
    assert session is not None, "signed in: `reader` says so"
    sign_outs(request).sign_out(session)
    answer = see_other("/console/login")
    answer.delete_cookie(SESSION_COOKIE, path="/console")
    return answer


def sign_in_redirect(error: SignInRequired) -> RedirectResponse:
    return see_other(f"/console/login?next={quote(_safe_next(error.back_to[:1024]), safe='')}")
