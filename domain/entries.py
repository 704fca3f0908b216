"""What the ledger holds: one immutable entry per accepted delivery, in a named stream."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal
from uuid import NAMESPACE_URL, UUID, uuid5


def text_field(payload: Mapping[str, Any], name: str) -> str | None:
    """A payload field when it is a non-empty string, else None (payloads may be partial)."""
    value = payload.get(name)
    return value if isinstance(value, str) and value else None


StreamType = Literal["applicant", "check", "case", "document", "unrouted", "quarantine"]


@dataclass(frozen=True)
class StreamKey:
    """The consistency unit a delivery belongs to: an aggregate type and its provider key."""

    type: StreamType
    key: str

    @property
    def id(self) -> UUID:
        """Deterministic, so every process finds the same stream for the same key."""
        return _stream_id(self.type, self.key)


# Streams recur: each is looked up at every one of its entries. Small, so that memory stays flat
# however many streams a rebuild or a verification passes through.
@lru_cache(maxsize=4096)
def _stream_id(type: str, key: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"/{type}/{key}")


@dataclass(frozen=True)
class LedgerEntry:
    """One recorded delivery as auditors see it: where it sits in the ledger and what it said."""

    position: int
    recorded_at: str
    event_type: str
    idempotency_key: str
    stream: StreamKey
    payload: dict[str, Any]  # personal values hidden when they are sealed (see `personal_data`)
    sealed: bytes | None = None  # the body as sent, encrypted under the scope's data key
    scope: str | None = None

    def text(self, name: str) -> str | None:
        return text_field(self.payload, name)


# Positions are 64-bit integers in both stores; anything larger means "past the head".
MAX_POSITION = 2**63 - 1


@dataclass(frozen=True)
class AsOf:
    """A prefix of the ledger (DESIGN §2 "as of"): every entry up to `position`, and the last
    one's `recorded_at` (None for the empty prefix, or when not read)."""

    position: int
    recorded_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "recorded_at": self.recorded_at}
