"""Appending to the ledger: several writers on one database, bodies kept exactly as sent."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from eventsourcing.persistence import ProgrammingError

from application.ledger import Ledger
from application.recording.outcomes import Duplicate, Recorded
from domain.aggregates import Check
from domain.entries import StreamKey
from domain.routing import learn_links
from tests.databases import NewDatabase
from tests.helpers import MASTER_KEY, session_event


def test_four_ledger_processes_on_one_stream_record_every_delivery_once(
    new_database: NewDatabase,
) -> None:
    """Each `Ledger` has its own lock and cache, as four server processes would."""
    url = new_database()
    writers = [Ledger.open(url, master_key=MASTER_KEY) for _ in range(4)]
    bodies = [json.dumps(session_event("session.started", session_id=f"s{n % 3}", ref="u1",
                                       key=f"k{n}")).encode() for n in range(60)] * 2  # fmt: skip
    with ThreadPoolExecutor(16) as pool:  # every delivery twice
        outcomes = list(pool.map(lambda i: writers[i % 4].ingest(bodies[i], None),
                                 range(len(bodies))))  # fmt: skip
    recorded = [o.position for o in outcomes if isinstance(o, Recorded)]
    duplicates = [o for o in outcomes if isinstance(o, Duplicate)]
    assert len(recorded) == len(set(recorded)) == 60
    assert len(duplicates) == 60
    head = writers[0].as_of()
    timeline = writers[1].timeline("u1", head)
    assert timeline is not None
    assert [e.position for e in timeline] == sorted(recorded)
    recorded_at = [e.recorded_at for e in timeline]
    assert recorded_at == sorted(recorded_at)  # the ledger clock never goes back
    for writer in writers:
        writer.close()


def test_a_body_is_served_back_exactly_as_sent(ledger: Ledger) -> None:
    tricky = {"event": "session.created", "session_id": "s1", "external_ref": "u1",
              "is_sandbox": False, "idempotency_key": "k1",
              "meta": {"_type_": "uuid_hex", "_data_": "zz"}, "amount": {"_type_": "decimal_str",
              "_data_": "1.10"}, "note": "naïve ☃"}  # fmt: skip
    ledger.ingest(json.dumps(tricky).encode(), None)
    follow_up = {**tricky, "event": "session.started", "idempotency_key": "k2"}
    assert isinstance(ledger.ingest(json.dumps(follow_up).encode(), None), Recorded)
    timeline = ledger.timeline("u1", ledger.as_of())
    assert timeline is not None
    assert [e.payload for e in timeline] == [tricky, follow_up]


def stored_rows(ledger: Ledger) -> tuple[int, int]:
    """How many events and index rows the database holds."""
    with ledger.reading() as history:
        uow = history.unit_of_work
        [events] = uow.rows(f"SELECT count(*) AS n FROM {uow.sql.events_table}")
        [index] = uow.rows("SELECT count(*) AS n FROM ledger_entries")
    return events["n"], index["n"]


def test_an_append_whose_index_cannot_be_written_stores_nothing(ledger: Ledger) -> None:
    ledger.record_all([])  # nothing to do is not an error
    first = session_event(session_id="s1", ref="u1", key="k1")
    assert isinstance(ledger.ingest(json.dumps(first).encode(), None), Recorded)

    def failing_rules(book: Any, stream: StreamKey, payload: Any) -> None:
        raise RuntimeError("the links could not be learned")

    ledger.index.link_rules = failing_rules
    later = [session_event("session.started", session_id="s1", ref="u1", key=f"k{n}")
             for n in (2, 3)]  # fmt: skip
    with pytest.raises(RuntimeError, match="links could not be learned"):
        ledger.ingest_all([json.dumps(p).encode() for p in later])
    assert stored_rows(ledger) == (1, 1)  # neither event, nor its stream's next version
    ledger.index.link_rules = learn_links
    outcomes = ledger.ingest_all([json.dumps(p).encode() for p in later])
    assert [type(o) for o in outcomes] == [Recorded, Recorded]  # the stream was not left ahead
    assert stored_rows(ledger) == (3, 3)
    assert ledger.chain.verify().ok


def test_events_are_saved_only_with_their_index(ledger: Ledger) -> None:
    """The library's own save path, with no unit of work to write the index in, is refused."""
    stream = Check(key="c1", event_type="check.completed", idempotency_key="k", body="{}")
    with pytest.raises(ProgrammingError, match="appender"):
        ledger.save(stream)
    assert stored_rows(ledger) == (0, 0)
