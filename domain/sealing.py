"""How a delivery's personal data is kept (DESIGN §7): sealed under a data key, or erased.

Erasure is permanent. A delivery's personal data belongs to one scope (its
document's, else its session's, else its stream's: `protection_scope`), and is
erased with that scope or its own session; a document's, also with every
session that named the document, since a session's erasure covers its documents.
Personal data that arrives after such an erasure, for a document first seen later
too, is stored already erased, never sealed under a new key; so too when the
erasure came earlier in the same batch. Another session of the same applicant is
not erased with it. These are decisions on facts the ledger reads (the sessions
named, the scopes erased); no I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from domain.entries import StreamKey, text_field
from domain.personal_data import (
    ErasureRequest,
    erasure_requested,
    has_personal_data,
    protection_scope,
)
from domain.routing import named_subject, route


@dataclass(frozen=True)
class Sealing:
    """Where one delivery's personal data is sealed, and which erasures erase it."""

    scope: str  # the data key it is sealed under
    erased_with: frozenset[str]  # the scopes whose erasure erases it, its own included

    def is_erased(self, erased_scopes: Set[str]) -> bool:
        return not self.erased_with.isdisjoint(erased_scopes)


def sealing_of(
    stream: StreamKey, payload: Mapping[str, Any], sessions_named: Iterable[str]
) -> Sealing | None:
    """How a delivery to `stream` is sealed, given the sessions its stream has named so far;
    None when it carries no personal data (it is stored exactly as sent)."""
    if not has_personal_data(payload):
        return None
    scope = protection_scope(stream, payload)
    named = list(sessions_named) if stream.type == "document" else []
    sessions = {f"session:{s}" for s in [*named, text_field(payload, "session_id")] if s}
    return Sealing(scope, frozenset({scope, *sessions}))


def erasures_covering(payload: Mapping[str, Any]) -> frozenset[str]:
    """The scopes whose erasure covers a quarantined delivery that says this: its session's,
    its document's, its stream's and its subject's. Its personal data cannot be told apart
    from the rest of it, so all of it goes with any of them."""
    streams = {route(payload)}
    subject = named_subject(payload)
    if subject:
        streams.add(StreamKey("applicant", subject))
    session_id, document_id = text_field(payload, "session_id"), text_field(payload, "document_id")
    return frozenset({*(f"stream:{stream.id.hex}" for stream in streams),
                      *([f"session:{session_id}"] if session_id else []),
                      *([f"document:{document_id}"] if document_id else [])})  # fmt: skip


def scopes_named(request: ErasureRequest) -> frozenset[str]:
    """The scopes an erasure request names itself: its sessions' and its documents'. (Those
    of a subject, and of a session's documents, are found through the links.)"""
    return frozenset({*(f"session:{s}" for s in request.sessions),
                      *(f"document:{d}" for d in request.documents)})  # fmt: skip


class Arriving(Protocol):
    """A delivery of a batch, as sealing sees it."""

    @property
    def stream(self) -> StreamKey: ...
    @property
    def event_type(self) -> str: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class BatchSealing:
    """A delivery's sealing (None: no personal data), and the scopes that deliveries before
    it in its batch erase: its personal data is erased if either erases it."""

    sealing: Sealing | None
    erased_earlier: frozenset[str]


def sealings_in_order(
    batch: Sequence[Arriving], named_before: Mapping[UUID, Sequence[str]]
) -> list[BatchSealing]:
    """Each delivery's sealing, in arrival order, given the sessions each stream had named
    before the batch: the sessions that deliveries earlier in the batch name, and the scopes
    their erasures name, count for those after them."""
    named: dict[UUID, list[str]] = {stream: list(s) for stream, s in named_before.items()}
    erased: frozenset[str] = frozenset()
    decided = []
    for delivery in batch:
        stream, payload = delivery.stream, delivery.payload
        decided.append(BatchSealing(sealing_of(stream, payload, named.get(stream.id, [])), erased))
        request = erasure_requested(delivery.event_type, payload)
        if request:
            erased |= scopes_named(request)
        session_id = text_field(payload, "session_id")
        if session_id:
            named.setdefault(stream.id, []).append(session_id)
    return decided
