"""`as_of` as users write it (DESIGN §6): a position, or an ISO-8601 instant with an offset."""

from __future__ import annotations

import re
from datetime import datetime

_POSITION = re.compile(r"[0-9]+")


def parse_point(text: str | None) -> int | datetime | None:
    """The point a read names; None for the head. Anything else is a `ValueError`."""
    if text is None:
        return None
    if _POSITION.fullmatch(text):
        return int(text)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        msg = "as_of must be a position (integer) or an ISO-8601 instant with offset"
        raise ValueError(msg)
    return instant
