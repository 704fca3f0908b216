"""Appending a batch of deliveries: planned, then committed in one unit of work.

`Appender.append` plans the batch and commits it in one transaction: each new
delivery becomes the next event of its stream (the aggregate's own rule), the
events are saved through the library in arrival order, and the ledger index is
written for them. Personal data after an erasure in the same batch is stored
erased (the domain's `sealings_in_order`); a request to erase a whole subject
ends its unit of work, since its scopes are found through the links learned up
to it: what follows is planned once its keys are destroyed.

On PostgreSQL a unit reads what it plans from under the lock that orders
appends, so another process cannot write to its streams or keys meanwhile. On
SQLite, if another process did, the database refuses the insert (optimistic
concurrency) and nothing of the unit is kept; so too if another process erased
a scope the unit sealed personal data under, between its planning and its
insert, or if one delivery's own data could not be stored. Each delivery is
then tried alone, with its stream read afresh. One that conflicts yet again is
answered `Retry` (the group committer puts it in a later batch); one the
database refuses for its own data is `Unstorable` (the ledger quarantines it);
either way the rest of the batch is recorded. Only when the store itself fails
is nothing kept. Nothing here waits for contention to pass beyond the append
lock: every other delivery of the process would wait behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, PersistenceError

from application.privacy.sealing import Sealer
from application.recording.delivery import Delivery
from application.recording.group_commit import Retry
from application.recording.ledger_index import LedgerIndex
from application.recording.outcomes import Duplicate, LedgerBusy, Recorded, Unstorable
from application.recording.plan import AppendPlan, Planner
from application.recording.stream_cache import StreamCache
from application.storage.availability import lost_to_another_writer, refused_for_its_data
from application.storage.database import Database
from application.storage.positions import Positions
from application.storage.stream_loading import StreamLoading
from domain.aggregates import LedgerStream
from domain.personal_data import erasure_requested

Appended = Recorded | Duplicate | Unstorable  # what appending did with a delivery
Answer = Appended | Retry | Exception  # a delivery's answer from its batch
# Deliveries that arrived since the batch was taken, while the test holds (`take_arrivals`).
Arrivals = Callable[[Callable[[Delivery], bool]], list[Delivery]]


class Conflict(Exception):
    """Nothing of the unit was kept: another writer got there first, or (to be found out
    by trying each alone) one delivery's own data could not be stored."""

    def __init__(
        self, error: Exception, unit: list[Delivery], planned: Mapping[UUID, int | None], *,
        raced: bool = False,
    ) -> None:  # fmt: skip
        super().__init__(str(error))
        self.error = error
        self.unit = unit  # the deliveries of the unit, arrivals it took in included
        self.planned = planned  # each stream's version when planned (None: not stored yet)
        self.raced = raced  # known to have lost to another writer


