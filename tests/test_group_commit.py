"""Group commit: deliveries that arrive together are committed together, each answered after it."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from application.ledger import Ledger
from application.recording.delivery import Delivery
from application.recording.group_commit import GroupCommitter, Retry
from application.recording.outcomes import Duplicate, LedgerBusy, NotAnswered, Recorded
from application.storage.stream_loading import StreamLoading
from domain.entries import StreamKey
from tests.databases import NewDatabase, fresh_database_url
from tests.helpers import (
    MASTER_KEY,
    all_entries,
    position_of,
    session_event,
    stale_loads,
    verifa_entries,
    wait_until,
)


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
                    future.result(timeout=10)
            else:
                assert future.result(timeout=10) == n * 10
    committer.close()
    assert sorted(n for batch in batches for n in batch) == list(range(1, 49))
    assert max(len(batch) for batch in batches) > 1
    assert all(len(batch) <= 8 for batch in batches)


def test_a_commit_takes_in_what_arrived_while_it_waited_its_turn_as_far_as_it_accepts() -> None:
    """Items queued while a commit waited (for another process's lock) join its batch, up to
    the batch's room and the first item it does not accept; the rest make the next batch."""
    waiting_its_turn, turn = threading.Event(), threading.Event()
    batches: list[list[int]] = []

    def commit(items: Sequence[int]) -> list[int]:
        if items == [1]:
            waiting_its_turn.set()
            turn.wait(5)
        taken = [*items, *committer.take_arrivals(lambda n: n != 0)]
        batches.append(taken)
        return [n * 10 for n in taken]

    committer: GroupCommitter[int, int] = GroupCommitter(commit, max_batch=10)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(committer.submit, 1)
        assert waiting_its_turn.wait(5)
        rest = pool.submit(committer.submit_all, [2, 3, 4, 5, 6, 7, 0, 8, 9, 10, 11, 12])
        wait_until(committer.waiting, what="the rest queued")
        turn.set()
        assert first.result(timeout=10) == 10
        assert rest.result(timeout=10) == [20, 30, 40, 50, 60, 70, 0, 80, 90, 100, 110, 120]
    committer.close()
    assert batches == [[1, 2, 3, 4, 5, 6, 7], [0, 8, 9, 10, 11, 12]]


def test_deliveries_that_queue_while_another_process_holds_the_append_lock_join_the_batch(
    tmp_path: Path,
) -> None:
    """On PostgreSQL a batch waits for the lock that orders appends while another process
    appends; what this process received meanwhile goes in with it, in arrival order, so two
    processes taking turns append in batches as large as one process alone."""
    url = fresh_database_url("postgres", tmp_path)
    ledger = Ledger.open(url, master_key=MASTER_KEY)
    sizes: list[int] = []
    try:
        ledger.record(delivery(0))
        ledger.observe_batches(lambda size, seconds: sizes.append(size))
        with psycopg.connect(url) as other, ThreadPoolExecutor(2) as pool:
            other.execute("LOCK TABLE ledger_events IN EXCLUSIVE MODE")  # another's append
            first = pool.submit(ledger.record, delivery(1))
            wait_until(lambda: other.execute("SELECT count(*) FROM pg_locks WHERE NOT granted"
                                             " AND relation = 'ledger_events'::regclass"
                                             ).fetchone()[0],  # type: ignore[index]
                       what="the batch waiting for the lock")  # fmt: skip
            rest = pool.submit(ledger.record_all, [delivery(n) for n in range(2, 9)])
            wait_until(ledger._committer.waiting, what="the rest queued")
            other.rollback()  # its append is over
            outcomes = [first.result(timeout=10), *rest.result(timeout=10)]
        assert all(isinstance(outcome, Recorded) for outcome in outcomes)
        assert sizes == [8]
        assert [e.idempotency_key for e in verifa_entries(ledger)] == [f"k{n}" for n in range(9)]
    finally:
        ledger.close()


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


def delivery(n: int, key: str | None = None, ref: str | None = None) -> Delivery:
    payload = session_event(session_id=f"s{n}", ref=ref or f"u{n % 3}", key=key or f"k{n}")
    return Delivery(json.dumps(payload), payload, payload["idempotency_key"])


def test_a_backfill_keeps_the_order_of_its_deliveries_and_answers_duplicates(
    ledger: Ledger,
) -> None:
    first = ledger.record(delivery(0))
    batch = [delivery(1), delivery(2), delivery(0), delivery(3), delivery(9, key="k1")]
    results = ledger.record_all(batch)
    assert isinstance(first, Recorded)
    assert results[2] == Duplicate(first.position)  # recorded before the batch
    assert results[4] == Duplicate(position_of(results[0]))  # a key repeated within the batch
    recorded = [r.position for r in results if isinstance(r, Recorded)]
    assert recorded == sorted(recorded) and len(recorded) == 3
    entries = verifa_entries(ledger)  # k1's other body is in quarantine
    assert [e.idempotency_key for e in entries] == ["k0", "k1", "k2", "k3"]


def test_deliveries_from_many_threads_are_each_recorded_once(ledger: Ledger) -> None:
    deliveries = [delivery(n) for n in range(120)] + [delivery(n) for n in range(0, 120, 3)]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(ledger.record, deliveries))
    recorded = {r.position for r in results if isinstance(r, Recorded)}
    assert len(recorded) == 120
    originals = {d.idempotency_key: position_of(r)
                 for d, r in zip(deliveries[:120], results[:120], strict=True)}  # fmt: skip
    for d, r in zip(deliveries[120:], results[120:], strict=True):
        assert position_of(r) == originals[d.idempotency_key]
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
    gate, committed = threading.Event(), list[str]()

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


