"""Errors as the API answers and documents them: one JSON shape per kind.

A request the API cannot take (422) is answered as FastAPI answers a validation error,
`{"detail": [{"loc", "msg", "type"}]}`, whether FastAPI or a route found the fault; every
other error is `{"detail": "why"}` (`Message`). What a caller sent is echoed shortened.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from application.recording.outcomes import LedgerBusy
from application.storage.availability import out_of_reach

Responses = dict[int | str, dict[str, Any]]  # error answers as a route documents them

# How much of a value a caller sent an error message repeats: enough to recognise it.
ECHO_CHARS = 64


class Message(BaseModel):
    """Why the request was not answered (every error but 422)."""

    detail: str


def answered_unavailable(error: BaseException) -> bool:
    """Whether the API answers `error` 503, try again: the store was out of reach or busy.
    Any other failure is a fault of the ledger's own, answered 500."""
    return isinstance(error, LedgerBusy) or out_of_reach(error)


def shown(value: str) -> str:
    """`value` as an error message quotes it: at most `ECHO_CHARS` characters of it."""
    if len(value) <= ECHO_CHARS:
        return repr(value)
    return f"{value[:ECHO_CHARS]!r}… ({len(value)} characters)"


def invalid(where: tuple[str, ...], message: str, value: Any = None) -> RequestValidationError:
    """A request the API cannot take, found by a route rather than by FastAPI: same shape."""
    return RequestValidationError(
        [{"type": "value_error", "loc": where, "msg": message, "input": value}]
    )


async def unprocessable(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's answer to a validation error, with long inputs shortened."""
    assert isinstance(error, RequestValidationError)
    details = [
        {**detail, "input": _shortened(detail["input"])} if "input" in detail else detail
        for detail in error.errors()
    ]
    return JSONResponse({"detail": jsonable_encoder(details)}, status_code=422)


def _shortened(value: Any) -> Any:
    if isinstance(value, str) and len(value) > ECHO_CHARS:
        return value[:ECHO_CHARS] + "…"
    return value


def _documented(description: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An error answer as OpenAPI documents it: the `Message` shape, and headers it always has."""
    answer: dict[str, Any] = {"model": Message, "description": description}
    if headers:
        answer["headers"] = {
            name: {"description": text, "required": True, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return answer


UNAUTHENTICATED: Responses = {
    401: _documented(
        "No bearer token, or one the ledger does not know.", {"WWW-Authenticate": "`Bearer`"}
    )
}
FORBIDDEN: Responses = {403: _documented("The token's role is not enough for this route.")}
NOT_FOUND: Responses = {404: _documented("Nothing of that name is visible as of the point read.")}
SERVER_ERRORS: Responses = {
    500: _documented("A fault of the ledger's own, logged with its traceback: not worth retrying."),
    503: _documented(
        "The store is out of reach or busy (or a read model has no build yet): try again.",
        {"Retry-After": "seconds to wait before trying again"},
    ),
}