class Appender:
    def __init__(
        self,
        application: Application[UUID],
        database: Database,
        sealer: Sealer,
        index: LedgerIndex,
        streams: StreamCache,
    ) -> None:
        self.application = application  # its `save` puts events in the event store
        self.database = database
        self.sealer = sealer
        self.planner = Planner(sealer)
        self.index = index
        self.streams = streams
        self.observe_conflict: Callable[[int], None] | None = None  # told each unit's size

    def append(self, deliveries: Sequence[Delivery], arrivals: Arrivals | None = None
               ) -> list[Answer]:  # fmt: skip
        """Each delivery's answer, in order: each unit in one transaction, else each alone.
        Called by one thread at a time (the group committer's). The last unit, once it holds
        the lock that orders appends, takes in the `arrivals` (answered after the rest)."""
        answers: list[Answer] = []
        units = list(_units(deliveries))
        for n, unit in enumerate(units):
            last = n == len(units) - 1
            try:
                answers += self._commit(unit, arrivals if last else None)
            except Conflict as conflict:
                if self.observe_conflict is not None:
                    self.observe_conflict(len(conflict.unit))
                answers += self._each_alone(conflict.unit)
        return answers

    def _each_alone(self, unit: Sequence[Delivery]) -> list[Answer]:
        answers: list[Answer] = []
        for n, delivery in enumerate(unit):
            try:
                answers.append(self._alone(delivery))
            except Exception as error:  # the store failed: neither this nor the rest is kept
                return answers + [error] * (len(unit) - n)
        return answers

    def _alone(self, delivery: Delivery) -> Answer:
        try:
            [appended] = self._commit([delivery])
        except Conflict as conflict:
            return self._after_conflict(delivery, conflict)
        return appended

    def _after_conflict(self, delivery: Delivery, conflict: Conflict) -> Answer:
        """Why a lone delivery was refused: it is now recorded (by another writer), or its
        stream moved on (retry it later), or else its own data cannot be stored."""
        with self.database.reading() as uow:
            recorded = Positions(uow).of_keys([delivery.idempotency_key])
            now = StreamLoading(uow, self.application.mapper).versions(list(conflict.planned))
        if recorded:
            return Duplicate(recorded[delivery.idempotency_key])
        if conflict.raced or any(now.get(i) != v for i, v in conflict.planned.items()):
            key = delivery.idempotency_key
            return Retry(LedgerBusy(f"could not record {key!r}: its stream kept changing"
                                    " (too much contention); deliver it again"))  # fmt: skip
        if refused_for_its_data(conflict.error):
            return Unstorable(f"the store refused it: {_first_line(conflict.error)}")
        return conflict.error

    def _commit(self, deliveries: Sequence[Delivery], arrivals: Arrivals | None = None
                ) -> list[Recorded | Duplicate | Exception]:  # fmt: skip
        """Plan the deliveries (and the arrivals it takes in) and append them in one unit of
        work, or raise `Conflict`."""
        planned: dict[UUID, int | None] = {}
        unit = list(deliveries)
        try:
            with self.database.writing(lock_first=False) as uow:
                if uow.sql.name == "postgres":
                    # What the unit reads (keys, stream versions) it reads under the lock
                    # that orders appends: no other process appends between those reads
                    # and this insert, so API processes never make each other's batches
                    # fall back to one delivery at a time. (On SQLite the first write takes
                    # the database's one lock, and what was read before is checked then.)
                    uow.sql.lock_appends(uow.cursor)
                if arrivals is not None and not _erases_a_subject(unit[-1]):
                    # While it waited for the lock, the process's next deliveries queued up:
                    # they go in now, not in a batch of their own (and processes taking turns
                    # at the lock still append in batches as large as one process alone).
                    unit += arrivals(lambda delivery: not _erases_a_subject(delivery))
                plan = self.planner.plan(uow, unit)
                stored = StreamLoading(uow, self.application.mapper)
                streams = self.streams.take(plan.stream_ids, stored)
                planned = {i: s.version if (s := streams.get(i)) else None for i in plan.stream_ids}
                events = _recorded_on(plan, streams)
                recordings = self.application.save(*events, unit_of_work=uow) if events else []
                # The insert took the lock that orders appends: nothing changes under it now.
                # (On PostgreSQL the unit held it already when it read the data keys.)
                if uow.sql.name != "postgres" and self.sealer.erased_since(uow, plan.sealing):
                    raise Conflict(LedgerBusy("erased meanwhile"), unit, planned, raced=True)
                self.index.write(uow, recordings, plan.new)
        except Conflict:
            raise
        except IntegrityError as error:
            raise Conflict(error, unit, planned) from error
        except PersistenceError as error:
            if lost_to_another_writer(error):
                raise Conflict(error, unit, planned, raced=True) from error
            if refused_for_its_data(error):
                raise Conflict(error, unit, planned) from error
            raise  # the store failed: nothing of the batch can be recorded now
        except Exception as error:  # this code cannot append one of them: found out alone
            raise Conflict(error, unit, planned) from error
        self.streams.keep(streams.values())
        return plan.outcomes([r.notification.id for r in recordings])


def _first_line(error: Exception) -> str:
    cause = error.__cause__ or error
    return str(cause).strip().split("\n", 1)[0][:500]


def _erases_a_subject(delivery: Delivery) -> bool:
    request = erasure_requested(delivery.event_type, delivery.payload)
    return bool(request and request.subject)


def _units(deliveries: Sequence[Delivery]) -> Iterator[list[Delivery]]:
    """The batch, cut after each request to erase a subject: the scopes that erases are found
    through the links learned up to it, so what follows is planned once it is done."""
    unit: list[Delivery] = []
    for delivery in deliveries:
        unit.append(delivery)
        if _erases_a_subject(delivery):
            yield unit
            unit = []
    if unit:
        yield unit


def _recorded_on(plan: AppendPlan, streams: dict[UUID, LedgerStream]) -> list[Any]:
    """Each new delivery recorded on its stream (opening it if new), in arrival order; the
    new events in that order, whatever their streams."""
    events: list[Any] = []
    for append in plan.new:
        stream = streams.get(append.stream.id)
        if stream is None:
            stream = streams[append.stream.id] = append.stream_class(
                key=append.stream.key, **append.facts
            )
        else:
            stream.record(**append.facts)
        events += stream.collect_events()
    return events
