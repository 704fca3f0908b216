"""The projection runner: several runners on one ledger, each batch applied exactly once."""

from __future__ import annotations

import pytest

from ledger.application import Ledger
from ledger.services import read_model_store
from projections.models import SUBJECT_STATUS
from projections.read_model import Build
from projections.runner import ProjectionRunner
from tests.test_properties import deliver_all


def test_a_runner_that_loses_a_race_skips_the_batch_and_never_goes_backwards(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliver_all(ledger, [
        {"event": "session.created", "session_id": f"s{n}", "is_sandbox": False,
         "external_ref": f"u{n % 3}", "idempotency_key": f"k{n}"}
        for n in range(20)
    ])  # fmt: skip
    models = [SUBJECT_STATUS]
    winner = ProjectionRunner(ledger.history, read_model_store(ledger, models), models)
    winner.catch_up()
    build = winner.store.serving(SUBJECT_STATUS.name)
    assert build is not None
    before = winner.store.get(build, "u1")

    loser_store = read_model_store(ledger, models)
    stale = [0]  # its first read of its position is stale, as when another runner commits
    real_position = loser_store.position

    def position(build: Build) -> int:
        return stale.pop() if stale else real_position(build)

    monkeypatch.setattr(loser_store, "position", position)
    loser = ProjectionRunner(ledger.history, loser_store, models, batch_size=5)
    assert loser.catch_up() == 0
    assert winner.store.position(build) == ledger.as_of().position
    assert winner.store.get(build, "u1") == before
