"""`as_of` as users write it (DESIGN §6): a position, or an ISO-8601 instant with an offset."""

from __future__ import annotations

import re
from datetime import datetime

from domain.entries import MAX_POSITION

_POSITION = re.compile(r"[0-9]+")
_POSITION_DIGITS = len(str(MAX_POSITION))


def parse_point(text: str | None) -> int | datetime | None:
    """The point a read names; None for the head. Anything else is a `ValueError`.

    A position past the last there can be means the head, however many digits it has.
    """
    if text is None:
        return None
    if _POSITION.fullmatch(text):
        digits = text.lstrip("0") or "0"
        return MAX_POSITION if len(digits) > _POSITION_DIGITS else min(int(digits), MAX_POSITION)
    try:
        # RFC 3339 allows a lower-case `t` and `z`, which Python's parser does not.
        instant = datetime.fromisoformat(text.upper())
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        msg = "as_of must be a position (integer) or an ISO-8601 instant with offset"
        raise ValueError(msg)
    return instant
