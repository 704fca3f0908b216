"""Where a read stands: the prefix of the ledger a position or an instant names (DESIGN §2).

An instant selects the prefix up to the last entry recorded at or before it; a
position past the head means the head. Also where each idempotency key was
recorded: how a delivery is known to be a duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from application.storage.unit_of_work import UnitOfWork
from domain.entries import MAX_POSITION, AsOf


class Positions:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def head(self) -> AsOf:
        return self._prefix("")

    def as_of(self, point: int | datetime | None) -> AsOf:
        """The prefix a read names: a position, an instant, or the head when None."""
        if isinstance(point, datetime):
            return self.as_of_instant(point)
        return self.as_of_position(point)

    def as_of_position(self, position: int | None) -> AsOf:
        """The prefix up to `position` (the head when None or past it)."""
        if position is None:
            return self._prefix("")
        return self._prefix("WHERE position<=?", min(position, MAX_POSITION))

    def as_of_instant(self, instant: datetime) -> AsOf:
        """The prefix up to the last entry recorded at or before `instant`."""
        try:
            stamp = instant.astimezone(UTC).isoformat(timespec="microseconds")
        except OverflowError:  # the edges of the calendar: before or after everything
            return AsOf(0, None) if instant.year == datetime.min.year else self.head()
        return self._prefix("WHERE recorded_at<=?", stamp)

    def _prefix(self, where: str, *params: Any) -> AsOf:
        rows = self.uow.rows(
            f"SELECT position, recorded_at FROM ledger_entries {where}"
            " ORDER BY position DESC LIMIT 1",
            *params,
        )
        return AsOf(rows[0]["position"], rows[0]["recorded_at"]) if rows else AsOf(0, None)

    def of_keys(self, idempotency_keys: Sequence[str]) -> dict[str, int]:
        """The positions of those idempotency keys already recorded."""
        if not idempotency_keys:
            return {}
        marks = ",".join("?" * len(idempotency_keys))
        rows = self.uow.rows(f"SELECT idempotency_key, position FROM ledger_entries"
                             f" WHERE idempotency_key IN ({marks})", *idempotency_keys)  # fmt: skip
        return {row["idempotency_key"]: int(row["position"]) for row in rows}
