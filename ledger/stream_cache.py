"""The streams this process appends to, kept in memory between batches.

Only the group committer's thread appends, so the aggregate it saved last is the
stream as stored, unless another process (another API worker) appended since.
Each batch first compares the versions of its cached streams with the stored
ones (`drop_stale`), so such streams are loaded again. One that changes between
that check and the save conflicts (the library's optimistic concurrency): the
batch falls back to one append at a time from the store, and the cached streams
of that batch are forgotten. A stale entry can cost a retry, never a wrong event.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from uuid import UUID

from domain.aggregates import LedgerStream


class StreamCache:
    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._streams: OrderedDict[UUID, LedgerStream] = OrderedDict()
        self.absent: set[UUID] = set()  # streams the current batch found not stored yet

    def load_missing(
        self, stream_ids: Iterable[UUID], load: Callable[[list[UUID]], dict[UUID, LedgerStream]]
    ) -> None:
        """Load the streams not cached, all in one read; note those not stored at all."""
        missing = [stream_id for stream_id in stream_ids if stream_id not in self._streams]
        loaded = load(missing) if missing else {}
        self.keep(loaded.values())
        self.absent = set(missing) - loaded.keys()

    def get(self, stream_id: UUID) -> LedgerStream | None:
        stream = self._streams.get(stream_id)
        if stream is not None:
            self._streams.move_to_end(stream_id)
        return stream

    def cached(self, stream_ids: Iterable[UUID]) -> list[UUID]:
        return [stream_id for stream_id in stream_ids if stream_id in self._streams]

    def drop_stale(self, stored_versions: dict[UUID, int]) -> None:
        """Forget the streams whose stored version is not the cached one."""
        for stream_id, version in stored_versions.items():
            stream = self._streams.get(stream_id)
            if stream is not None and stream.version != version:
                del self._streams[stream_id]

    def keep(self, streams: Iterable[LedgerStream]) -> None:
        for stream in streams:
            self._streams[stream.id] = stream
            self._streams.move_to_end(stream.id)
        while len(self._streams) > self.size:
            self._streams.popitem(last=False)

    def forget(self, stream_ids: Iterable[UUID]) -> None:
        for stream_id in stream_ids:
            self._streams.pop(stream_id, None)
