"""The ledger application: appends deliveries to their streams and answers as-of reads.

A thin facade over the `eventsourcing` Application: the domain decides which
stream a delivery belongs to and what it means; the event store and its index
make the append atomic, ordered and deduplicated.
"""

from __future__ import annotations

import base64
import fcntl
import itertools
import json
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import Environment, EnvType

from domain.aggregates import STREAM_CLASSES, LedgerStream
from domain.entries import LedgerEntry, StreamKey
from domain.personal_data import (
    ERASED,
    SEALED,
    erasure_requested,
    has_personal_data,
    hide_personal_data,
    protection_scope,
)
from domain.routing import LinkRules, learn_links, route
from ledger import reads
from ledger.access_log import AccessLog
from ledger.chain import Chain
from ledger.dialect import POSTGRES, SQLITE
from ledger.history import AsOf, History
from ledger.index import IndexedPostgresRecorder, IndexEntry
from ledger.keyring import Keyring, seal, unseal
from ledger.quarantine import Quarantine
from ledger.stores import persistence_env
from ledger.views import Doc

# Optimistic-concurrency conflicts (writers on one stream) are retried, with backoff, this long.
APPEND_DEADLINE_SECONDS = 10.0


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


# Any number that is the same in every process: the key of the schema-creation lock.
SCHEMA_LOCK_KEY = 7_466_354_021


class Ledger(Application[UUID]):
    """Verifa deliveries in, immutable ledger events out; reads as of any prefix."""

    name = "ledger"

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """Only the settings the ledger gives: library variables in the process environment
        (POSTGRES_SCHEMA, POSTGRES_ENABLE_DB_FUNCTIONS, ...) would bypass the index."""
        return Environment(name, dict(env or {}))

    def __init__(
        self, env: dict[str, str], master_key: bytes, link_rules: LinkRules = learn_links
    ) -> None:
        # Appends load their stream from the cache, fast-forwarded from the store.
        super().__init__({"AGGREGATE_CACHE_MAXSIZE": "10000", **env})
        self.recorder.link_rules = link_rules  # type: ignore[attr-defined]
        postgres = isinstance(self.recorder, IndexedPostgresRecorder)
        self.sql = POSTGRES if postgres else SQLITE
        self.datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        self.history = History(self.datastore, self.sql, self.mapper, self.repository)
        self.chain = Chain(self.datastore, self.sql)
        self.keyring = Keyring(self.datastore, self.sql, master_key)
        self.quarantine = Quarantine(self.datastore, self.sql, self.keyring)
        self.access_log = AccessLog(self.datastore, self.sql)
        self._sqlite_path = env.get("SQLITE_DBNAME", "")
        with self.schema_lock():
            self.recorder.create_table()  # type: ignore[attr-defined]
            self.keyring.create_table()
            self.quarantine.create_table()
            self.access_log.create_table()
        self._append_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        database_url: str,
        *,
        master_key: bytes,
        pool_size: int = 5,
        max_overflow: int = 10,
        link_rules: LinkRules = learn_links,
    ) -> Ledger:
        """The ledger in a SQLite file (created if missing) or a PostgreSQL database."""
        env = persistence_env(database_url, pool_size=pool_size, max_overflow=max_overflow)
        return cls(env, master_key, link_rules)

    @contextmanager
    def schema_lock(self) -> Iterator[None]:
        """Serialise table creation across processes starting at once."""
        if self.sql is not POSTGRES:
            # A lock file beside the database: SQLite refuses a journal-mode change under load.
            with open(f"{self._sqlite_path}.lock", "a") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)
            return
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))

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
        deadline = time.monotonic() + APPEND_DEADLINE_SECONDS
        facts: dict[str, Any] | None = None
        for attempt in itertools.count():
            existing = self.history.position_of(delivery.idempotency_key)
            if existing is not None:
                return Duplicate(existing)
            if attempt and time.monotonic() > deadline:
                break
            facts = facts or self._facts(stream, delivery)
            with self._append_lock:
                aggregate = self._load(stream_class, stream.id)
                if aggregate is None:
                    aggregate = stream_class(key=stream.key, **facts)
                else:
                    aggregate.record(**facts)
                try:
                    recordings = self.save(aggregate, index_entries=[entry])
                except IntegrityError:
                    pass  # a duplicate, or a concurrent append to the stream: look again
                else:
                    if erasure_requested(delivery.event_type, delivery.payload):
                        self.keyring.purge_destroyed()
                    return Recorded(recordings[0].notification.id)
            time.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))  # let the others commit
        msg = f"could not append to stream {stream.type}/{stream.key}: too much contention"
        raise LedgerBusy(msg)

    def _facts(self, stream: StreamKey, delivery: Delivery) -> dict[str, Any]:
        """What the stream's event stores: the body as sent, or, when it carries personal
        data, the body with those values hidden and the body as sent sealed under its key."""
        facts = {"event_type": delivery.event_type, "idempotency_key": delivery.idempotency_key}
        if not has_personal_data(delivery.payload):
            return {**facts, "body": delivery.body}
        scope = protection_scope(stream, delivery.payload)
        key = self.keyring.key_for_sealing(scope)  # None once erased: stored already erased
        hidden = hide_personal_data(delivery.payload, SEALED if key else ERASED)
        sealed = seal(key, scope, delivery.body.encode()) if key else None
        return {
            **facts,
            "body": json.dumps(hidden, ensure_ascii=False),
            "sealed": base64.b64encode(sealed).decode() if sealed else None,
            "scope": scope,
        }

    def disclose(self, entries: list[LedgerEntry]) -> list[LedgerEntry]:
        """The entries with their personal data as sent, where its key still exists; erased
        where it does not. For officers and admins (callers record the access)."""
        keys = self.keyring.keys(e.scope for e in entries if e.scope)
        disclosed = []
        for entry in entries:
            key = keys.get(entry.scope) if entry.scope else None
            if key and entry.sealed and entry.scope:
                payload = json.loads(unseal(key, entry.scope, entry.sealed))
            elif entry.scope:
                payload = hide_personal_data(entry.payload, ERASED)
            else:
                payload = entry.payload
            disclosed.append(replace(entry, payload=payload, sealed=None))
        return disclosed

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
