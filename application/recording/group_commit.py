"""Group commit: deliveries that arrive together are appended together, in one transaction.

Each request hands its delivery to the committer and waits: a thread blocks
(`submit`), a coroutine awaits (`submit_async`, so the event loop serves other
requests meanwhile, with no thread of its own). The committer's thread takes
everything waiting (up to a batch), commits it, and answers every delivery of
the batch only after that commit, so an acknowledgement still means durably
recorded. One commit (one fsync, one table lock) then serves many deliveries.

A delivery the commit answers `Retry` (it conflicted with another process's
append) goes into a later batch after a short, growing delay. The committer never
sleeps meanwhile: it goes on committing whatever else arrives, and past the
deadline the delivery's submitter gets the `Retry`'s error instead.

No submitter waits forever: if its answer has not come within `answer_within`
(the database hangs, the committer's thread died), it gets `NotAnswered`. Its
delivery may still be committed later; delivered again, it is then a duplicate.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from application.recording.outcomes import NotAnswered

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Retry:
    """Commit this item again in a later batch; once the committer gives up, its submitter gets
    `error`."""

    error: Exception


@dataclass
class _Waiting(Generic[Item, Result]):
    item: Item
    wake: Callable[[], None]  # called from the committer's thread once answered
    deadline: float  # after this, a `Retry` is the submitter's error
    attempts: int = 0
    result: Result | Exception | None = None
    error: BaseException | None = None

    def answer(self) -> Result:
        if self.error is not None:
            raise self.error
        if isinstance(self.result, Exception):
            raise self.result
        assert self.result is not None
        return self.result


@dataclass(order=True)
class _Deferred(Generic[Item, Result]):
    due: float
    order: int
    waiting: _Waiting[Item, Result] = field(compare=False)


Commit = Callable[[Sequence[Item]], Sequence[Result | Exception | Retry]]
# Told of each batch committed: how many items it held and how long its commit took.
BatchObserver = Callable[[int, float], None]


class GroupCommitter(Generic[Item, Result]):
    """Runs `commit(batch)` on batches of submitted items, one batch at a time.

    `commit` returns one result per item, in order: a result that is an exception is
    raised to that item's submitter alone; a `Retry` puts the item in a later batch.
    """

    def __init__(
        self,
        commit: Commit[Item, Result],
        max_batch: int = 256,
        retry_for: float = 10.0,
        answer_within: float | None = None,
    ) -> None:
        self._commit = commit
        self._max_batch = max_batch
        self._retry_for = retry_for
        # Past retries, a commit gets this long (a slow disk, a lock held by another process).
        self._answer_within = answer_within or retry_for + 30.0
        self._ready: deque[_Waiting[Item, Result]] = deque()
        self._deferred: list[_Deferred[Item, Result]] = []  # a heap, soonest due first
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._batch: list[_Waiting[Item, Result]] = []  # the batch being committed
        self.observe_batch: BatchObserver | None = None

    def submit(self, item: Item) -> Result:
        """The item's result, once the batch it went in has committed (or its error)."""
        return self.submit_all([item])[0]

    def submit_all(self, items: Sequence[Item]) -> list[Result]:
        """Each item's result, in order, once committed; the first error is raised, after all
        were answered. The items are queued at once, so they go in the fewest batches."""
        done = threading.Semaphore(0)
        waiting = [self._waiting(item, done.release) for item in items]
        self._enqueue(waiting)
        deadline = time.monotonic() + self._answer_within
        for _ in waiting:
            if not done.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise NotAnswered(f"not answered within {self._answer_within:.0f} s")
        return [w.answer() for w in waiting]

    async def submit_async(self, item: Item) -> Result:
        """As `submit`, awaited. A cancelled caller's item is still committed (its answer lost)."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def settle() -> None:
            if not done.done():
                done.set_result(None)

        def wake() -> None:
            if not loop.is_closed():  # a closed loop has nobody waiting any more
                loop.call_soon_threadsafe(settle)

        waiting = self._waiting(item, wake)
        self._enqueue([waiting])
        try:
            await asyncio.wait_for(asyncio.shield(done), self._answer_within)
        except TimeoutError:
            raise NotAnswered(f"not answered within {self._answer_within:.0f} s") from None
        return waiting.answer()

    def _waiting(self, item: Item, wake: Callable[[], None]) -> _Waiting[Item, Result]:
        return _Waiting(item, wake, deadline=time.monotonic() + self._retry_for)

    def _enqueue(self, waiting: list[_Waiting[Item, Result]]) -> None:
        with self._changed:
            if self._closed:
                raise RuntimeError("closed: nothing more is appended")
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
                self._thread.start()
            self._ready.extend(waiting)
            self._changed.notify()

    def take_arrivals(self, accept: Callable[[Item], bool]) -> list[Item]:
        """For the batch being committed (called by its `commit`, in the committer's thread):
        the items submitted since it was taken, in order, while `accept` holds and the batch
        has room. They join that batch and get their results from it: a commit that had to
        wait its turn (another process's append held the lock) takes in what arrived
        meanwhile, instead of leaving it to a smaller batch of its own."""
        taken: list[Item] = []
        with self._changed:
            while (self._ready and len(self._batch) < self._max_batch
                   and accept(self._ready[0].item)):  # fmt: skip
                self._batch.append(self._ready.popleft())
                taken.append(self._batch[-1].item)
        return taken

    def waiting(self) -> bool:
        """Whether items are queued for the next batch."""
        return bool(self._ready)

    def close(self) -> None:
        """Commit what was submitted (retries included), then stop; later submissions are
        refused."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join(timeout=self._retry_for + 10)

    def _next_batch(self) -> list[_Waiting[Item, Result]]:
        """The next items to commit, waiting for some (or for a retry to fall due); none once
        closed with nothing left."""
        with self._changed:
            while True:
                now = time.monotonic()
                while self._deferred and self._deferred[0].due <= now:
                    self._ready.append(heapq.heappop(self._deferred).waiting)
                if self._ready:
                    count = min(len(self._ready), self._max_batch)
                    return [self._ready.popleft() for _ in range(count)]
                if self._closed and not self._deferred:
                    return []
                timeout = self._deferred[0].due - now if self._deferred else None
                self._changed.wait(timeout)  # a submission or `close` wakes it at once

    def _run(self) -> None:
        while batch := self._next_batch():
            started = time.perf_counter()
            self._batch = batch  # `take_arrivals` may add to it
            try:
                results = self._commit([w.item for w in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"{len(results)} results for {len(batch)} items")
            except BaseException as error:  # every waiter hears of it; the thread carries on
                for waiting in batch:
                    waiting.error = error
                    waiting.wake()
                continue
            self._observed(len(batch), time.perf_counter() - started)
            for waiting, result in zip(batch, results, strict=True):
                if isinstance(result, Retry):
                    self._retry(waiting, result)
                else:
                    waiting.result = result
                    waiting.wake()

    def _observed(self, size: int, seconds: float) -> None:
        """Tell the observer (metrics) of a committed batch; its failure is never the batch's."""
        if self.observe_batch is not None:
            try:
                self.observe_batch(size, seconds)
            except Exception:
                log.exception("the batch observer failed")

    def _retry(self, waiting: _Waiting[Item, Result], retry: Retry) -> None:
        """Put the item in a later batch after a growing, jittered delay, or give up."""
        delay = random.uniform(0.5, 1.0) * min(0.5, 0.01 * 2**waiting.attempts)
        waiting.attempts += 1
        due = time.monotonic() + delay
        if due > waiting.deadline:
            waiting.result = retry.error
            waiting.wake()
            return
        with self._changed:
            heapq.heappush(self._deferred, _Deferred(due, next(self._order), waiting))
