"""What recording a delivery answers (DESIGN §4): where it went, never "dropped"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Recorded:
    """A new ledger event, at `position`."""

    position: int
    status: ClassVar[str] = "recorded"


@dataclass(frozen=True)
class Duplicate:
    """Already recorded under this idempotency key, at `position`; nothing new was stored."""

    position: int
    status: ClassVar[str] = "duplicate"


@dataclass(frozen=True)
class Quarantined:
    """Authentic but unreadable: held in quarantine under `id`, with the reasons."""

    id: str
    status: ClassVar[str] = "quarantined"


Outcome = Recorded | Duplicate | Quarantined


@dataclass(frozen=True)
class Unstorable:
    """The database refused the delivery for its own data; nothing of it was stored, and
    trying again could never store it. The ledger quarantines it with `reason`."""

    reason: str


class LedgerBusy(Exception):
    """Appends kept conflicting with other writers; the delivery was not recorded and should
    be delivered again (the API answers 503)."""


class NotAnswered(LedgerBusy):
    """The delivery's commit did not answer in time (the database hangs, or the committer
    stopped): it may be recorded or not, so it should be delivered again (503)."""
