"""Streams (the aggregates) as stored: now, for appends, and as of a prefix, for reads.

Each is replayed from its stored events in one query, by the domain's `replay`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent

from application.storage.dialect import POSTGRES
from application.storage.unit_of_work import IN_CHUNK, UnitOfWork
from domain.aggregates import LedgerStream, replay
from domain.entries import AsOf, StreamKey


class StreamLoading:
    def __init__(self, uow: UnitOfWork, mapper: Mapper[UUID]) -> None:
        self.uow = uow
        self.mapper = mapper

    def versions(self, stream_ids: Sequence[UUID]) -> dict[UUID, int]:
        """The stored version of each of those streams that has events."""
        if not stream_ids:
            return {}
        # One index probe per stream (its last entry), whatever the planner's statistics say:
        # with none, PostgreSQL answered `stream_id IN (...)` by scanning the whole ledger.
        values = ",".join(["(?)"] * len(stream_ids))
        rows = self.uow.rows(f"SELECT v.column1 AS stream_id, (SELECT e.stream_version FROM"
                             f" ledger_entries e WHERE e.stream_id = v.column1 ORDER BY"
                             f" e.position DESC LIMIT 1) AS version FROM (VALUES {values}) AS v",
                             *(s.hex for s in stream_ids))  # fmt: skip
        return {UUID(row["stream_id"]): int(row["version"])
                for row in rows if row["version"] is not None}  # fmt: skip

    def current(self, stream_ids: Sequence[UUID]) -> dict[UUID, LedgerStream]:
        """Those of the streams that are stored, each as it stands now, all in one read."""
        if not stream_ids:
            return {}
        sql = self.uow.sql
        marks = ",".join("?" * len(stream_ids))
        ids = [s.hex if sql is not POSTGRES else s for s in stream_ids]
        return self._replayed(f"SELECT originator_id, originator_version, topic, state"
                              f" FROM {sql.events_table} WHERE originator_id IN ({marks})"
                              f" ORDER BY originator_id, originator_version", *ids)  # fmt: skip

    def caught_up(self, streams: Sequence[LedgerStream]) -> dict[UUID, LedgerStream]:
        """Streams held in memory, brought up to what is stored now by their later events
        alone (another process appended them since), a few hundred streams a read."""
        sql, later = self.uow.sql, {}
        for start in range(0, len(streams), IN_CHUNK):
            some = streams[start : start + IN_CHUNK]
            where = " OR ".join(["(originator_id = ? AND originator_version > ?)"] * len(some))
            params = [p for s in some for p in (s.id if sql is POSTGRES else s.id.hex, s.version)]
            later.update(self._events(
                f"SELECT originator_id, originator_version, topic, state FROM {sql.events_table}"
                f" WHERE {where} ORDER BY originator_id, originator_version", *params))  # fmt: skip
        return {s.id: replay(s, later.get(s.id, ())) for s in streams}

    def as_of(self, stream: StreamKey, as_of: AsOf) -> LedgerStream | None:
        """The stream's aggregate as it stood at the prefix (None before its first event)."""
        sql = self.uow.sql
        streams = self._replayed(
            f"SELECT s.originator_id, s.originator_version, s.topic, s.state"
            f" FROM ledger_entries e JOIN {sql.events_table} s"
            f" ON s.{sql.position_column} = e.position"
            " WHERE e.stream_id=? AND e.position<=? ORDER BY e.position",
            stream.id.hex,
            as_of.position,
        )
        return streams.get(stream.id)

    def _replayed(self, query: str, *params: Any) -> dict[UUID, LedgerStream]:
        """The streams of the stored events the query selects, in version order per stream."""
        return {stream_id: replay(None, stream)
                for stream_id, stream in self._events(query, *params).items()}  # fmt: skip

    def _events(self, query: str, *params: Any) -> dict[UUID, list[Any]]:
        """The domain events the query selects, by stream, in the query's order."""
        events: dict[UUID, list[Any]] = {}
        for row in self.uow.rows(query, *params):
            stream_id = UUID(str(row["originator_id"]))
            stored = StoredEvent(stream_id, row["originator_version"], row["topic"],
                                 bytes(row["state"]))  # fmt: skip
            events.setdefault(stream_id, []).append(self.mapper.to_domain_event(stored))
        return events
