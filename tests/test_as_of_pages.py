"""Lists as of a past point come a page at a time, each page examining a bounded number of
keys, and the pages together are exactly the list folded from the ledger (DESIGN §6)."""

from __future__ import annotations

from typing import Any

import pytest

from bootstrap.services import Services
from domain.entries import AsOf
from projections.models import ALERTS, REVIEW_QUEUE
from projections.pages import page_as_of
from projections.read_model import Row, Selection
from tests.helpers import LedgerClient, deliver_all, session_event


def review_history() -> list[dict[str, Any]]:
    """Sessions sent to review, some later approved; anonymous subjects restricted by hits."""
    history: list[dict[str, Any]] = []
    for n in range(23):
        ref = None if n % 4 == 0 else f"u{n:02}"
        history.append(session_event("session.requires-review", session_id=f"s{n:02}", ref=ref,
                                     key=f"review-{n}"))  # fmt: skip
        if n % 3 == 0:
            history.append(session_event("session.approved", session_id=f"s{n:02}", ref=ref,
                                         key=f"approve-{n}"))  # fmt: skip
        if n % 5 == 0:
            history.append({"event": "check.monitoring.new_hits", "check_id": f"c{n:02}",
                            "session_id": f"s{n:02}", "is_sandbox": False,
                            "monitor_run_id": f"m{n}", "trigger": "scheduled",
                            "new_hit_count": 1, "total_hit_count": 1, "max_new_score": 0.9,
                            "hit_sources": ["aml"], "hit_types": ["sanction"],
                            "providers_used": ["aml"], "idempotency_key": f"hit-{n}"})  # fmt: skip
    return history


def all_pages(services: Services, selection: Selection, as_of: AsOf, limit: int) -> list[Row]:
    rows, after, pages = [], "", 0
    while True:
        page = page_as_of(services.read_models, services.ledger, selection, as_of, after, limit)
        rows += page.rows
        pages += 1
        assert pages < 100
        if page.next_key is None:
            return rows
        after = page.next_key


@pytest.mark.parametrize("limit", [1, 4, 1000])
def test_the_pages_of_a_list_as_of_a_point_are_the_list_folded_from_the_ledger(
    services: Services, limit: int
) -> None:
    deliver_all(services.ledger, review_history())
    services.runner.catch_up()
    head = services.ledger.as_of().position
    more = [session_event("session.requires-review", session_id="late", ref="u_late",
                          key="late")]  # fmt: skip
    deliver_all(services.ledger, more)  # not applied by the read models yet: still listed
    selections = [Selection(REVIEW_QUEUE, status="session", flagged=True),
                  Selection(REVIEW_QUEUE, status="case", flagged=True),
                  Selection(ALERTS, status="check", flagged=True),
                  Selection(ALERTS, status="subject", flagged=True)]  # fmt: skip
    for position in (3, head // 2, head, head + 1):
        as_of = services.ledger.as_of(position)
        with services.ledger.reading() as history:
            folded = {s: [r for r in s.model.rows_as_of(history, as_of) if s.matches(r)]
                      for s in selections}  # fmt: skip
        for selection in selections:
            assert all_pages(services, selection, as_of, limit) == folded[selection]
    assert any(folded.values())


def test_a_page_examines_at_most_its_limit_of_keys(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliver_all(services.ledger, review_history())
    services.runner.catch_up()
    computed: list[str] = []
    compose = type(REVIEW_QUEUE).compose

    def counting(self: Any, history: Any, key: str, as_of: AsOf, known: Any) -> Any:
        computed.append(key)
        return compose(self, history, key, as_of, known)

    monkeypatch.setattr(type(REVIEW_QUEUE), "compose", counting)
    page = page_as_of(services.read_models, services.ledger,
                      Selection(REVIEW_QUEUE, status="session", flagged=True),
                      services.ledger.as_of(), "", 5)  # fmt: skip
    assert len(computed) == 5 and page.next_key == "s04"


def read_all_pages(
    client: LedgerClient, path: str, parts: list[str], **params: Any
) -> dict[str, list[Any]]:
    """Every row of each part of a list, paging on with `next_cursor`."""
    collected: dict[str, list[Any]] = {part: [] for part in parts}
    answer = client.read(path, **params).json()
    as_of = answer["as_of"]
    for _ in range(200):
        for part in parts:
            collected[part] += answer[part]
        assert answer["as_of"] == as_of  # the cursor pins the pages' prefix
        if answer["next_cursor"] is None:
            return collected
        answer = client.read(path, cursor=answer["next_cursor"], limit=params["limit"]).json()
    raise AssertionError("the pages never end")


def test_the_review_queue_and_the_alerts_page_now_and_as_of_a_point(
    client: LedgerClient,
) -> None:
    """They used to fold every key ever seen, twice per request, with no paging."""
    history = review_history()
    for payload in history:
        client.deliver(payload)
    client.caught_up()
    lists = {"/review-queue": ["sessions", "cases"],
             "/alerts": ["monitoring_hits", "restricted_subjects"]}  # fmt: skip
    for path, parts in lists.items():
        for point in ({}, {"as_of": "9"}):
            whole = client.read(path, limit=1000, **point).json()
            assert whole["next_cursor"] is None
            paged = read_all_pages(client, path, parts, limit=2, **point)
            assert paged == {part: whole[part] for part in parts}
    queue = client.read("/review-queue", limit=1000).json()
    assert len(queue["sessions"]) > 2  # enough to page


def test_a_list_cursor_that_disagrees_with_as_of_is_refused(client: LedgerClient) -> None:
    for payload in review_history():
        client.deliver(payload)
    first = client.caught_up().read("/review-queue", limit=1).json()
    refused = client.read("/review-queue", cursor=first["next_cursor"], as_of="1")
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["query", "as_of"]
