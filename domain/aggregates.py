"""The ledger's consistency units, built on the `eventsourcing` library's `Aggregate`.

Each accepted delivery is one event of exactly one aggregate: the applicant it
concerns, or the check, case or document it is about. The aggregate's id is
derived from the provider's key, so concurrent deliveries for the same key meet
on the same stream and optimistic concurrency orders them. Every event carries
the delivery's body exactly as Verifa sent it (JSON text, never re-encoded, so no
key in it can be mistaken for library metadata), except for a delivery with
personal data: its body then has those values replaced, and the body as sent is
`sealed` (encrypted) under the data key of its `scope` (see `personal_data`).
The aggregate's state is the domain rules applied to the body, which never need
personal data.

Stored events are named by explicit topics, so this code can be renamed or moved
without making the immutable ledger unreadable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain.cases import ReviewCase
from domain.documents import DocumentRecord
from domain.entries import StreamKey, text_field
from domain.screening import Screening
from domain.sessions import Session, is_session_event


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
        body: str
        sealed: str | None
        scope: str | None

    class Recorded(Aggregate.Event):
        """One more delivery: every authentic delivery is kept, whatever it changes."""

        event_type: str
        idempotency_key: str
        body: str
        sealed: str | None
        scope: str | None

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, LedgerStream)
            aggregate.deliver(self.event_type, self.body)

    def __init__(
        self,
        key: str,
        event_type: str,
        idempotency_key: str,
        body: str,
        sealed: str | None = None,
        scope: str | None = None,
    ) -> None:
        self.key = key
        self.deliveries = 0
        self.start()
        self.deliver(event_type, body)

    def record(
        self,
        event_type: str,
        idempotency_key: str,
        body: str,
        sealed: str | None = None,
        scope: str | None = None,
    ) -> None:
        self.trigger_event(
            self.Recorded,
            event_type=event_type,
            idempotency_key=idempotency_key,
            body=body,
            sealed=sealed,
            scope=scope,
        )

    def deliver(self, event_type: str, body: str) -> None:
        self.deliveries += 1
        self.apply_rules(event_type, json.loads(body))

    def start(self) -> None:
        """Set up the state of a new stream."""

    def apply_rules(self, event_type: str, payload: dict[str, Any]) -> None:
        """Apply the domain rules of this kind of stream to one delivery."""


class Applicant(LedgerStream, created_event_name="Opened"):
    """A person being verified: their sessions and the identities Verifa linked to them."""

    TOPIC = "verifa-ledger:Applicant"
    stream_type = "applicant"

    class Created(LedgerStream.Created):
        TOPIC = "verifa-ledger:Applicant.Created"

    class Opened(LedgerStream.Opened):
        TOPIC = "verifa-ledger:Applicant.Opened"

    class Recorded(LedgerStream.Recorded):
        TOPIC = "verifa-ledger:Applicant.Recorded"

    def start(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.identity_id: str | None = None

    def apply_rules(self, event_type: str, payload: dict[str, Any]) -> None:
        session_id = text_field(payload, "session_id")
        if is_session_event(event_type) and session_id:
            self.sessions.setdefault(session_id, Session(session_id)).apply(event_type, payload)
        self.identity_id = text_field(payload, "identity_id") or self.identity_id


class Check(LedgerStream, created_event_name="Opened"):
    """An AML, PEP, sanctions or risk screening check, with its monitoring runs."""

    TOPIC = "verifa-ledger:Check"
    stream_type = "check"

    class Created(LedgerStream.Created):
        TOPIC = "verifa-ledger:Check.Created"

    class Opened(LedgerStream.Opened):
        TOPIC = "verifa-ledger:Check.Opened"

    class Recorded(LedgerStream.Recorded):
        TOPIC = "verifa-ledger:Check.Recorded"

    def start(self) -> None:
        self.screening: Screening | None = None  # until a result or a monitoring run

    def apply_rules(self, event_type: str, payload: dict[str, Any]) -> None:
        self.screening = Screening.fold(self.key, self.screening, event_type, payload)


class Case(LedgerStream, created_event_name="Opened"):
    """A manual review case."""

    TOPIC = "verifa-ledger:Case"
    stream_type = "case"

    class Created(LedgerStream.Created):
        TOPIC = "verifa-ledger:Case.Created"

    class Opened(LedgerStream.Opened):
        TOPIC = "verifa-ledger:Case.Opened"

    class Recorded(LedgerStream.Recorded):
        TOPIC = "verifa-ledger:Case.Recorded"

    def start(self) -> None:
        self.review: ReviewCase | None = None  # until a stage or a decision

    def apply_rules(self, event_type: str, payload: dict[str, Any]) -> None:
        self.review = ReviewCase.fold(self.key, self.review, event_type, payload)


class Document(LedgerStream, created_event_name="Opened"):
    """A document Verifa processed."""

    TOPIC = "verifa-ledger:Document"
    stream_type = "document"

    class Created(LedgerStream.Created):
        TOPIC = "verifa-ledger:Document.Created"

    class Opened(LedgerStream.Opened):
        TOPIC = "verifa-ledger:Document.Opened"

    class Recorded(LedgerStream.Recorded):
        TOPIC = "verifa-ledger:Document.Recorded"

    def start(self) -> None:
        self.details: DocumentRecord | None = None  # until a known document event

    def apply_rules(self, event_type: str, payload: dict[str, Any]) -> None:
        self.details = DocumentRecord.fold(self.key, self.details, event_type, payload)


class Unrouted(LedgerStream, created_event_name="Opened"):
    """Deliveries of unknown types that carry no id to route them by: kept, never dropped."""

    TOPIC = "verifa-ledger:Unrouted"
    stream_type = "unrouted"

    class Created(LedgerStream.Created):
        TOPIC = "verifa-ledger:Unrouted.Created"

    class Opened(LedgerStream.Opened):
        TOPIC = "verifa-ledger:Unrouted.Opened"

    class Recorded(LedgerStream.Recorded):
        TOPIC = "verifa-ledger:Unrouted.Recorded"


class QuarantineRecord(LedgerStream, created_event_name="Opened"):
    """The ledger's record that it held a delivery in quarantine (`ledger.quarantined`): what
    makes a quarantined delivery a leaf of the transparency log, its body still sealed."""

    TOPIC = "verifa-ledger:QuarantineRecord"
    stream_type = "quarantine"

    class Created(LedgerStream.Created):
        TOPIC = "verifa-ledger:QuarantineRecord.Created"

    class Opened(LedgerStream.Opened):
        TOPIC = "verifa-ledger:QuarantineRecord.Opened"

    class Recorded(LedgerStream.Recorded):
        TOPIC = "verifa-ledger:QuarantineRecord.Recorded"


STREAM_CLASSES: dict[str, type[LedgerStream]] = {
    cls.stream_type: cls for cls in (Applicant, Check, Case, Document, Unrouted, QuarantineRecord)
}

# The topics of the stored events that each carry one delivery (its body, sealed body, scope).
DELIVERY_TOPICS = frozenset(
    get_topic(event) for cls in STREAM_CLASSES.values() for event in (cls.Opened, cls.Recorded)
)


def replay(aggregate: Any, events: Iterable[Any]) -> Any:
    """A stream's stored events applied in order: the library's `project_aggregate`, less its
    per-event type check (every event of a `LedgerStream` is the library's own kind)."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate
