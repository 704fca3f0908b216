"""The projection runner: several runners on one ledger, each batch applied exactly once."""

from __future__ import annotations

import threading

import pytest

from application.ledger import Ledger
from application.storage.dialect import POSTGRES
from application.storage.unit_of_work import UnitOfWork
from bootstrap.services import open_read_models
from projections.models import SUBJECT_STATUS
from projections.new_entries import NewEntries
from projections.read_model import Build
from projections.runner import ProjectionRunner
from tests.helpers import deliver_all, session_event


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
