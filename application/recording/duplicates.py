"""A delivery under a recorded idempotency key: a retry, or a different body (DESIGN §4).

Verifa retries a delivery with the same body; the ledger answers `duplicate` and
stores nothing new. A *different* body under a recorded key is answered
`duplicate` too (so that Verifa stops retrying), but it is never dropped: the
ledger keeps it in quarantine, `conflicting duplicate of position N`, for
someone to look at. Bodies are compared as JSON values, not bytes, and where the
recorded body's personal data is erased, without personal data.
"""

from __future__ import annotations

from application.privacy.sealing import Sealer
from application.recording.delivery import Delivery
from domain.entries import LedgerEntry
from domain.personal_data import ERASED, hide_personal_data


def conflicts_with_recorded(sealer: Sealer, delivery: Delivery, recorded: LedgerEntry) -> bool:
    """Whether the delivery says something other than the entry recorded under its key. (The
    entry is read first, in a unit of work of its own: disclosing it reads the keys in
    another, and one thread never holds two connections.)"""
    [recorded] = sealer.disclose([recorded])
    if recorded.payload == delivery.payload:
        return False
    if recorded.scope and recorded.payload == hide_personal_data(recorded.payload, ERASED):
        return hide_personal_data(recorded.payload) != hide_personal_data(delivery.payload)
    return True


def conflict_reason(position: int) -> str:
    return f"conflicting duplicate of position {position}"
