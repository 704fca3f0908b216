"""Points and addresses as the console's pages name them: shareable URLs that hold the
subject and the points, and points typed on a page (a position, or a date and time)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote, urlencode

from application.reading.as_of import parse_point


class BadPoint(ValueError):
    """A point on a page's form or in its URL that names no position or instant."""


def read_point(text: str | None, what: str) -> int | datetime | None:
    if not text:
        return None
    try:
        return parse_point(text.strip())
    except ValueError:
        raise BadPoint(f"{what} is neither a position nor a date and time with its offset"
                       f" (as 2026-03-01T09:30:00+00:00): {text[:64]!r}") from None  # fmt: skip


def subject_url(ref: str, **query: str | int | None) -> str:
    shown = {k: v for k, v in query.items() if v not in (None, "")}
    return f"/console/subjects/{quote(ref, safe='')}" + (f"?{urlencode(shown)}" if shown else "")
