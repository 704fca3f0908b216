"""FastAPI dependencies: the services, bearer-token roles, and the `as_of` parameter.

They only compute, never wait, so they are `async`: FastAPI then runs them in its
event loop, not each in a thread of its own.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator, WithJsonSchema

from application.reading.as_of import parse_point
from bootstrap.credentials import ROLES
from bootstrap.services import Services

_bearer = HTTPBearer(auto_error=False)


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


@dataclass(frozen=True)
class Reader:
    """Who is asking: a role, and for the access log a name that is not the token itself."""

    role: str
    who: str


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def role_of(services: Services, token: str) -> str | None:
    """The role of a token, comparing against every known token in constant time."""
    found = None
    for known, role in services.credentials.api_tokens.items():
        if hmac.compare_digest(known.encode(), token.encode()):
            found = role
    return found


def require(role: str) -> Callable[..., Awaitable[Reader]]:
    """A dependency that lets through tokens whose role includes `role` (roles are cumulative)."""

    async def check(
        services: ServicesDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Reader:
        granted = role_of(services, credentials.credentials) if credentials else None
        if granted is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or unknown bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if ROLES.index(granted) < ROLES.index(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {role} role")
        assert credentials is not None
        return Reader(granted, f"{granted}:{fingerprint(credentials.credentials)}")

    return check


Auditor = Annotated[Reader, Depends(require("auditor"))]
Admin = Annotated[Reader, Depends(require("admin"))]

AS_OF_HELP = (
    "A ledger position (integer) or an ISO-8601 instant with offset; "
    "the answer reflects the ledger as it was then."
)


def _point(text: Any) -> int | datetime:
    """`as_of` as the query string gives it; a malformed one is the caller's error (422)."""
    point = parse_point(text)
    assert point is not None  # a query value is a string
    return point


# What OpenAPI says `as_of` is, so that a client (or a fuzzer) knows which values are taken.
_AS_OF_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": "^[0-9]+$"},
        {"type": "string", "format": "date-time"},
    ]
}
Point = Annotated[int | datetime | None, BeforeValidator(_point), WithJsonSchema(_AS_OF_SCHEMA)]


async def as_of_point(
    as_of: Annotated[Point, Query(description=AS_OF_HELP)] = None,
) -> int | datetime | None:
    """The `as_of` query parameter: None for the head."""
    return as_of


AsOfPoint = Annotated[int | datetime | None, Depends(as_of_point)]


FROM_HELP = "The earlier point: " + AS_OF_HELP
TO_HELP = "The later point, the head if left out: " + AS_OF_HELP


async def compared_points(
    start: Annotated[Point, Query(alias="from", description=FROM_HELP)],
    end: Annotated[Point, Query(alias="to", description=TO_HELP)] = None,
) -> tuple[int | datetime, int | datetime | None]:
    """`from` and `to` of a comparison: `from` is required, `to` None for the head."""
    assert start is not None  # required: FastAPI answers 422 without it
    return start, end


ComparedPoints = Annotated[tuple[int | datetime, int | datetime | None], Depends(compared_points)]

# A reference or an id as a path or query names it: as long as any that Verifa sends, and
# without NUL, which no store holds in a name. Bounded so that no request makes the ledger
# search for (or repeat) a name of any length.
NAME_CHARS = 1024
NAME_PATTERN = r"^[^\x00]+$"