def test_an_item_to_retry_goes_in_a_later_batch_while_the_others_are_committed() -> None:
    """No head-of-line blocking: a conflicting item waits in no batch while others go on."""
    contended = threading.Event()  # set while "x" must keep conflicting
    contended.set()
    attempts: list[str] = []

    def commit(items: Sequence[str]) -> list[str | Exception | Retry]:
        attempts.extend(items)
        return [Retry(LedgerBusy(item)) if item == "x" and contended.is_set() else item.upper()
                for item in items]  # fmt: skip

    committer: GroupCommitter[str, str] = GroupCommitter(commit, retry_for=30)
    with ThreadPoolExecutor(2) as pool:
        x = pool.submit(committer.submit, "x")
        wait_until(lambda: "x" in attempts, what="x tried once")
        y = pool.submit(committer.submit, "y")
        assert y.result(timeout=5) == "Y"  # answered while "x" is still being retried
        contended.clear()
        assert x.result(timeout=5) == "X"
    committer.close()
    assert attempts.count("x") >= 2 and attempts.count("y") == 1


def test_an_item_that_keeps_conflicting_gets_its_error_once_its_time_is_up() -> None:
    def commit(items: Sequence[str]) -> list[str | Exception | Retry]:
        return [Retry(LedgerBusy(f"{item} kept conflicting")) for item in items]

    committer: GroupCommitter[str, str] = GroupCommitter(commit, retry_for=0.3)
    with pytest.raises(LedgerBusy, match="x kept conflicting"):
        committer.submit("x")
    committer.close()


def test_a_commit_that_answers_the_wrong_number_of_results_fails_its_batch_only() -> None:
    calls: list[Sequence[str]] = []

    def commit(items: Sequence[str]) -> list[str | Exception | Retry]:
        calls.append(items)
        return [] if len(calls) == 1 else list(items)

    committer: GroupCommitter[str, str] = GroupCommitter(commit)
    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        committer.submit("a")
    assert committer.submit("b") == "b"  # the committer's thread lives on
    committer.close()


