"""When the store cannot take a write, nothing is acknowledged: 503, so Verifa retries."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import OperationalError

from application.ledger import Ledger
from application.storage.unit_of_work import UnitOfWork
from tests.helpers import LedgerClient, seed_examples


def failing_save(*args: Any, **kwargs: Any) -> Any:
    raise OperationalError("database is locked")


def test_a_failed_append_answers_503_and_stores_nothing(
    client: LedgerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Ledger, "save", failing_save)
    answer = client.deliver(seed_examples()[0])
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert client.services.ledger.as_of().position == 0


def test_the_same_delivery_is_recorded_once_the_store_is_back(
    client: LedgerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as broken:
        broken.setattr(Ledger, "save", failing_save)
        assert client.deliver(seed_examples()[0]).status_code == 503
    assert client.deliver(seed_examples()[0]).json() == {"status": "recorded", "position": 1}


def test_reads_answer_503_when_the_store_fails(
    client: LedgerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_read(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("disk I/O error")

    monkeypatch.setattr(UnitOfWork, "rows", failing_read)
    assert client.read("/subjects/user_456/timeline").status_code == 503
