"""Group commit: deliveries that arrive together are committed together, each answered after it."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from ledger.application import Delivery, Duplicate, Ledger, Recorded
from ledger.group_commit import GroupCommitter


def test_concurrent_submissions_are_committed_in_batches_and_each_gets_its_own_result() -> None:
    batches: list[list[int]] = []
    gate = threading.Event()

    def commit(items: Sequence[int]) -> list[int | Exception]:
        gate.wait(5)  # hold the first batch so the others queue up behind it
        batches.append(list(items))
        return [ValueError(f"odd {n}") if n % 7 == 0 else n * 10 for n in items]

    committer: GroupCommitter[int, int] = GroupCommitter(commit, max_batch=8)
    with ThreadPoolExecutor(24) as pool:
        futures = {n: pool.submit(committer.submit, n) for n in range(1, 49)}
        gate.set()
        for n, future in futures.items():
            if n % 7 == 0:
                with pytest.raises(ValueError, match=f"odd {n}"):
                    future.result()
            else:
                assert future.result() == n * 10
    committer.close()
    assert sorted(n for batch in batches for n in batch) == list(range(1, 49))
    assert max(len(batch) for batch in batches) > 1
    assert all(len(batch) <= 8 for batch in batches)


def test_a_failed_commit_fails_its_batch_only_and_the_committer_carries_on() -> None:
    calls = []

    def commit(items: Sequence[str]) -> list[str | Exception]:
        calls.append(items)
        if len(calls) == 1:
            raise ConnectionError("database went away")
        return [item.upper() for item in items]

    committer: GroupCommitter[str, str] = GroupCommitter(commit)
    with pytest.raises(ConnectionError):
        committer.submit("a")
    assert committer.submit("b") == "B"
    committer.close()


def delivery(n: int, key: str | None = None) -> Delivery:
    payload = {"event": "session.created", "session_id": f"s{n}", "external_ref": f"u{n % 3}",
               "is_sandbox": False, "idempotency_key": key or f"k{n}"}  # fmt: skip
    return Delivery(json.dumps(payload), payload, str(payload["idempotency_key"]))


def test_a_backfill_keeps_the_order_of_its_deliveries_and_answers_duplicates(
    ledger: Ledger,
) -> None:
    first = ledger.record(delivery(0))
    batch = [delivery(1), delivery(2), delivery(0), delivery(3), delivery(9, key="k1")]
    results = ledger.record_all(batch)
    assert isinstance(first, Recorded)
    assert results[2] == Duplicate(first.position)  # recorded before the batch
    assert results[4] == Duplicate(results[0].position)  # a key repeated within the batch
    recorded = [r.position for r in results if isinstance(r, Recorded)]
    assert recorded == sorted(recorded) and len(recorded) == 3
    entries = ledger.history.entries(ledger.as_of())
    assert [e.idempotency_key for e in entries] == ["k0", "k1", "k2", "k3"]


def test_deliveries_from_many_threads_are_each_recorded_once(ledger: Ledger) -> None:
    deliveries = [delivery(n) for n in range(120)] + [delivery(n) for n in range(0, 120, 3)]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(ledger.record, deliveries))
    recorded = {r.position for r in results if isinstance(r, Recorded)}
    assert len(recorded) == 120
    originals = {d.idempotency_key: r.position
                 for d, r in zip(deliveries[:120], results[:120], strict=True)}  # fmt: skip
    for d, r in zip(deliveries[120:], results[120:], strict=True):
        assert r.position == originals[d.idempotency_key]
    assert ledger.chain.verify().ok


def test_closing_commits_what_was_submitted_and_refuses_the_rest() -> None:
    committed: list[int] = []

    def commit(items: Sequence[int]) -> list[int | Exception]:
        committed.extend(items)
        return list(items)

    committer: GroupCommitter[int, int] = GroupCommitter(commit)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(committer.submit, range(40)))
    committer.close()
    assert results == list(range(40)) and sorted(committed) == list(range(40))
    with pytest.raises(RuntimeError, match="closed"):
        committer.submit(41)


def test_awaited_deliveries_are_batched_and_answered_in_the_event_loop() -> None:
    batches: list[list[int]] = []

    def commit(items: Sequence[int]) -> list[int | Exception]:
        batches.append(list(items))
        return [ValueError(f"odd {n}") if n % 5 == 0 else -n for n in items]

    committer: GroupCommitter[int, int] = GroupCommitter(commit)

    async def submit_all() -> list[int | BaseException]:
        return await asyncio.gather(*(committer.submit_async(n) for n in range(1, 41)),
                                    return_exceptions=True)  # fmt: skip

    results = asyncio.run(submit_all())
    committer.close()
    for n, result in enumerate(results, start=1):
        if n % 5 == 0:
            assert isinstance(result, ValueError) and str(result) == f"odd {n}"
        else:
            assert result == -n
    assert sorted(n for batch in batches for n in batch) == list(range(1, 41))
    assert max(len(batch) for batch in batches) > 1  # they waited together


def test_an_awaited_delivery_whose_caller_gave_up_is_still_committed() -> None:
    gate, committed = threading.Event(), []

    def commit(items: Sequence[str]) -> list[str | Exception]:
        gate.wait(5)
        committed.extend(items)
        return list(items)

    committer: GroupCommitter[str, str] = GroupCommitter(commit)

    async def give_up() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(committer.submit_async("abandoned"), timeout=0.05)

    asyncio.run(give_up())
    gate.set()
    assert committer.submit("next") == "next"  # the committer carries on
    committer.close()
    assert committed == ["abandoned", "next"]
