"""The projection runner: several runners on one ledger, each batch applied exactly once."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from application.ledger import Ledger
from application.storage.dialect import POSTGRES
from application.storage.unit_of_work import UnitOfWork
from bootstrap.services import open_read_models
from projections.models import SUBJECT_STATUS
from projections.new_entries import NewEntries
from projections.read_model import Build
from projections.runner import ProjectionRunner
from tests.helpers import MASTER_KEY, deliver_all, session_event


def test_a_runner_that_loses_a_race_skips_the_batch_and_never_goes_backwards(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliver_all(ledger, [session_event(session_id=f"s{n}", ref=f"u{n % 3}", key=f"k{n}")
                         for n in range(20)])  # fmt: skip
    models = [SUBJECT_STATUS]
    winner = ProjectionRunner(ledger, open_read_models(ledger, models), models)
    winner.catch_up()
    build = winner.store.serving(SUBJECT_STATUS.name)
    assert build is not None
    before = winner.store.get(build, "u1")

    loser_store = open_read_models(ledger, models)
    stale = [0]  # its first read of its position is stale, as when another runner commits
    real_position = loser_store.position

    def position(build: Build, uow: UnitOfWork | None = None) -> int:
        return stale.pop() if stale else real_position(build, uow)

    monkeypatch.setattr(loser_store, "position", position)
    loser = ProjectionRunner(ledger, loser_store, models, batch_size=5)
    assert loser.catch_up() == 0
    assert winner.store.position(build) == ledger.as_of().position
    assert winner.store.get(build, "u1") == before


def session_created(n: int) -> dict[str, object]:
    return session_event(session_id=f"s{n}", ref=f"u{n}", key=f"k{n}")


def test_the_runner_hears_of_new_entries(ledger: Ledger) -> None:
    """PostgreSQL tells the library's subscription (LISTEN/NOTIFY); SQLite's head is polled."""
    stop = threading.Event()
    with NewEntries(ledger) as new_entries:
        if ledger.database.sql is POSTGRES:
            assert new_entries.pushed and new_entries.listening.wait(timeout=10)
            new_entries.wait(stop)  # the wake-up for anything recorded before it listened
            assert not new_entries.notified.is_set()
            deliver_all(ledger, [session_created(1)])
            assert new_entries.notified.wait(timeout=10)
        else:
            assert not new_entries.pushed
            new_entries.wait(stop)
            deliver_all(ledger, [session_created(1), session_created(2)])
            new_entries.wait(stop)
            assert new_entries.seen == ledger.as_of().position == 2


class RecordedWaits(threading.Event):
    """A stop event that notes how long the runner waits, and stops it after `times` waits."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.times = times

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        if len(self.waits) >= self.times:
            self.set()
        return self.is_set()


def test_a_failing_store_is_retried_ever_later_and_logged_once(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker used to retry every second forever, logging a traceback each time."""
    runner = ProjectionRunner(ledger, open_read_models(ledger, [SUBJECT_STATUS]), [SUBJECT_STATUS])

    def unreachable(*args: object, **kwargs: object) -> int:
        raise ConnectionError("the store went away")

    monkeypatch.setattr(runner, "catch_up", unreachable)
    stop = RecordedWaits(times=8)
    runner.run(stop)
    assert stop.waits == [1, 2, 4, 8, 16, 32, 60, 60]
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1


def test_the_links_a_batch_revealed_are_read_by_position_not_by_scanning_the_tables(
    tmp_path: Any,
) -> None:
    """Following the head must cost what the batch holds, not what the ledger holds: each
    read of the links a batch revealed probes an index by position. (Without one, a batch
    of ten entries scanned every link table: 13 ms at 100,000 entries, and growing.)"""
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", master_key=MASTER_KEY)
    try:
        sessions = [session_event(session_id=f"s{n}", ref=f"u{n}", key=f"k{n}",
                                  identity_id=f"i{n % 7}") for n in range(200)]  # fmt: skip
        deliver_all(ledger, sessions)
        with ledger.reading() as history:
            asked: list[tuple[str, tuple[Any, ...]]] = []
            rows = history.unit_of_work.rows

            def recorded(query: str, *params: Any) -> list[Any]:
                asked.append((query, params))
                return rows(query, *params)

            history.unit_of_work.rows = recorded  # type: ignore[method-assign]
            history.feed.link_changes(190, 200)
            history.unit_of_work.rows = rows  # type: ignore[method-assign]
            assert len(asked) == 4
            for query, params in asked:
                plan = [str(r[-1]) for r in history.unit_of_work.rows(f"EXPLAIN QUERY PLAN {query}",
                                                             *params)]  # fmt: skip
                assert not [step for step in plan if step.startswith("SCAN")], (query, plan)
    finally:
        ledger.close()
