"""The streams this process appends to, kept in memory between batches.

Only the group committer's thread appends, so the aggregate it saved last is the
stream as stored, unless another process appended since: then the next save
conflicts (the library's optimistic concurrency), the batch falls back to one
append at a time from the store, and the cached streams of that batch are
forgotten. A stale entry can cost a retry, never a wrong event.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from uuid import UUID

from domain.aggregates import LedgerStream


class StreamCache:
    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._streams: OrderedDict[UUID, LedgerStream] = OrderedDict()

    def get(self, stream_id: UUID) -> LedgerStream | None:
        stream = self._streams.get(stream_id)
        if stream is not None:
            self._streams.move_to_end(stream_id)
        return stream

    def keep(self, streams: Iterable[LedgerStream]) -> None:
        for stream in streams:
            self._streams[stream.id] = stream
            self._streams.move_to_end(stream.id)
        while len(self._streams) > self.size:
            self._streams.popitem(last=False)

    def forget(self, stream_ids: Iterable[UUID]) -> None:
        for stream_id in stream_ids:
            self._streams.pop(stream_id, None)
