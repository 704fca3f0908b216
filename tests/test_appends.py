"""Appending to the ledger: several writers on one database, bodies kept exactly as sent."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from domain.aggregates import Check
from ledger.application import Duplicate, Ledger, Recorded
from ledger.ingestion import ingest
from tests.conftest import MASTER_KEY
from tests.databases import NewDatabase


def session_event(n: int) -> bytes:
    return json.dumps({"event": "session.started", "session_id": f"s{n % 3}", "is_sandbox": False,
                       "external_ref": "u1", "idempotency_key": f"k{n}"}).encode()  # fmt: skip


def test_four_ledger_processes_on_one_stream_record_every_delivery_once(
    new_database: NewDatabase,
) -> None:
    """Each `Ledger` has its own lock and cache, as four server processes would."""
    url = new_database()
    writers = [Ledger.open(url, master_key=MASTER_KEY) for _ in range(4)]
    bodies = [session_event(n) for n in range(60)] * 2  # every delivery twice
    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(lambda i: ingest(writers[i % 4], bodies[i], None),
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
    ingest(ledger, json.dumps(tricky).encode(), None)
    follow_up = {**tricky, "event": "session.started", "idempotency_key": "k2"}
    assert isinstance(ingest(ledger, json.dumps(follow_up).encode(), None), Recorded)
    timeline = ledger.timeline("u1", ledger.as_of())
    assert timeline is not None
    assert [e.payload for e in timeline] == [tricky, follow_up]


def test_an_append_whose_index_fails_stores_nothing(ledger: Ledger) -> None:
    stream = Check(key="c1", event_type="check.completed", idempotency_key="k", body="{}")
    with pytest.raises(ValueError, match="index entry"):
        ledger.save(stream, index_entries=[])  # no index entry for the event: refused
    with ledger.datastore.transaction(commit=False) as c:
        c.execute(f"SELECT count(*) AS n FROM {ledger.sql.events_table}")
        assert c.fetchone()["n"] == 0
