"""The time the ledger writes down: UTC, to the microsecond, as ISO-8601 text that sorts."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
