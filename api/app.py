"""The FastAPI application: routers per resource, services on `app.state`, errors as JSON."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from eventsourcing.persistence import DataError, PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from api import console, metrics
from api.errors import SERVER_ERRORS, answered_unavailable, invalid, unprocessable
from api.routes import (
    entities,
    operations,
    queues,
    subjects,
    transparency,
    verification,
    webhooks,
)
from application.recording.outcomes import LedgerBusy
from bootstrap.credentials import load_credentials
from bootstrap.services import Services
from bootstrap.settings import Settings

log = logging.getLogger(__name__)

# How long a thread may hold the GIL while another waits (Python's default: 5 ms). The
# group committer waits on the database many times a batch, and after each wait it needs
# the GIL back from the event loop: a shorter slice keeps it from queueing behind requests.
SWITCH_INTERVAL = 0.0005


def internal_error() -> JSONResponse:
    return JSONResponse({"detail": "internal error (logged)"}, status_code=500)


def create_app(services: Services) -> FastAPI:
    """The ledger's HTTP API. Read models are kept up to date elsewhere: by the projections
    worker `ledger serve` starts, or by `ledger projections run`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        services.close()

    app = FastAPI(
        title="Compliance ledger",
        version="0.1.0",
        lifespan=lifespan,
        description="An append-only, tamper-evident ledger of Verifa webhooks, "
        "with auditor timelines and status as of any point.",
    )
    app.state.services = services
    services.ledger.observe_batches(metrics.batch_committed)
    services.ledger.observe_conflicts(metrics.conflicted)
    app.add_middleware(metrics.RequestTimer)
    for module in (webhooks, subjects, entities, queues, verification, transparency, operations):
        app.include_router(module.router, responses=SERVER_ERRORS)
    console.install(app, services)

    @app.exception_handler(RequestValidationError)
    async def not_taken(request: Request, error: RequestValidationError) -> Response:
        if console.is_console(request):
            return console.invalid_page(request, error)
        return await unprocessable(request, error)

    @app.exception_handler(DataError)
    async def unstorable_input(request: Request, error: DataError) -> Response:
        """The database refused a value from the request (e.g. a NUL character in a path)."""
        refused = invalid(("request",), "the request holds a value the store cannot hold")
        if console.is_console(request):
            return console.invalid_page(request, refused)
        return await unprocessable(request, refused)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, error: ClientDisconnect) -> Response:
        """The client left, or was cut off by a read deadline (`api.connection_limits`),
        before its request's body arrived: nothing was recorded, and no one is there to
        read an answer (a traceback in the log for each would help an attacker flood it)."""
        return Response(status_code=408)

    @app.exception_handler(PersistenceError)
    @app.exception_handler(LedgerBusy)
    async def store_failed(request: Request, error: Exception) -> Response:
        """Out of reach or busy: 503, nothing was acknowledged, Verifa delivers again later.
        Any other store failure is a fault that would fail every retry the same way: 500,
        with its traceback in the log for someone to fix it."""
        if answered_unavailable(error):
            log.warning("store unavailable, answered 503: %s: %s", type(error).__name__, error)
            if console.is_console(request):
                return console.unavailable_page(request)
            return JSONResponse(
                {"detail": "store unavailable, try again"},
                status_code=503,
                headers={"Retry-After": "1"},
            )
        route = getattr(request.scope.get("route"), "path", "")  # the template: no subject in it
        log.error("%s %s: the store failed: %s: %s", request.method, route,
                  type(error).__name__, error, exc_info=error)  # fmt: skip
        return console.fault_page(request) if console.is_console(request) else internal_error()

    @app.exception_handler(Exception)
    async def fault(request: Request, error: Exception) -> Response:
        """Any other fault, answered in the API's shape, or as the console's error page
        (Starlette then raises it on to the server, which logs it with its traceback)."""
        if console.is_console(request):
            return console.fault_page(request)
        return internal_error()

    return app


def app_from_environment() -> FastAPI:
    """The app as each `ledger serve` worker runs it: everything from the environment."""
    settings = Settings()
    services = Services.open(settings, load_credentials(settings, generate=False))
    sys.setswitchinterval(SWITCH_INTERVAL)
    return create_app(services)
