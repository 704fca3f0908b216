"""Group commit: deliveries that arrive together are appended together, in one transaction.

Each request hands its delivery to the committer and waits: a thread blocks
(`submit`), a coroutine awaits (`submit_async`, so the event loop serves other
requests meanwhile, with no thread of its own). The committer's thread takes
everything waiting (up to a batch), appends it in one transaction, and answers
every delivery of the batch only after that commit, so an acknowledgement still
means durably recorded. One commit (one fsync, one table lock) then serves many
deliveries.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Waiting(Generic[Item, Result]):
    item: Item
    wake: Callable[[], None]  # called from the committer's thread once answered
    result: Result | Exception | None = None
    error: BaseException | None = None

    def answer(self) -> Result:
        if self.error is not None:
            raise self.error
        if isinstance(self.result, Exception):
            raise self.result
        assert self.result is not None
        return self.result


class GroupCommitter(Generic[Item, Result]):
    """Runs `commit(batch)` on batches of submitted items, one batch at a time.

    `commit` returns one result per item, in order; a result that is an exception
    is raised to that item's submitter alone.
    """

    def __init__(
        self, commit: Callable[[Sequence[Item]], list[Result | Exception]], max_batch: int = 256
    ) -> None:
        self._commit = commit
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Waiting[Item, Result] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    def submit(self, item: Item) -> Result:
        """The item's result, once the batch it went in has committed (or its error)."""
        done = threading.Event()
        waiting: _Waiting[Item, Result] = _Waiting(item, done.set)
        self._enqueue(waiting)
        done.wait()
        return waiting.answer()

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

        waiting: _Waiting[Item, Result] = _Waiting(item, wake)
        self._enqueue(waiting)
        await done
        return waiting.answer()

    def _enqueue(self, waiting: _Waiting[Item, Result]) -> None:
        with self._start_lock:
            if self._closed:
                raise RuntimeError("closed: nothing more is appended")
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
                self._thread.start()
            self._queue.put(waiting)

    def waiting(self) -> bool:
        """Whether items are queued for the next batch."""
        return not self._queue.empty()

    def close(self) -> None:
        """Commit what was submitted, then stop; later submissions are refused."""
        with self._start_lock:
            self._closed = True
            self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(more)
            try:
                results = self._commit([w.item for w in batch])
            except BaseException as error:  # every waiter hears of it; the thread carries on
                for waiting in batch:
                    waiting.error = error
                    waiting.wake()
                continue
            for waiting, result in zip(batch, results, strict=True):
                waiting.result = result
                waiting.wake()
