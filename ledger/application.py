"""The ledger application: appends deliveries to their streams and answers as-of reads.

A thin facade over the `eventsourcing` Application: the domain decides which
stream a delivery belongs to and what it means; the event store and its index
make the append atomic, ordered and deduplicated.
"""

from __future__ import annotations

import fcntl
import itertools
import random
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import Environment, EnvType

from domain.aggregates import STREAM_CLASSES, LedgerStream, replay
from domain.entries import LedgerEntry, StreamKey
from domain.personal_data import erasure_requested
from domain.routing import LinkRules, learn_links, route
from ledger import reads
from ledger.access_log import AccessLog
from ledger.chain import Chain
from ledger.dialect import POSTGRES, SQLITE
from ledger.group_commit import GroupCommitter
from ledger.history import AsOf, History
from ledger.index import IndexedPostgresRecorder, IndexEntry
from ledger.keyring import Keyring
from ledger.planner_statistics import PlannerStatistics
from ledger.quarantine import Quarantine
from ledger.sealing import Arriving, Sealer
from ledger.stores import persistence_env
from ledger.stream_cache import StreamCache
from ledger.views import Doc

# Optimistic-concurrency conflicts (writers on one stream) are retried, with backoff, this long.
APPEND_DEADLINE_SECONDS = 10.0
BATCH_SIZE = 256  # deliveries committed together at most
# An erasure destroys its keys in its own append; purging their old bytes from the database
# files (`Keyring.purge_destroyed`) follows at once when no delivery is waiting, else after
# at most this long, once for all erasures meanwhile, so that under load it delays few batches.
PURGE_DELAY_SECONDS = 1.0


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
class Append:
    """A delivery ready to append: its stream, its index entry and its event's facts."""

    delivery: Delivery
    stream: StreamKey
    entry: IndexEntry
    facts: dict[str, Any]

    @property
    def stream_class(self) -> type[LedgerStream]:
        return STREAM_CLASSES[self.stream.type]

    @property
    def arriving(self) -> Arriving:
        d = self.delivery
        return Arriving(self.stream, d.event_type, d.idempotency_key, d.body, d.payload)


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
        if postgres:  # a group commit's batch is one transaction: see `_prepare_and_append`
            self.recorder.batch_cursor = self.history.write_cursor  # type: ignore[attr-defined]
            self.keyring.batch_cursor = self.history.write_cursor
        self.sealer = Sealer(self.keyring, self.history.sessions_mentioned)
        self.quarantine = Quarantine(self.datastore, self.sql, self.keyring)
        self.access_log = AccessLog(self.datastore, self.sql)
        self._sqlite_path = env.get("SQLITE_DBNAME", "")
        with self.schema_lock():
            self.recorder.create_table()  # type: ignore[attr-defined]
            self.keyring.create_table()
            self.quarantine.create_table()
            self.access_log.create_table()
        # On PostgreSQL, planner statistics kept fresh: reads stay index lookups as tables grow.
        self.statistics = PlannerStatistics(self.datastore) if postgres else None
        if self.statistics:
            self.statistics.refresh_stale()
        self._append_lock = threading.Lock()  # one batch at a time in this process
        # When destroyed keys' old bytes must be purged from the files by (None: nothing to do).
        self._purge_due: float | None = None
        self._streams = StreamCache()
        self._committer: GroupCommitter[Delivery, Recorded | Duplicate] = GroupCommitter(
            self._prepare_and_append, BATCH_SIZE
        )

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

    def close(self) -> None:
        self._committer.close()
        if self._purge_due is not None:
            self.keyring.purge_destroyed()
        if self.statistics:
            self.statistics.close()
        super().close()

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
        """Append one readable delivery, exactly once per idempotency key; concurrent
        deliveries are committed together (`GroupCommitter`), each answered after its commit.

        The index's unique key decides duplicates inside the append's own
        transaction, so concurrent retries of one delivery record one event.
        """
        return self._committer.submit(delivery)

    async def record_async(self, delivery: Delivery) -> Recorded | Duplicate:
        """As `record`, awaited: for the web server, whose event loop serves other requests
        while the delivery waits for its batch's commit."""
        return await self._committer.submit_async(delivery)

    def record_all(self, deliveries: Sequence[Delivery]) -> list[Recorded | Duplicate]:
        """Append many deliveries in batches (a backfill): the same as recording each in turn,
        each batch as a group commit's."""
        results: list[Recorded | Duplicate] = []
        for start in range(0, len(deliveries), BATCH_SIZE):
            appended = self._prepare_and_append(deliveries[start : start + BATCH_SIZE])
            for result in appended:
                if isinstance(result, Exception):
                    raise result
                results.append(result)
        return results

    def disclose(self, entries: list[LedgerEntry]) -> list[LedgerEntry]:
        """Entries with personal data as sent where its key exists, erased where it does not."""
        return self.sealer.disclose(entries)

    def _prepare(self, deliveries: Sequence[Delivery]) -> list[Append | Exception]:
        """Each delivery routed to its stream and sealed; one that cannot be gets its error."""
        routed = [self._routed(delivery) for delivery in deliveries]
        sealed = iter(self._sealed([r for r in routed if not isinstance(r, Exception)]))
        return [r if isinstance(r, Exception) else next(sealed) for r in routed]

    def _routed(self, delivery: Delivery) -> Append | Exception:
        try:
            stream = route(delivery.payload)
        except Exception as error:
            return error
        entry = IndexEntry(delivery.idempotency_key, delivery.event_type, stream,
                           delivery.payload, delivery.webhook_id)  # fmt: skip
        return Append(delivery, stream, entry, facts={})

    def _sealed(self, appends: list[Append]) -> list[Append | Exception]:
        """The appends with their events' facts, sealed all at once; if that fails (e.g. a
        data key could not be stored), each alone, so that an error is only its own."""

        def seal(batch: list[Append]) -> list[Append | Exception]:
            facts = self.sealer.event_facts([a.arriving for a in batch])
            return [replace(a, facts=f) for a, f in zip(batch, facts, strict=True)]

        try:
            return seal(appends)
        except Exception:
            results: list[Append | Exception] = []
            for append in appends:
                try:
                    results += seal([append])
                except Exception as error:
                    results.append(error)
            return results

    def _prepare_and_append(
        self, deliveries: Sequence[Delivery]
    ) -> list[Recorded | Duplicate | Exception]:
        """A group commit's batch: each delivery prepared (one that cannot be is answered
        with its error alone), then the rest appended together.

        On PostgreSQL the batch's reads and its append share one transaction on one
        connection (`History.reading`): the fewest round trips to the server, whose
        latency bounds how many batches a second the one committer can append.
        """
        with self._append_lock:  # one batch at a time: the committer's or a backfill's
            prepared: list[Append | Exception] = []
            appended = self._append_in_one_transaction(deliveries, prepared)
            if appended is None:  # another process wrote first; the data keys were rolled back
                prepared = self._prepare(deliveries)  # sealed again, keys in their own transaction
            appends = [p for p in prepared if not isinstance(p, Exception)]
            if appended is None:
                appended = self._append_batch(appends)
            self._purge_if_due(appends)
            recorded = [r.position for r in appended if isinstance(r, Recorded)]
            if self.statistics and recorded:
                self.statistics.appended(len(recorded), max(recorded))
            results = iter(appended)
            return [p if isinstance(p, Exception) else next(results) for p in prepared]

    def _append_in_one_transaction(
        self, deliveries: Sequence[Delivery], prepared: list[Append | Exception]
    ) -> list[Recorded | Duplicate | Exception] | None:
        """Prepare each delivery into `prepared`, then read what the batch needs and append it,
        in one transaction on PostgreSQL; None if another process wrote to its streams first."""
        appends: list[Append] = []
        try:
            with self.history.reading(then_writing=True):
                prepared += self._prepare(deliveries)
                appends = [p for p in prepared if not isinstance(p, Exception)]
                known = self.history.positions_of([a.delivery.idempotency_key for a in appends])
                streams = {a.stream.id for a in appends}
                cached = self._streams.cached(streams)
                self._streams.drop_stale(self.history.stream_versions(cached))
                self._streams.load_missing(streams, self.history.current_streams)
                return self._append_together(appends, known) if appends else []
        except BaseException as error:  # nothing of the batch was kept, even if it got as far
            self._streams.forget(a.stream.id for a in appends)  # as its commit
            if not isinstance(error, IntegrityError):
                raise
            return None
        finally:
            self._streams.absent = set()  # known for this batch only

    def _append_batch(self, batch: Sequence[Append]) -> list[Recorded | Duplicate | Exception]:
        """One transaction for the batch; duplicates of recorded or batched keys are answered
        with the first one's position. If another process wrote to one of the streams (or one
        of the keys) first, the batch falls back to one append at a time."""
        try:
            known = self.history.positions_of([a.delivery.idempotency_key for a in batch])
            return self._append_together(batch, known)
        except IntegrityError:  # another process wrote first: from the store, one at a time
            return [self._append_one(append) for append in batch]

    def _purge_if_due(self, batch: Sequence[Append]) -> None:
        """Purge destroyed keys from the files after an erasure: at once when no delivery is
        waiting, else within `PURGE_DELAY_SECONDS`."""
        if any(erasure_requested(a.delivery.event_type, a.delivery.payload) for a in batch):
            self._purge_due = self._purge_due or time.monotonic() + PURGE_DELAY_SECONDS
        if self._purge_due is not None and (
            not self._committer.waiting() or time.monotonic() >= self._purge_due
        ):
            self._purge_due = None
            self.keyring.purge_destroyed()

    def _append_together(
        self, batch: Sequence[Append], known: dict[str, int]
    ) -> list[Recorded | Duplicate | Exception]:
        first_of: dict[str, int] = {}
        aggregates: dict[UUID, LedgerStream] = {}
        events: list[Any] = []  # domain events in arrival order, whatever their stream
        touched: list[UUID] = []  # streams changed in memory, saved or not
        try:
            for i, append in enumerate(batch):
                key = append.delivery.idempotency_key
                if key in known or key in first_of:
                    continue
                first_of[key] = i
                touched.append(append.stream.id)
                aggregate = aggregates[append.stream.id] = self._with_event(append, aggregates)
                events += aggregate.collect_events()
            order = list(first_of.values())
            entries = [batch[i].entry for i in order]
            recordings = self.save(*events, index_entries=entries) if events else []
        except BaseException:
            self._streams.forget(touched)  # advanced in memory, not in the store
            raise
        self._streams.keep(aggregates.values())
        positions = {i: r.notification.id for i, r in zip(order, recordings, strict=True)}
        results: list[Recorded | Duplicate | Exception] = []
        for i, append in enumerate(batch):
            key = append.delivery.idempotency_key
            if i in positions:
                results.append(Recorded(positions[i]))
            else:
                results.append(Duplicate(known.get(key) or positions[first_of[key]]))
        return results

    def _with_event(self, append: Append, batch: dict[UUID, LedgerStream]) -> LedgerStream:
        """The append's stream with its new event: from this batch, the cache, or the store."""
        stream_id = append.stream.id
        aggregate = batch.get(stream_id) or self._streams.get(stream_id)
        if aggregate is None and stream_id not in self._streams.absent:
            aggregate = self._load(append.stream_class, stream_id)
        if aggregate is None:
            return append.stream_class(key=append.stream.key, **append.facts)
        aggregate.record(**append.facts)
        return aggregate

    def _append_one(self, append: Append) -> Recorded | Duplicate | Exception:
        """Append alone, retrying concurrency conflicts with backoff until the deadline."""
        deadline = time.monotonic() + APPEND_DEADLINE_SECONDS
        delivery, stream = append.delivery, append.stream
        for attempt in itertools.count():
            existing = self.history.position_of(delivery.idempotency_key)
            if existing is not None:
                return Duplicate(existing)
            if attempt and time.monotonic() > deadline:
                break
            aggregate = self._load(append.stream_class, stream.id)
            if aggregate is None:
                aggregate = append.stream_class(key=stream.key, **append.facts)
            else:
                aggregate.record(**append.facts)
            try:
                recordings = self.save(aggregate, index_entries=[append.entry])
            except IntegrityError:
                pass  # a duplicate, or a concurrent append to the stream: look again
            else:
                return Recorded(recordings[0].notification.id)
            time.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))  # let the others commit
        msg = f"could not append to stream {stream.type}/{stream.key}: too much contention"
        return LedgerBusy(msg)

    def _load(self, stream_class: type[LedgerStream], stream_id: UUID) -> LedgerStream | None:
        try:
            aggregate: LedgerStream = self.repository.get(stream_id, projector_func=replay)
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
        with self.history.reading():
            if not self.history.subject_is_known(subject, as_of):
                return None
            return self.history.subject_history(subject, as_of, after=after, limit=limit)

    def subject_status(self, subject: str, as_of: AsOf) -> Doc | None:
        with self.history.reading():
            return reads.subject_status(self.history, subject, as_of)
