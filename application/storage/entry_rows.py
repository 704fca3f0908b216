"""Ledger entries as the store gives them back: an index row joined with its stored event."""

from __future__ import annotations

import base64
import json
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent

from application.storage.dialect import Dialect
from domain.aggregates import DELIVERY_TOPICS, LedgerStream
from domain.entries import LedgerEntry, StreamKey

_COLUMNS = """e.position, e.recorded_at, e.event_type, e.idempotency_key, e.stream_type,
    e.stream_key, s.originator_id, s.originator_version, s.topic, s.state"""


class EntryRows:
    """The query that selects entries (`select`, to be followed by a WHERE clause on `e.` and
    `s.` columns), and the decoding of its rows."""

    def __init__(self, sql: Dialect, mapper: Mapper[UUID]) -> None:
        self.mapper = mapper
        self.select = (f"SELECT {_COLUMNS} FROM ledger_entries e JOIN {sql.events_table} s"
                       f" ON s.{sql.position_column} = e.position")  # fmt: skip

    def entry(self, row: Any) -> LedgerEntry:
        body, sealed, scope = self._delivery(row)
        return LedgerEntry(
            position=row["position"],
            recorded_at=row["recorded_at"],
            event_type=row["event_type"],
            idempotency_key=row["idempotency_key"],
            stream=StreamKey(row["stream_type"], row["stream_key"]),
            payload=json.loads(body),
            sealed=base64.b64decode(sealed) if sealed else None,
            scope=scope,
        )

    def _delivery(self, row: Any) -> tuple[str, str | None, str | None]:
        """The stored event's body, sealed body and scope.

        Read from its stored JSON when it is one of the ledger's delivery events stored
        as plain JSON (the ledger configures no compression or cipher): the library's
        mapper would build the whole event, timestamp and all, to give three strings.
        """
        state = bytes(row["state"])
        if row["topic"] in DELIVERY_TOPICS and state[:1] == b"{":
            fields = json.loads(state)
            return fields["body"], fields.get("sealed"), fields.get("scope")
        event = self.mapper.to_domain_event(
            StoredEvent(
                UUID(str(row["originator_id"])), row["originator_version"], row["topic"], state
            )
        )
        assert isinstance(event, LedgerStream.Opened | LedgerStream.Recorded)
        return event.body, event.sealed, event.scope
