"""The projection runner: several runners on one ledger, each batch applied exactly once."""

from __future__ import annotations

from pathlib import Path

from ledger.application import Ledger
from projections.models import SUBJECT_STATUS
from projections.read_model import ReadModel, SQLiteReadModelStore
from projections.runner import ProjectionRunner
from tests.test_properties import deliver_all


class StaleStore(SQLiteReadModelStore):
    """A store whose first position read is stale, as when another runner commits meanwhile."""

    stale_reads = 1

    def position(self, model: ReadModel) -> int:
        if self.stale_reads:
            self.stale_reads -= 1
            return 0
        return super().position(model)


def test_a_runner_that_loses_a_race_skips_the_batch_and_never_goes_backwards(
    tmp_path: Path,
) -> None:
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    deliver_all(
        ledger,
        [
            {
                "event": "session.created",
                "session_id": f"s{n}",
                "is_sandbox": False,
                "external_ref": f"u{n % 3}",
                "idempotency_key": f"k{n}",
            }
            for n in range(20)
        ],
    )
    winner = ProjectionRunner(
        ledger.history, SQLiteReadModelStore(ledger.datastore, [SUBJECT_STATUS])
    )
    winner.catch_up()
    before = winner.store.get(SUBJECT_STATUS, "u1")
    loser = ProjectionRunner(
        ledger.history, StaleStore(ledger.datastore, [SUBJECT_STATUS]), batch_size=5
    )
    assert loser.catch_up() == 0
    assert winner.store.position(SUBJECT_STATUS) == ledger.as_of().position
    assert winner.store.get(SUBJECT_STATUS, "u1") == before
    ledger.close()
