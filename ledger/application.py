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
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.utils import get_topic

from domain.aggregates import STREAM_CLASSES, LedgerStream
from domain.entries import LedgerEntry
from domain.routing import route
from ledger import reads
from ledger.dialect import SQLITE
from ledger.history import AsOf, History
from ledger.index import IndexedSQLiteRecorder, IndexEntry
from ledger.quarantine import Quarantine
from ledger.views import Doc

# Optimistic-concurrency conflicts (two writers on one stream) are retried this often.
MAX_APPEND_ATTEMPTS = 20


class LedgerBusy(Exception):
    """Appends kept conflicting; the delivery was not recorded and should be retried."""


@dataclass(frozen=True)
class Delivery:
    """An authentic, readable delivery: the body as Verifa sent it, and what it says."""

    body: str
    payload: dict[str, Any]
    idempotency_key: str
    webhook_id: str | None = None

    @property
    def event_type(self) -> str:
        return str(self.payload["event"])


@dataclass(frozen=True)
class Recorded:
    position: int
    status: ClassVar[str] = "recorded"


@dataclass(frozen=True)
class Duplicate:
    """Already recorded under this idempotency key, at `position`; nothing new was stored."""

    position: int
    status: ClassVar[str] = "duplicate"


class Ledger(Application[UUID]):
    """Verifa deliveries in, immutable ledger events out; reads as of any prefix."""

    name = "ledger"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(
            {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "APPLICATION_RECORDER_TOPIC": get_topic(IndexedSQLiteRecorder),
                # Appends load their stream from the cache, fast-forwarded from the store.
                "AGGREGATE_CACHE_MAXSIZE": "10000",
                **(env or {}),
            }
        )
        self.datastore: SQLiteDatastore = self.recorder.datastore  # type: ignore[attr-defined]
        self.history = History(self.datastore, SQLITE, self.mapper, self.repository)
        self.quarantine = Quarantine(self.datastore, SQLITE)
        self.quarantine.create_table()
        self._append_lock = threading.Lock()

    @classmethod
    def at(cls, sqlite_path: str | Path) -> Ledger:
        """The ledger stored in one SQLite file (created if missing)."""
        return cls({"SQLITE_DBNAME": str(sqlite_path), "SQLITE_LOCK_TIMEOUT": "30"})

    def record(self, delivery: Delivery) -> Recorded | Duplicate:
        """Append one readable delivery, exactly once per idempotency key.

        The index's unique key decides duplicates inside the append's own
        transaction, so concurrent retries of one delivery record one event.
        """
        stream = route(delivery.payload)
        entry = IndexEntry(
            delivery.idempotency_key,
            delivery.event_type,
            stream,
            delivery.payload,
            delivery.webhook_id,
        )
        stream_class = STREAM_CLASSES[stream.type]
        for _ in range(MAX_APPEND_ATTEMPTS):
            existing = self.history.position_of(delivery.idempotency_key)
            if existing is not None:
                return Duplicate(existing)
            with self._append_lock:
                aggregate = self._load(stream_class, stream.id)
                facts = {
                    "event_type": delivery.event_type,
                    "idempotency_key": delivery.idempotency_key,
                    "body": delivery.body,
                }
                if aggregate is None:
                    aggregate = stream_class(key=stream.key, **facts)
                else:
                    aggregate.record(**facts)
                try:
                    recordings = self.save(aggregate, index_entries=[entry])
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

    def timeline(
        self, subject: str, as_of: AsOf, *, after: int = 0, limit: int | None = None
    ) -> list[LedgerEntry] | None:
        """The subject's history after a position, ascending; None if unknown at `as_of`."""
        if not self.history.subject_is_known(subject, as_of):
            return None
        return self.history.subject_history(subject, as_of, after=after, limit=limit)

    def subject_status(self, subject: str, as_of: AsOf) -> Doc | None:
        return reads.subject_status(self.history, subject, as_of)
