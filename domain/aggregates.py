"""The ledger's consistency units, built on the `eventsourcing` library's `Aggregate`.

Each accepted delivery is one event of exactly one aggregate: the applicant it
concerns, or the check, case or document it is about. The aggregate's id is
derived from the provider's key, so concurrent deliveries for the same key meet
on the same stream and optimistic concurrency orders them. Every event carries
the delivery as Verifa sent it; the aggregate's state is the rules applied to it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.cases import ReviewCase
from domain.documents import DocumentRecord
from domain.entries import StreamKey
from domain.screening import Screening
from domain.sessions import Session


class LedgerStream(Aggregate):
    """A stream of recorded deliveries; subclasses say what the deliveries mean."""

    # Each subclass names its type. No class-level annotations here: the library
    # would turn them into constructor arguments.
    stream_type = "unrouted"

    @classmethod
    def create_id(cls, key: str) -> UUID:
        return StreamKey(cls.stream_type, key).id  # type: ignore[arg-type]

    class Opened(Aggregate.Created):
        """The first delivery of a stream: it opens the stream and is recorded like the rest."""

        key: str
        event_type: str
        idempotency_key: str
        payload: dict[str, Any]

    def __init__(
        self, key: str, event_type: str, idempotency_key: str, payload: dict[str, Any]
    ) -> None:
        self.key = key
        self.deliveries = 0
        self.start()
        self.deliver(event_type, payload)

    @event("Recorded")
    def record(self, event_type: str, idempotency_key: str, payload: dict[str, Any]) -> None:
        """Record one more delivery: every authentic delivery is kept, whatever it changes."""
        self.deliver(event_type, payload)

    def start(self) -> None:
        """Set up the state of a new stream."""

    def deliver(self, event_type: str, payload: dict[str, Any]) -> None:
        self.deliveries += 1
        self.apply_rules(event_type, payload)

    def apply_rules(self, event_type: str, payload: dict[str, Any]) -> None:
        """Apply the domain rules of this kind of stream to one delivery."""


class Applicant(LedgerStream):
    """A person being verified: their sessions and the identities Verifa linked to them."""

    stream_type = "applicant"

    def start(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.identity_id: str | None = None

    def apply_rules(self, event_type: str, payload: dict[str, Any]) -> None:
        session_id = payload.get("session_id")
        if event_type.startswith("session.") and isinstance(session_id, str) and session_id:
            self.sessions.setdefault(session_id, Session(session_id)).apply(event_type, payload)
        if isinstance(payload.get("identity_id"), str):
            self.identity_id = payload["identity_id"]


class Check(LedgerStream):
    """An AML, PEP, sanctions or risk screening check, with its monitoring runs."""

    stream_type = "check"

    def start(self) -> None:
        self.screening = Screening(self.key)

    def apply_rules(self, event_type: str, payload: dict[str, Any]) -> None:
        self.screening.apply(event_type, payload)


class Case(LedgerStream):
    """A manual review case."""

    stream_type = "case"

    def start(self) -> None:
        self.review = ReviewCase(self.key)

    def apply_rules(self, event_type: str, payload: dict[str, Any]) -> None:
        self.review.apply(event_type, payload)


class Document(LedgerStream):
    """A document Verifa processed."""

    stream_type = "document"

    def start(self) -> None:
        self.details = DocumentRecord(self.key)

    def apply_rules(self, event_type: str, payload: dict[str, Any]) -> None:
        self.details.apply(event_type, payload)


class Unrouted(LedgerStream):
    """Deliveries of unknown types that carry no id to route them by: kept, never dropped."""

    stream_type = "unrouted"


STREAM_CLASSES: dict[str, type[LedgerStream]] = {
    cls.stream_type: cls for cls in (Applicant, Check, Case, Document, Unrouted)
}
