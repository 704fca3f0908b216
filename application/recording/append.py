"""Appending a batch of deliveries: planned, then committed in one unit of work.

`Appender.append` plans the batch and commits it in one transaction: each new
delivery becomes the next event of its stream (the aggregate's own rule), the
events are saved through the library in arrival order, and the ledger index is
written for them. If another process wrote to one of the batch's streams or keys
first, the database refuses the insert (optimistic concurrency) and nothing of
the batch is kept: each delivery is then tried alone, with its stream read
afresh; one that conflicts yet again is answered `Retry`, and the group
committer puts it in a later batch. Nothing here ever waits for contention to
pass: every other delivery of the process would wait behind it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from application.recording.delivery import Delivery
from application.recording.group_commit import Retry
from application.recording.ledger_index import LedgerIndex
from application.recording.outcomes import Duplicate, LedgerBusy, Recorded
from application.recording.plan import AppendPlan, Planner
from application.recording.stream_cache import StreamCache
from application.storage.database import Database
from application.storage.stream_loading import StreamLoading
from domain.aggregates import LedgerStream

Appended = Recorded | Duplicate | Retry | Exception  # one delivery's answer


class Conflict(Exception):
    """Another process appended to one of the batch's streams, or recorded one of its keys,
    first: nothing of the batch was kept."""


class Appender:
    def __init__(
        self,
        application: Application[UUID],
        database: Database,
        planner: Planner,
        index: LedgerIndex,
        streams: StreamCache,
    ) -> None:
        self.application = application  # its `save` puts events in the event store
        self.database = database
        self.planner = planner
        self.index = index
        self.streams = streams
        self._lock = threading.Lock()  # one batch at a time in this process

    def append(self, deliveries: Sequence[Delivery]) -> list[Appended]:
        """Each delivery's answer, in order: the batch in one transaction, else each alone."""
        with self._lock:
            try:
                return list(self._commit(deliveries))
            except Conflict:
                return [self._alone(delivery) for delivery in deliveries]

    def _alone(self, delivery: Delivery) -> Appended:
        try:
            [appended] = self._commit([delivery])
        except Conflict:
            stream = delivery.payload.get("event")
            return Retry(LedgerBusy(f"could not append {stream!r}: too much contention"))
        return appended

    def _commit(self, deliveries: Sequence[Delivery]) -> list[Recorded | Duplicate | Exception]:
        """Plan the deliveries and append them in one unit of work, or raise `Conflict`."""
        try:
            with self.database.writing() as uow:
                plan = self.planner.plan(uow, deliveries)
                streams = self.streams.take(
                    plan.stream_ids, StreamLoading(uow, self.application.mapper)
                )
                events = self._record(plan, streams)
                recordings = self.application.save(*events, unit_of_work=uow) if events else []
                self.index.write(uow, recordings, plan.new)
        except IntegrityError as error:
            raise Conflict from error
        self.streams.keep(streams.values())
        return plan.outcomes([r.notification.id for r in recordings])

    @staticmethod
    def _record(plan: AppendPlan, streams: dict[UUID, LedgerStream]) -> list[Any]:
        """Each new delivery recorded on its stream (opening it if new), in arrival order;
        the new events in that order, whatever their streams."""
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
