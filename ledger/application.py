"""The ledger application: appends deliveries to their streams and answers as-of reads.

A thin facade over the `eventsourcing` Application: the domain decides which
stream a delivery belongs to and what it means; the event store and its index
make the append atomic, ordered and deduplicated.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.utils import get_topic

from domain.aggregates import STREAM_CLASSES, LedgerStream
from domain.routing import route
from ledger import reads
from ledger.history import AsOf, History
from ledger.index import Delivery, IndexedSQLiteRecorder
from ledger.quarantine import Quarantine
from ledger.views import Doc

# Optimistic-concurrency conflicts (two writers on one stream) are retried this often.
MAX_APPEND_ATTEMPTS = 20


class LedgerBusy(Exception):
    """Appends kept conflicting; the delivery was not recorded and should be retried."""


@dataclass(frozen=True)
class Recorded:
    position: int


@dataclass(frozen=True)
class Duplicate:
    position: int


class Ledger(Application[UUID]):
    """Verifa deliveries in, immutable ledger events out; reads as of any prefix."""

    name = "ledger"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(
            {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "APPLICATION_RECORDER_TOPIC": get_topic(IndexedSQLiteRecorder),
                **(env or {}),
            }
        )
        self.datastore: SQLiteDatastore = self.recorder.datastore  # type: ignore[attr-defined]
        self.history = History(self.datastore, self.mapper)
        self.quarantine = Quarantine(self.datastore)
        self._append_lock = threading.Lock()

    @classmethod
    def at(cls, sqlite_path: str | Path) -> Ledger:
        """The ledger stored in one SQLite file (created if missing)."""
        return cls({"SQLITE_DBNAME": str(sqlite_path), "SQLITE_LOCK_TIMEOUT": "30"})

    def record(
        self, payload: dict[str, Any], idempotency_key: str, webhook_id: str | None = None
    ) -> Recorded | Duplicate:
        """Append one validated delivery, exactly once per idempotency key.

        The index's unique key decides duplicates inside the append's own
        transaction, so concurrent retries of one delivery record one event.
        """
        stream = route(payload)
        delivery = Delivery(idempotency_key, payload["event"], stream, payload, webhook_id)
        stream_class = STREAM_CLASSES[stream.type]
        for _ in range(MAX_APPEND_ATTEMPTS):
            existing = self.history.position_of(idempotency_key)
            if existing is not None:
                return Duplicate(existing)
            with self._append_lock:
                aggregate = self._load(stream_class, stream.id)
                if aggregate is None:
                    aggregate = stream_class(
                        key=stream.key,
                        event_type=delivery.event_type,
                        idempotency_key=idempotency_key,
                        payload=payload,
                    )
                else:
                    aggregate.record(
                        event_type=delivery.event_type,
                        idempotency_key=idempotency_key,
                        payload=payload,
                    )
                try:
                    recordings = self.save(aggregate, deliveries=[delivery])
                except IntegrityError:
                    continue  # a duplicate or a concurrent append to the stream: look again
            return Recorded(recordings[0].notification.id)
        msg = f"could not append to stream {stream.type}/{stream.key}: too much contention"
        raise LedgerBusy(msg)

    def _load(self, stream_class: type[LedgerStream], stream_id: UUID) -> LedgerStream | None:
        try:
            aggregate: LedgerStream = self.repository.get(stream_id)
        except AggregateNotFoundError:
            return None
        assert isinstance(aggregate, stream_class)
        return aggregate

    # Reads as of a prefix of the ledger.

    def as_of(self, point: int | datetime | None = None) -> AsOf:
        """The prefix a read names: a position, an instant, or the head when None."""
        if isinstance(point, datetime):
            return self.history.as_of_instant(point)
        return self.history.as_of_position(point)

    def subject_status(self, subject: str, as_of: AsOf) -> Doc | None:
        return reads.subject_status(self.history, subject, as_of)

    def entity(self, kind: str, key: str, as_of: AsOf) -> Doc | None:
        return reads.ENTITY_READS[kind](self.history, key, as_of)
