"""What the ledger relies on in `eventsourcing`'s private methods: an upgrade that changes any
of it fails here, by name, before anything else does.

The ledger writes its events, index rows, data keys and read models' tracking in
its own units of work. The library's public methods each open a transaction of
their own, so the ledger calls the methods beneath them that take a cursor:
`SQLiteApplicationRecorder._insert_events`, `PostgresApplicationRecorder.
_insert_stored_events` (`application/storage/recorders.py`), and the tracking
recorders' `_insert_tracking` and `_max_tracking_id` (`projections/store.py`).
It also relies on `Application.save` passing keyword arguments through to the
recorder's `insert_events`, and on `SQLiteTransaction` (`application/storage/
database.py`) rolling back and translating errors, and on the PostgreSQL pool's `kwargs`
holding its connection settings (`Database.connection_target`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresTrackingRecorder,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore, SQLiteTrackingRecorder
from psycopg.conninfo import conninfo_to_dict

from application.ledger import Ledger
from application.storage.dialect import POSTGRES
from domain.aggregates import Check
from tests.helpers import MASTER_KEY


def stored(version: int = 1) -> StoredEvent:
    return StoredEvent(uuid4(), version, "topic", b"state")


def count(ledger: Ledger) -> int:
    with ledger.reading() as history:
        uow = history.unit_of_work
        return int(uow.rows(f"SELECT count(*) AS n FROM {uow.sql.events_table}")[0]["n"])


def test_the_recorders_insert_on_the_cursor_they_are_given_and_return_positions(
    ledger: Ledger,
) -> None:
    """Inserted in the caller's transaction, numbered, and gone if it rolls back."""
    recorder: Any = ledger.recorder
    events = [stored(), stored()]
    with pytest.raises(RuntimeError, match="roll back"), ledger.database.writing() as uow:
        if ledger.database.sql is POSTGRES:
            assert isinstance(recorder, PostgresApplicationRecorder)
            with uow.cursor.connection.pipeline():
                recorder._insert_stored_events(uow.cursor, events)
                positions = [row["notification_id"] for row in uow.cursor.fetchall()]
            # ... and it took the lock that orders positions, until the transaction ends.
            locks = uow.rows("SELECT mode FROM pg_locks WHERE pid = pg_backend_pid()"
                             " AND relation = ?::regclass", uow.sql.events_table)  # fmt: skip
            assert {"ExclusiveLock"} <= {row["mode"] for row in locks}
        else:
            assert isinstance(recorder, SQLiteApplicationRecorder)
            positions = list(recorder._insert_events(uow.cursor, events) or [])
        assert len(positions) == 2 and positions[1] > positions[0] > 0
        assert count(ledger) == 0  # not committed: other connections do not see it
        raise RuntimeError("roll back")
    assert count(ledger) == 0


def test_save_passes_its_keyword_arguments_to_the_recorders_insert() -> None:
    seen: dict[str, Any] = {}

    class Recording(Application[Any]):
        def __init__(self) -> None:
            super().__init__()
            insert = self.recorder.insert_events

            def insert_events(events: Any, **kwargs: Any) -> Any:
                seen.update(kwargs)
                return insert(events)

            self.recorder.insert_events = insert_events  # type: ignore[method-assign,assignment]

    app = Recording()
    app.save(Check(key="c", event_type="check.completed", idempotency_key="k", body="{}"),
             unit_of_work="the unit")  # fmt: skip
    assert seen["unit_of_work"] == "the unit"


def test_tracking_is_written_and_read_on_the_cursor_given(ledger: Ledger) -> None:
    """Exactly once: a position written again for the same name is refused."""
    datastore = ledger.database.datastore
    recorder: Any
    if ledger.database.sql is POSTGRES:
        assert isinstance(datastore, PostgresDatastore)
        recorder = PostgresTrackingRecorder(datastore)
    else:
        assert isinstance(datastore, SQLiteDatastore)
        recorder = SQLiteTrackingRecorder(datastore)
    recorder.create_table()
    with ledger.database.writing() as uow:
        assert recorder._max_tracking_id("seam", uow.cursor) is None
        recorder._insert_tracking(uow.cursor, Tracking("seam", 5))
        assert recorder._max_tracking_id("seam", uow.cursor) == 5
    assert recorder.max_tracking_id("seam") == 5
    with pytest.raises(IntegrityError), ledger.database.writing() as uow:
        recorder._insert_tracking(uow.cursor, Tracking("seam", 5))
    assert recorder.max_tracking_id("seam") == 5


def test_a_writing_unit_on_sqlite_holds_the_write_lock_and_translates_errors(
    tmp_path: Path,
) -> None:
    """`Database.writing` begins the library's `SQLiteTransaction` with the write lock: no other
    connection writes meanwhile, an error rolls everything back as the library's own error."""
    path = tmp_path / "seam.db"
    ledger = Ledger.open(f"sqlite:///{path}", master_key=MASTER_KEY)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with ledger.database.writing(), pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # released once the unit has committed
        other.execute("ROLLBACK")
        with pytest.raises(IntegrityError), ledger.database.writing() as uow:
            uow.execute("INSERT INTO access_log (at, who, role, subject, what)"
                        " VALUES ('now', 'w', 'admin', 's', 'kept?')")  # fmt: skip
            uow.execute("INSERT INTO access_log (id, at, who, role, subject, what)"
                        " SELECT id, at, who, role, subject, what FROM access_log")  # fmt: skip
        assert ledger.access_log.list() == []
        # An append's unit takes the lock at its first write: its reads leave it free.
        with ledger.database.writing(lock_first=False) as uow:
            uow.rows("SELECT count(*) AS n FROM access_log")
            other.execute("BEGIN IMMEDIATE")  # nobody holds the lock yet
            other.execute("ROLLBACK")
            uow.execute("INSERT INTO access_log (at, who, role, subject, what)"
                        " VALUES ('now', 'w', 'admin', 's', 'kept')")  # fmt: skip
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        assert [a.what for a in ledger.access_log.list()] == ["kept"]
    finally:
        other.close()
        ledger.close()


def test_another_process_can_open_the_database_to_read_it(ledger: Ledger) -> None:
    """`ledger verify`'s leaf workers open the database themselves: from the SQLite file's
    path, or from the connection settings of the library's PostgreSQL pool (`kwargs`)."""
    target = ledger.database.connection_target()
    assert target is not None
    kind, where = target
    if kind == "postgres":
        settings = conninfo_to_dict(where)
        assert {"dbname", "host", "port", "user"} <= set(settings)
        with psycopg.connect(where) as connection:
            assert connection.execute("SELECT count(*) FROM ledger_entries").fetchone() == (0,)
    else:
        assert kind == "sqlite" and Path(where).is_file()
