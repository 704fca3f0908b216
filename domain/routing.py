"""Which stream a delivery belongs to, and which subject links it reveals (DESIGN §5.1).

Routing depends on the payload alone, so a replay routes exactly as the original
ingestion did. Links depend on what the ledger learned before, so they are
learned through a `LinkBook`, the ledger's memory of ties, in position order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol
from uuid import UUID

from domain.entries import StreamKey, text_field

__all__ = [
    "LinkBook",
    "LinkRules",
    "is_anonymous",
    "learn_links",
    "named_subject",
    "route",
    "subject_of_ref",
]

# The id field of each family's own aggregate.
_FAMILY_STREAMS: dict[str, tuple[str, str]] = {
    "check": ("check", "check_id"),
    "case": ("case", "case_id"),
    "document": ("document", "document_id"),
}


# The keys of applicants that named no `external_ref`: anonymous subjects (`session:<id>`).
ANONYMOUS_PREFIXES = ("session:", "identity:")
ESCAPED_PREFIX = "external_ref:"
_OWN_EVENTS = "ledger."  # the ledger's own requests name a subject by its key


def subject_of_ref(ref: str) -> str:
    """The subject an `external_ref` names: the reference itself, unless it reads like a key
    the ledger generates (or one it escaped); that one is `external_ref:<ref>`, so that a
    real reference and a generated key never name the same subject."""
    if ref.startswith((*ANONYMOUS_PREFIXES, ESCAPED_PREFIX)):
        return ESCAPED_PREFIX + ref
    return ref


def is_anonymous(subject: str) -> bool:
    """Whether a subject key is a generated one: an applicant known by a session or identity."""
    return subject.startswith(ANONYMOUS_PREFIXES)


def named_subject(payload: Mapping[str, Any]) -> str | None:
    """The subject a payload names through its `external_ref`, if it names one."""
    ref = text_field(payload, "external_ref")
    if ref is None:
        return None
    event = payload.get("event")
    own = isinstance(event, str) and event.startswith(_OWN_EVENTS)
    return ref if own else subject_of_ref(ref)


def _applicant_key(payload: Mapping[str, Any], id_field: str) -> str | None:
    """The subject of `external_ref`, else `session:<id>` / `identity:<id>` for deliveries
    without one."""
    ref = named_subject(payload)
    if ref:
        return ref
    other = text_field(payload, id_field)
    prefix = id_field.removesuffix("_id")
    return f"{prefix}:{other}" if other else None


# The ledger's own record of a delivery it held in quarantine: a stream of its own each.
QUARANTINED = "ledger.quarantined"


def route(payload: Mapping[str, Any]) -> StreamKey:
    """The stream of a delivery: its family's aggregate, else the first id it carries."""
    event = payload.get("event")
    if event == QUARANTINED and (held := text_field(payload, "quarantine_id")):
        return StreamKey("quarantine", held)
    family = event.split(".", 1)[0] if isinstance(event, str) else ""
    if family in ("session", "identity"):
        key = _applicant_key(payload, f"{family}_id")
        if key:
            return StreamKey("applicant", key)
    if family in _FAMILY_STREAMS:
        stream_type, id_field = _FAMILY_STREAMS[family]
        key = text_field(payload, id_field)
        if key:
            return StreamKey(stream_type, key)  # type: ignore[arg-type]
    ref = named_subject(payload)
    if ref:
        return StreamKey("applicant", ref)
    session_id = text_field(payload, "session_id")
    if session_id:
        return StreamKey("applicant", f"session:{session_id}")
    for stream_type, id_field in _FAMILY_STREAMS.values():
        key = text_field(payload, id_field)
        if key:
            return StreamKey(stream_type, key)  # type: ignore[arg-type]
    identity_id = text_field(payload, "identity_id")
    if identity_id:
        return StreamKey("applicant", f"identity:{identity_id}")
    return StreamKey("unrouted", "unrouted")


class LinkBook(Protocol):
    """The ledger's memory of links; each write is kept only if it is the first of its kind."""

    def subject_of_stream(self, stream: UUID) -> str | None: ...
    def subject_of_session(self, session_id: str) -> str | None: ...
    def streams_mentioning(self, session_id: str) -> Iterable[UUID]: ...
    def link_stream(self, stream: UUID, subject: str) -> None: ...
    def tie_session(self, session_id: str, subject: str) -> None: ...
    def note_mention(self, stream: UUID, session_id: str) -> None: ...
    def note_identity(self, identity_id: str, subject: str) -> None: ...


# How a delivery's links are learned; the `subject_links` projection's version names a set of rules.
LinkRules = Callable[[LinkBook, StreamKey, Mapping[str, Any]], None]


def learn_links(book: LinkBook, stream: StreamKey, payload: Mapping[str, Any]) -> None:
    """Record the links one delivery reveals.

    - A payload's own `external_ref` links its stream to that subject (`subject_of_ref`).
    - A payload with both `session_id` and `external_ref` ties the session to that
      subject (the first tie counts), which links every stream that mentioned
      the session and had no subject yet, earlier events included.
    - A payload with only `session_id` links its stream through the session's tie.
    - `identity_id` is an attribute, noted per subject to spot shared identities.
    A stream belongs to one subject: the first link it gets.
    """
    ref = named_subject(payload)
    session_id = text_field(payload, "session_id")
    identity_id = text_field(payload, "identity_id")
    if session_id:
        book.note_mention(stream.id, session_id)
    if ref and is_anonymous(ref):  # the ledger's own request about an anonymous applicant
        return
    if ref:
        _link(book, stream.id, ref)
        if session_id and book.subject_of_session(session_id) is None:
            book.tie_session(session_id, ref)
            for other in book.streams_mentioning(session_id):
                _link(book, other, ref)
        if identity_id:
            book.note_identity(identity_id, ref)
    elif session_id:
        tied = book.subject_of_session(session_id)
        if tied:
            _link(book, stream.id, tied)


def _link(book: LinkBook, stream: UUID, subject: str) -> None:
    if book.subject_of_stream(stream) is None:
        book.link_stream(stream, subject)
