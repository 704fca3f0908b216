"""The ledger: the use cases of the product, on the `eventsourcing` library's Application.

A thin facade. How each use case works is in the folder of its concern
(`recording`, `reading`, `privacy`, `integrity`, over `storage`); this class
wires them on one database and names what a caller can do: ingest and record
deliveries, read the ledger as of any point, disclose and erase personal data.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.utils import Environment, EnvType

from application.integrity.verification import Chain, Digest
from application.privacy.keyring import Keyring
from application.privacy.purge import KeyPurger
from application.privacy.sealing import Sealer
from application.reading import evidence, reconstruct
from application.reading.history import History
from application.reading.views import Doc
from application.recording.append import Answer, Appended, Appender
from application.recording.delivery import Delivery, NotRecordable, read_delivery
from application.recording.duplicates import conflict_reason, conflicts_with_recorded
from application.recording.group_commit import BatchObserver, GroupCommitter
from application.recording.ledger_index import LedgerIndex
from application.recording.outcomes import Duplicate, Outcome, Quarantined, Recorded, Unstorable
from application.recording.quarantine import Quarantine, Replay
from application.recording.stream_cache import StreamCache
from application.storage.clock import utc_now_iso
from application.storage.database import Database
from application.storage.dialect import POSTGRES, SQLITE
from application.storage.persistence import create_private_sqlite_file, persistence_env
from application.storage.planner_statistics import PlannerStatistics
from application.storage.recorders import LedgerPostgresRecorder
from application.transparency.access_log_tree import AccessLogTree
from application.transparency.checkpoints import SigningKey, VerifierKey
from application.transparency.issued_checkpoints import IssuedCheckpoints
from application.transparency.log import BuildProgress, TransparencyLog
from application.transparency.tree_check import LogVerification, TreeCheck, verify_ledger
from domain.entries import AsOf, LedgerEntry
from domain.personal_data import ERASURE_REQUESTED, erasure_requested
from domain.routing import LinkRules, learn_links

log = logging.getLogger(__name__)

BATCH_SIZE = 256  # deliveries committed together at most
APPEND_RETRY_SECONDS = 10.0  # how long a delivery that keeps conflicting is retried
INGEST_CHUNK = 1024  # bodies a backfill reads, then appends, at a time


class NothingToErase(ValueError):
    """An erasure request that names no subject or session the ledger knows."""


@dataclass(frozen=True)
class ErasureDone:
    """Where an erasure request was recorded, and the data keys its append destroyed."""

    position: int
    erased_scopes: list[str]


class Ledger(Application[UUID]):
    """Verifa deliveries in, immutable ledger events out; reads as of any prefix."""

    name = "ledger"

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """Only the settings the ledger gives: library variables in the process environment
        (POSTGRES_SCHEMA, POSTGRES_ENABLE_DB_FUNCTIONS, ...) would bypass the index."""
        return Environment(name, dict(env or {}))

    def __init__(
        self,
        env: dict[str, str],
        master_key: bytes | None,
        link_rules: LinkRules = learn_links,
        build_progress: BuildProgress | None = None,
    ) -> None:
        """`master_key` None: a ledger that reads and follows, but neither seals nor discloses
        personal data (`NoMasterKey`), for a process that needs no secret. A ledger recorded
        before the transparency log builds its tree here, once (`build_progress` hears of it)."""
        create_private_sqlite_file(env.get("SQLITE_DBNAME", ""))
        super().__init__(env)  # no aggregate cache: appends keep their own (`StreamCache`)
        postgres = isinstance(self.recorder, LedgerPostgresRecorder)
        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        sqlite_path = env.get("SQLITE_DBNAME", "")
        self.database = Database(datastore, POSTGRES if postgres else SQLITE, sqlite_path)
        self.keyring = Keyring(self.database, master_key)
        self.quarantine = Quarantine(self.database, self.keyring)
        self.access_log = AccessLogTree(self.database)
        self.chain = Chain(self.database)
        self.transparency = TransparencyLog(self.database)
        self.checkpoints = IssuedCheckpoints(self.database, self.transparency, self.access_log)
        with self.database.schema_lock():
            self.recorder.create_table()  # type: ignore[attr-defined]
            self.keyring.create_table()
            self.quarantine.create_table()
            self.access_log.create_tables()
            self.transparency.create_tables()
            self.checkpoints.create_table()
            if unbuilt := self.transparency.unbuilt():
                self.transparency.build(
                    build_progress(unbuilt) if build_progress else lambda done: None
                )
        # On PostgreSQL, planner statistics kept fresh: reads stay index lookups as tables grow.
        self.statistics = PlannerStatistics(datastore) if postgres else None
        if self.statistics:
            self.statistics.refresh_stale()
        self.sealer = Sealer(self.keyring)
        self.index = LedgerIndex(self.transparency, link_rules)
        self.appender = Appender(self, self.database, self.sealer, self.index, StreamCache())
        self._committer: GroupCommitter[Delivery, Appended] = GroupCommitter(
            self._commit_batch, BATCH_SIZE, APPEND_RETRY_SECONDS
        )
        self.purger = KeyPurger(self.keyring, busy=self._committer.waiting)

    @classmethod
    def open(
        cls,
        database_url: str,
        *,
        master_key: bytes | None,
        pool_size: int = 5,
        max_overflow: int = 10,
        link_rules: LinkRules = learn_links,
        build_progress: BuildProgress | None = None,
    ) -> Ledger:
        """The ledger in a SQLite file (created if missing) or a PostgreSQL database."""
        env = persistence_env(database_url, pool_size=pool_size, max_overflow=max_overflow)
        return cls(env, master_key, link_rules, build_progress)

    def observe_batches(self, observer: BatchObserver) -> None:
        """Tell `observer` the size and commit time of each group-commit batch (for metrics)."""
        self._committer.observe_batch = observer

    def observe_conflicts(self, observer: Callable[[int], None]) -> None:
        """Tell `observer` the size of each part of a batch that another writer got to first,
        appended again one delivery at a time (for metrics)."""
        self.appender.observe_conflict = observer

    def close(self) -> None:
        self._committer.close()
        self.purger.close()
        if self.statistics:
            self.statistics.close()
        super().close()

    # Recording deliveries (DESIGN §4).

    def ingest(self, body: bytes, webhook_id: str | None) -> Outcome:
        """Record, recognise as duplicate, or quarantine one authentic delivery."""
        try:
            delivery = read_delivery(body, webhook_id)
        except NotRecordable as problem:
            return Quarantined(self.hold(body, webhook_id, problem.reason, problem.errors))
        return self.record(delivery)

    async def ingest_async(self, body: bytes, webhook_id: str | None) -> Outcome:
        """As `ingest`, for the web server: parsing runs in its event loop, the append waits for
        its group commit without holding a thread, and a quarantine write runs in a thread."""
        try:
            delivery = read_delivery(body, webhook_id)
        except NotRecordable as problem:
            held = await asyncio.to_thread(
                self.hold, body, webhook_id, problem.reason, problem.errors
            )
            return Quarantined(held)
        return await self.record_async(delivery)

    def ingest_all(self, bodies: Iterable[bytes]) -> list[Outcome]:
        """A backfill: the outcome of ingesting each body in turn, appended in batches."""
        return list(self.ingest_stream(bodies))

    def ingest_stream(self, bodies: Iterable[bytes]) -> Iterator[Outcome]:
        """As `ingest_all`, a chunk of bodies at a time: a backfill of any length holds one
        chunk in memory, each outcome given as soon as its chunk is committed."""
        items = iter(bodies)
        while chunk := list(itertools.islice(items, INGEST_CHUNK)):
            readable: dict[int, Delivery] = {}
            answered: dict[int, Outcome] = {}
            for n, body in enumerate(chunk):
                try:
                    readable[n] = read_delivery(body, None)
                except NotRecordable as problem:
                    answered[n] = Quarantined(self.hold(body, None, problem.reason, problem.errors))
            answered.update(zip(readable, self.record_all(list(readable.values())), strict=True))
            yield from (answered[n] for n in range(len(chunk)))

    def record(self, delivery: Delivery) -> Outcome:
        """Append one readable delivery, exactly once per idempotency key; concurrent
        deliveries are committed together (`GroupCommitter`), each answered after its commit.

        The index's unique key decides duplicates inside the append's own
        transaction, so concurrent retries of one delivery record one event. A
        delivery the database refuses for its own data is quarantined, alone.
        """
        return self._settled(delivery, self._committer.submit(delivery))

    async def record_async(self, delivery: Delivery) -> Outcome:
        """As `record`, awaited: for the web server, whose event loop serves other requests
        while the delivery waits for its batch's commit."""
        appended = await self._committer.submit_async(delivery)
        if isinstance(appended, Recorded):
            return appended
        return await asyncio.to_thread(self._settled, delivery, appended)

    def record_all(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        """Append many deliveries (a backfill), in the fewest group-commit batches: the same
        as recording each in turn."""
        appended = self._committer.submit_all(deliveries)
        return [self._settled(d, a) for d, a in zip(deliveries, appended, strict=True)]

    def _settled(self, delivery: Delivery, appended: Appended) -> Outcome:
        """An append's answer as the delivery's outcome. One the store refused is held in
        quarantine with the store's reason, never lost and never retried in vain; a duplicate
        whose body differs from the recorded one is answered `duplicate` and held too."""
        if isinstance(appended, Unstorable):
            return Quarantined(self._hold(delivery, appended.reason))
        if isinstance(appended, Duplicate) and self._conflicting(delivery, appended):
            self._hold(delivery, conflict_reason(appended.position))
        return appended

    def _conflicting(self, delivery: Delivery, duplicate: Duplicate) -> bool:
        with self.reading() as history:
            found = history.feed.entries_after(duplicate.position - 1, 1)
        if not found or found[0].position != duplicate.position:
            return False  # nothing to compare with (cannot happen for a recorded key)
        return conflicts_with_recorded(self.sealer, delivery, found[0])

    def hold(
        self, body: bytes, webhook_id: str | None, reason: str, errors: list[dict[str, Any]]
    ) -> str:
        """Keep an authentic delivery in quarantine, and record that the ledger holds it (its
        leaf in the transparency log: `Held.record`); the quarantine id. Answered only once
        both are stored: a delivery held again is held once, and recorded once."""
        held = self.quarantine.hold(body, webhook_id, reason, errors)
        recorded = self._committer.submit(held.record())
        if isinstance(recorded, Unstorable):  # its fields are bounded: this is a fault
            raise RuntimeError(f"the record of quarantined {held.id} was refused: {recorded}")
        return held.id

    def _hold(self, delivery: Delivery, reason: str) -> str:
        body = delivery.body.encode("utf-8", "surrogatepass")
        return self.hold(body, delivery.webhook_id, reason, [{"msg": reason}])

    def replay_quarantine(self) -> Replay:
        """Re-process every held delivery with the current rules; release those that now pass."""
        released, held = [], []
        for entry in self.quarantine.list():
            if entry.erased:  # nothing left to read
                held.append(entry.id)
                continue
            try:
                delivery = read_delivery(entry.body, entry.webhook_id)
            except NotRecordable:
                held.append(entry.id)
                continue
            appended = self._committer.submit(delivery)
            if isinstance(appended, Unstorable) or (
                isinstance(appended, Duplicate) and self._conflicting(delivery, appended)
            ):
                held.append(entry.id)  # still refused, or still at odds with the recorded one
                continue
            self.quarantine.release(entry.id, appended.position)
            released.append((entry.id, appended.position))
        return Replay(released, held)

    def _commit_batch(self, deliveries: Sequence[Delivery]) -> list[Answer]:
        """A group commit's batch: appended, then the upkeep its appends call for (which never
        turns a committed delivery's answer into an error)."""
        batch = list(deliveries)

        def arrivals(accept: Callable[[Delivery], bool]) -> list[Delivery]:
            arrived = self._committer.take_arrivals(accept)
            batch.extend(arrived)
            return arrived

        appended = self.appender.append(deliveries, arrivals)
        try:
            recorded = [a.position for a in appended if isinstance(a, Recorded)]
            if self.statistics and recorded:
                self.statistics.appended(len(recorded), max(recorded))
            if any(erasure_requested(d.event_type, d.payload) for d in batch):
                self.purger.erased()
        except Exception:
            log.exception("upkeep after an append failed; the append stands")
        return appended

    # Integrity (DESIGN §7.1).

    def verify(
        self, verifier: VerifierKey, since: Digest | None = None, saved: str | None = None
    ) -> LogVerification:
        """Every stored entry against its chain digest and its leaf, every checkpoint signed
        (and `saved`, one an auditor kept) against the root its entries give."""
        check = TreeCheck(self.transparency, verifier, self.checkpoints)
        return verify_ledger(self.chain, check, self.access_log, since, saved)

    def evidence(
        self, subject: str, point: int | datetime | None, signer: SigningKey,
        limit: int | None = None,
    ) -> dict[str, Any] | None:  # fmt: skip
        """The evidence bundle of a subject as of a point (DESIGN §7.2), or None if unknown
        then. Its checkpoint is signed after its entries are read, so it holds them all."""
        with self.reading() as history:
            as_of = history.positions.as_of(point)
            found = evidence.subject_entries(history, subject, as_of, limit)
        if found is None:
            return None
        status, positions = found
        issued = self.checkpoints.issue(signer)
        with self.database.reading() as uow:
            return evidence.bundle(uow, self.transparency, subject, as_of, status, positions,
                                   issued.note, issued.tree_size, signer.verifier)  # fmt: skip

    # Reading as of a point (DESIGN §6).

    @contextmanager
    def reading(self, *, pin_on_sqlite: bool = False) -> Iterator[History]:
        """The ledger's history, read in one unit of work (see `Database.reading`)."""
        with self.database.reading(pin_on_sqlite=pin_on_sqlite) as uow:
            yield History(uow, self.mapper)

    def as_of(self, point: int | datetime | None = None) -> AsOf:
        """The prefix a read names: a position, an instant, or the head when None."""
        with self.reading() as history:
            return history.positions.as_of(point)

    def timeline(
        self, subject: str, as_of: AsOf, *, after: int = 0, limit: int | None = None
    ) -> list[LedgerEntry] | None:
        """The subject's history after a position, ascending; None if unknown at `as_of`."""
        with self.reading() as history:
            if not history.timelines.subject_is_known(subject, as_of):
                return None
            return history.timelines.subject_history(subject, as_of, after=after, limit=limit)

    def subject_status(self, subject: str, as_of: AsOf) -> Doc | None:
        with self.reading() as history:
            return reconstruct.subject_status(history, subject, as_of)

    # Personal data (DESIGN §7).

    def disclose(self, entries: list[LedgerEntry]) -> list[LedgerEntry]:
        """Entries with personal data as sent where its key exists, erased where it does not."""
        return self.sealer.disclose(entries)

    def request_erasure(
        self, *, reason: str, requested_by: str, subject: str | None = None,
        session: str | None = None,
    ) -> ErasureDone:  # fmt: skip
        """Record who asked to erase whose personal data and why, as a ledger event of its own;
        its append destroys the keys."""
        with self.reading() as history:
            head = history.positions.head()
            if subject and not history.timelines.subject_is_known(subject, head):
                raise NothingToErase(f"no subject {subject!r} in the ledger")
            if session and not history.timelines.session_is_known(session):
                raise NothingToErase(f"no session {session!r} in the ledger")
        key = f"erasure_{uuid.uuid4().hex}"
        target = {"external_ref": subject} if subject else {"session_id": session}
        payload = {"event": ERASURE_REQUESTED, **target, "requested_by": requested_by,
                   "reason": reason, "requested_at": utc_now_iso(),
                   "idempotency_key": key}  # fmt: skip
        recorded = self._committer.submit(Delivery(json.dumps(payload), payload, key))
        if isinstance(recorded, Unstorable):
            raise ValueError(f"the erasure request could not be stored: {recorded.reason}")
        erased = [row["scope"] for row in self.keyring.erased()
                  if row["erased_position"] == recorded.position]  # fmt: skip
        return ErasureDone(recorded.position, erased)