@pytest.mark.parametrize("conflicts", [1, 2])
def test_a_batch_that_conflicts_with_another_process_is_retried_delivery_by_delivery(
    new_database: NewDatabase, monkeypatch: pytest.MonkeyPatch, conflicts: int
) -> None:
    """The batch, then its deliveries alone (conflicts=1); one that conflicts again goes in a
    later batch (conflicts=2). Each is recorded once, nothing else is lost or doubled."""
    url = new_database()
    this, other = (Ledger.open(url, master_key=MASTER_KEY) for _ in range(2))
    shared = StreamKey("applicant", "shared")
    try:
        seen = position_of(this.record(delivery(1, ref="shared")))
        other.record(delivery(2, ref="shared"))  # another process appends to the stream
        stale = stale_loads(monkeypatch, shared, seen, times=conflicts)
        batch = [delivery(3, ref="shared"), delivery(4, ref="elsewhere"), delivery(1, "k1")]
        results = this.record_all(batch)
        assert len(stale) == conflicts
        assert [type(r) for r in results] == [Recorded, Recorded, Duplicate]
        entries = verifa_entries(this)
        # Retried in a later batch, k3 comes after the delivery that did not conflict.
        expected = ["k1", "k2", "k3", "k4"] if conflicts == 1 else ["k1", "k2", "k4", "k3"]
        assert [e.idempotency_key for e in entries] == expected
        with this.reading() as history:
            assert history.streams.versions([shared.id]) == {shared.id: 3}
        assert this.chain.verify().ok
    finally:
        this.close()
        other.close()


def test_a_stream_another_process_appended_to_is_caught_up_from_its_later_events(
    new_database: NewDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream this process holds in memory, appended to since by another, is brought up to
    date by reading the events it missed, not replayed from its first: and the batch goes
    in whole, with no conflict."""
    url = new_database()
    this, other = (Ledger.open(url, master_key=MASTER_KEY) for _ in range(2))
    shared = StreamKey("applicant", "shared")
    conflicts: list[int] = []
    this.observe_conflicts(conflicts.append)
    try:
        this.record_all([delivery(1, ref="shared"), delivery(2, ref="shared")])
        other.record_all([delivery(3, ref="shared"), delivery(4, ref="shared")])
        replayed: list[object] = []
        current = StreamLoading.current

        def replaying(self: StreamLoading, ids: Sequence[object]) -> object:
            replayed.extend(ids)
            return current(self, ids)  # type: ignore[arg-type]

        monkeypatch.setattr(StreamLoading, "current", replaying)
        assert isinstance(this.record(delivery(5, ref="shared")), Recorded)
        assert shared.id not in replayed
        assert conflicts == []
        with this.reading() as history:
            assert history.streams.versions([shared.id]) == {shared.id: 5}
            stream = history.streams.as_of(shared, this.as_of())
        assert stream is not None and stream.version == 5
        assert [e.idempotency_key for e in verifa_entries(this)] == ["k1", "k2", "k3", "k4", "k5"]
    finally:
        this.close()
        other.close()


def test_a_delivery_whose_stream_keeps_changing_is_answered_busy(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = position_of(ledger.record(delivery(1, ref="busy")))
    ledger.record(delivery(2, ref="busy"))
    stale_loads(monkeypatch, StreamKey("applicant", "busy"), seen, times=1_000_000)
    monkeypatch.setattr(ledger._committer, "_retry_for", 0.3)
    with pytest.raises(LedgerBusy, match="too much contention"):
        ledger.record(delivery(3, ref="busy"))
    assert [e.idempotency_key for e in all_entries(ledger)] == ["k1", "k2"]


def test_a_submitter_never_waits_forever_for_a_commit_that_hangs() -> None:
    """A hung database, or a committer thread that died, used to hold every request forever."""
    release = threading.Event()

    def hangs(items: Sequence[str]) -> list[str]:
        release.wait(timeout=30)
        return list(items)

    committer: GroupCommitter[str, str] = GroupCommitter(hangs, answer_within=0.3)
    with pytest.raises(NotAnswered, match="not answered within"):
        committer.submit("a")
    with pytest.raises(NotAnswered):
        asyncio.run(committer.submit_async("b"))
    release.set()
    committer.close()
