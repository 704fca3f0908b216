"""A recorded idempotency key delivered again: a retry is a duplicate; a different body is
a duplicate too, but kept in quarantine (DESIGN §4)."""

from __future__ import annotations

import json

from tests.helpers import LedgerClient, session_event

APPROVED = session_event("session.approved", session_id="s1", ref="u1", key="k1",
                         result={"extracted_data": {"first_name": "Jane"}})  # fmt: skip


def held(client: LedgerClient) -> list[dict[str, object]]:
    return list(client.read("/quarantine", role="admin").json()["entries"])


def test_a_retry_is_a_duplicate_and_nothing_is_kept(client: LedgerClient) -> None:
    first = client.deliver(APPROVED).json()
    again = client.deliver(APPROVED).json()
    reordered = client.deliver(json.dumps(dict(reversed(APPROVED.items())), indent=1).encode())
    assert again == reordered.json() == {"status": "duplicate", "position": first["position"]}
    assert held(client) == []


def test_a_different_body_under_a_recorded_key_is_a_duplicate_kept_in_quarantine(
    client: LedgerClient,
) -> None:
    """It used to be answered `duplicate` and lost."""
    first = client.deliver(APPROVED).json()
    changed = {**APPROVED, "status": "approved", "identity_id": "idn_other"}
    answer = client.deliver(changed).json()
    assert answer == {"status": "duplicate", "position": first["position"]}
    [entry] = held(client)
    assert entry["reason"] == f"conflicting duplicate of position {first['position']}"
    services = client.services
    [kept] = services.ledger.quarantine.list()
    assert json.loads(kept.body) == changed
    assert services.ledger.replay_quarantine().still_held == [kept.id]
    timeline = client.read("/subjects/u1/timeline").json()["events"]
    assert len(timeline) == 1 and "identity_id" not in timeline[0]["payload"]


def test_after_an_erasure_a_retry_with_the_personal_data_is_still_a_retry(
    client: LedgerClient,
) -> None:
    client.deliver(APPROVED)
    client.services.ledger.request_erasure(subject="u1", reason="gdpr", requested_by="dpo")
    assert client.deliver(APPROVED).json()["status"] == "duplicate"
    assert held(client) == []
    client.deliver({**APPROVED, "is_sandbox": True})
    assert [e["reason"] for e in held(client)] == ["conflicting duplicate of position 1"]
