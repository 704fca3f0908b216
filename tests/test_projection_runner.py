"""The projection runner: several runners on one ledger, each batch applied exactly once."""

from __future__ import annotations

import pytest

from ledger.application import Ledger
from ledger.services import read_model_store
from projections.models import SUBJECT_STATUS
from projections.read_model import ReadModel
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
    winner = ProjectionRunner(ledger.history, read_model_store(ledger, [SUBJECT_STATUS]))
    winner.catch_up()
    before = winner.store.get(SUBJECT_STATUS, "u1")

    loser_store = read_model_store(ledger, [SUBJECT_STATUS])
    stale = [0]  # its first read of its position is stale, as when another runner commits
    real_position = loser_store.position

    def position(model: ReadModel) -> int:
        return stale.pop() if stale else real_position(model)

    monkeypatch.setattr(loser_store, "position", position)
    loser = ProjectionRunner(ledger.history, loser_store, batch_size=5)
    assert loser.catch_up() == 0
    assert winner.store.position(SUBJECT_STATUS) == ledger.as_of().position
    assert winner.store.get(SUBJECT_STATUS, "u1") == before
