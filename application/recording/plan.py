"""A batch of deliveries made ready to append: an immutable plan, prepared before the commit.

Planning routes each delivery to its stream (the domain's `route`, pure), finds
which idempotency keys are already recorded or repeated within the batch, and
decides how each new delivery's personal data is kept (`Sealer`, on the data
keys and session mentions read for the whole batch at once; the decision itself
is the domain's). A delivery that cannot be routed carries its error in the plan
and fails alone. What depends on the entries before it (its position, the clock,
the chain, the links it reveals, the keys an erasure destroys) is decided when
it is written, under the lock that orders positions (`LedgerIndex`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from application.privacy.sealing import Arriving, EventFacts, SealedBatch, Sealer
from application.recording.delivery import Delivery
from application.recording.outcomes import Duplicate, Recorded
from application.storage.positions import Positions
from application.storage.unit_of_work import UnitOfWork
from domain.aggregates import STREAM_CLASSES, LedgerStream
from domain.entries import StreamKey
from domain.routing import route


@dataclass(frozen=True)
class PlannedAppend:
    """A delivery that adds an event: its stream, and the facts its event stores."""

    delivery: Delivery
    stream: StreamKey
    facts: EventFacts

    @property
    def stream_class(self) -> type[LedgerStream]:
        return STREAM_CLASSES[self.stream.type]


@dataclass(frozen=True)
class Repeat:
    """A delivery whose idempotency key was recorded before, or comes earlier in the batch."""

    idempotency_key: str


Step = PlannedAppend | Repeat | Exception


@dataclass(frozen=True)
class AppendPlan:
    """One step per delivery, in arrival order; the positions of the keys already recorded;
    and what the new deliveries' sealing rested on."""

    steps: tuple[Step, ...]
    recorded: Mapping[str, int]
    sealing: SealedBatch

    @property
    def new(self) -> list[PlannedAppend]:
        return [step for step in self.steps if isinstance(step, PlannedAppend)]

    @property
    def stream_ids(self) -> list[UUID]:
        return list(dict.fromkeys(append.stream.id for append in self.new))

    def outcomes(self, positions: Sequence[int]) -> list[Recorded | Duplicate | Exception]:
        """Each step's outcome, given the positions the new appends were recorded at: a
        repeated key is a duplicate of the position it was first recorded at."""
        first = dict(self.recorded)
        first |= {a.delivery.idempotency_key: at for a, at in zip(self.new, positions, strict=True)}
        outcomes: list[Recorded | Duplicate | Exception] = []
        for step in self.steps:
            if isinstance(step, PlannedAppend):
                outcomes.append(Recorded(first[step.delivery.idempotency_key]))
            elif isinstance(step, Repeat):
                outcomes.append(Duplicate(first[step.idempotency_key]))
            else:
                outcomes.append(step)
        return outcomes


class Planner:
    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer

    def plan(self, uow: UnitOfWork, deliveries: Sequence[Delivery]) -> AppendPlan:
        """Route the deliveries, look up their keys, and seal the new ones, in the unit of
        work (which writes the data keys sealing creates)."""
        routed = [_routed(delivery) for delivery in deliveries]
        keys = [r[0].idempotency_key for r in routed if not isinstance(r, Exception)]
        recorded = Positions(uow).of_keys(keys)
        seen = set(recorded)
        steps: list[Step | tuple[Delivery, StreamKey]] = []
        for r in routed:
            if isinstance(r, Exception):
                steps.append(r)
            elif r[0].idempotency_key in seen:
                steps.append(Repeat(r[0].idempotency_key))
            else:
                seen.add(r[0].idempotency_key)
                steps.append(r)
        fresh = [s for s in steps if isinstance(s, tuple)]
        sealing = self.sealer.seal(uow, [_arriving(d, stream) for d, stream in fresh])
        facts = iter(sealing.facts)
        planned = tuple(PlannedAppend(*s, next(facts)) if isinstance(s, tuple) else s
                        for s in steps)  # fmt: skip
        return AppendPlan(planned, recorded, sealing)


def _routed(delivery: Delivery) -> tuple[Delivery, StreamKey] | Exception:
    try:
        return delivery, route(delivery.payload)
    except Exception as error:  # this delivery's alone
        return error


def _arriving(delivery: Delivery, stream: StreamKey) -> Arriving:
    d = delivery
    return Arriving(stream, d.event_type, d.idempotency_key, d.body, d.payload)
