"""A batch of deliveries made ready to append: an immutable plan, prepared before the commit.

Planning routes each delivery to its stream (the domain's `route`, pure),
decides how its personal data is kept (`Sealer`, on the data keys and session
mentions read for the whole batch at once, the decision itself the domain's)
and finds which idempotency keys are already recorded. A delivery that cannot
be routed carries its error in the plan and fails alone. What depends on the
entries before it (its position, the clock, the chain, links, erasures) is
decided when it is written, under the lock that orders positions (`LedgerIndex`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from application.privacy.sealing import Arriving, EventFacts, Sealer
from application.recording.delivery import Delivery
from application.recording.outcomes import Duplicate, Recorded
from application.storage.positions import Positions
from application.storage.unit_of_work import UnitOfWork
from domain.aggregates import STREAM_CLASSES, LedgerStream
from domain.entries import StreamKey
from domain.routing import route


@dataclass(frozen=True)
class PlannedAppend:
    """A delivery ready to append: its stream, and the facts its event stores."""

    delivery: Delivery
    stream: StreamKey
    facts: EventFacts

    @property
    def idempotency_key(self) -> str:
        return self.delivery.idempotency_key

    @property
    def stream_class(self) -> type[LedgerStream]:
        return STREAM_CLASSES[self.stream.type]


@dataclass(frozen=True)
class AppendPlan:
    """One step per delivery, in arrival order (its append, or why it cannot be appended),
    and the positions of the batch's idempotency keys already in the ledger."""

    steps: tuple[PlannedAppend | Exception, ...]
    recorded: Mapping[str, int]

    @property
    def new(self) -> list[PlannedAppend]:
        """The appends that add an event: the first of each key not recorded yet."""
        seen = set(self.recorded)
        new = []
        for step in self.steps:
            if isinstance(step, PlannedAppend) and step.idempotency_key not in seen:
                seen.add(step.idempotency_key)
                new.append(step)
        return new

    @property
    def stream_ids(self) -> list[UUID]:
        return list(dict.fromkeys(append.stream.id for append in self.new))

    def outcomes(self, positions: Sequence[int]) -> list[Recorded | Duplicate | Exception]:
        """Each step's outcome, given the positions the new appends were recorded at: a
        repeated key is a duplicate of the position it was first recorded at."""
        first: dict[str, int] = dict(self.recorded)
        recorded_now = dict(zip((a.idempotency_key for a in self.new), positions, strict=True))
        outcomes: list[Recorded | Duplicate | Exception] = []
        for step in self.steps:
            if isinstance(step, Exception):
                outcomes.append(step)
            elif step.idempotency_key in first:
                outcomes.append(Duplicate(first[step.idempotency_key]))
            else:
                first[step.idempotency_key] = recorded_now[step.idempotency_key]
                outcomes.append(Recorded(first[step.idempotency_key]))
        return outcomes


class Planner:
    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer

    def plan(self, uow: UnitOfWork, deliveries: Sequence[Delivery]) -> AppendPlan:
        """Route and seal the deliveries, and look up their keys, in the unit of work (which
        writes the data keys sealing creates)."""
        routed = [self._route(delivery) for delivery in deliveries]
        ready = [r for r in routed if not isinstance(r, Exception)]
        facts = iter(self.sealer.event_facts(uow, [_arriving(d, s) for d, s in ready]))
        steps = tuple(r if isinstance(r, Exception) else PlannedAppend(*r, next(facts))
                      for r in routed)  # fmt: skip
        recorded = Positions(uow).of_keys([d.idempotency_key for d, _ in ready])
        return AppendPlan(steps, recorded)

    @staticmethod
    def _route(delivery: Delivery) -> tuple[Delivery, StreamKey] | Exception:
        try:
            return delivery, route(delivery.payload)
        except Exception as error:  # this delivery's alone
            return error


def _arriving(delivery: Delivery, stream: StreamKey) -> Arriving:
    d = delivery
    return Arriving(stream, d.event_type, d.idempotency_key, d.body, d.payload)
