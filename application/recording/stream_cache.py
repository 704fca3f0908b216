"""The streams this process appends to, kept in memory between batches: the one aggregate cache.

Only the group committer appends in a process, so the aggregate it saved last is
the stream as stored, unless another process appended since. A batch takes its
streams out of the cache (`take`), checks their versions against the stored ones
in one read (another process's appends make them stale: their later events are
read and applied),
and puts them back only once its commit has succeeded (`keep`). A batch that
fails leaves nothing advanced in memory that the store does not hold.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from uuid import UUID

from application.storage.stream_loading import StreamLoading
from domain.aggregates import LedgerStream


class StreamCache:
    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._streams: OrderedDict[UUID, LedgerStream] = OrderedDict()

    def take(self, stream_ids: Sequence[UUID], stored: StreamLoading) -> dict[UUID, LedgerStream]:
        """The streams as stored now (those with no events yet are absent): cached ones whose
        version is still the stored one, stale ones caught up, the others loaded; in three
        reads at most."""
        cached = {i: self._streams.pop(i) for i in stream_ids if i in self._streams}
        versions = stored.versions(list(cached))
        current = {i: s for i, s in cached.items() if versions.get(i) == s.version}
        current.update(stored.caught_up([s for i, s in cached.items()
                                         if versions.get(i, -1) > s.version]))  # fmt: skip
        current.update(stored.current([i for i in stream_ids if i not in current]))
        return current

    def keep(self, streams: Iterable[LedgerStream]) -> None:
        """Remember streams as just committed; the least recently used go past `size`."""
        for stream in streams:
            self._streams[stream.id] = stream
            self._streams.move_to_end(stream.id)
        while len(self._streams) > self.size:
            self._streams.popitem(last=False)
