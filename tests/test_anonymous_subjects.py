"""Applicants known only by a session or an identity are subjects too (DESIGN §5.1).

A session that never names an `external_ref` has a readable history and status,
under `session:<id>`, until a tie links its streams to an `external_ref`; a real
reference that reads like such a key names a subject of its own.
"""

from __future__ import annotations

from typing import Any

from tests.helpers import LedgerClient, session_event

ANONYMOUS = "session%3Asess_1"


def created(session_id: str, ref: str | None, key: str) -> dict[str, Any]:
    return session_event(session_id=session_id, ref=ref, key=key)


def check_of(session_id: str, key: str) -> dict[str, Any]:
    return {"event": "check.completed", "check_id": f"chk_{session_id}", "session_id": session_id,
            "is_sandbox": False, "check_type": "sanction", "status": "hit", "has_match": True,
            "hit_count": 1, "idempotency_key": key}  # fmt: skip


def test_a_session_without_an_external_ref_has_a_timeline_and_a_status(
    client: LedgerClient,
) -> None:
    client.deliver(created("sess_1", None, "k1"))
    client.deliver(check_of("sess_1", "k2"))
    timeline = client.read(f"/subjects/{ANONYMOUS}/timeline")
    assert timeline.status_code == 200, timeline.text
    assert timeline.json()["subject"] == "session:sess_1"
    assert [e["idempotency_key"] for e in timeline.json()["events"]] == ["k1", "k2"]
    current = client.caught_up().read(f"/subjects/{ANONYMOUS}/status").json()
    past = client.read(f"/subjects/{ANONYMOUS}/status", as_of="2").json()
    for status in (current, past):
        assert status["verification"]["status"] == "created"
        assert status["aml"]["status"] == "hit"


def test_a_tie_takes_the_anonymous_applicants_streams_from_then_on(client: LedgerClient) -> None:
    client.deliver(created("sess_1", None, "k1"))
    client.deliver(check_of("sess_1", "k2"))
    client.deliver(session_event("session.approved", session_id="sess_1", ref="u1", key="k3"))
    client.caught_up()
    before = client.read(f"/subjects/{ANONYMOUS}/timeline", as_of="2").json()
    assert [e["idempotency_key"] for e in before["events"]] == ["k1", "k2"]
    assert client.read(f"/subjects/{ANONYMOUS}/timeline").status_code == 404
    assert client.read(f"/subjects/{ANONYMOUS}/status").status_code == 404  # the row is gone
    owner = client.read("/subjects/u1/timeline").json()
    assert [e["idempotency_key"] for e in owner["events"]] == ["k1", "k2", "k3"]
    states = client.read("/projections", role="admin").json()["projections"]
    assert all(s["lag"] == 0 for s in states)


def test_a_reference_that_reads_like_a_generated_key_is_another_subject(
    client: LedgerClient,
) -> None:
    """`session:sess_orphan` sent as an external_ref used to land in the anonymous stream of
    session sess_orphan: two people merged into one subject."""
    client.deliver(created("sess_orphan", None, "k1"))
    client.deliver(created("sess_other", "session:sess_orphan", "k2"))
    anonymous = client.read("/subjects/session%3Asess_orphan/timeline").json()
    assert [e["idempotency_key"] for e in anonymous["events"]] == ["k1"]
    assert anonymous["events"][0]["aggregate"]["id"] == "session:sess_orphan"
    real = client.read("/subjects/external_ref%3Asession%3Asess_orphan/timeline").json()
    assert [e["idempotency_key"] for e in real["events"]] == ["k2"]
    assert real["events"][0]["aggregate"]["id"] == "external_ref:session:sess_orphan"
    client.caught_up()
    for subject in ("session%3Asess_orphan", "external_ref%3Asession%3Asess_orphan"):
        status = client.read(f"/subjects/{subject}/status").json()
        assert [s["session_id"] for s in status["sessions"]] == [
            "sess_orphan" if subject.startswith("session") else "sess_other"
        ]


def test_an_anonymous_applicants_personal_data_can_be_erased(client: LedgerClient) -> None:
    approved = session_event("session.approved", session_id="sess_1", ref=None, key="k1",
                             result={"extracted_data": {"first_name": "Jane"}})  # fmt: skip
    client.deliver(approved)
    services = client.services
    done = services.ledger.request_erasure(subject="session:sess_1", reason="gdpr",
                                           requested_by="dpo")  # fmt: skip
    assert done.erased_scopes == ["session:sess_1"]
    timeline = client.read(f"/subjects/{ANONYMOUS}/timeline", role="officer").json()
    [first, erasure] = timeline["events"]
    assert first["payload"]["result"]["extracted_data"] == {"first_name": "[erased]"}
    assert erasure["event"] == "ledger.erasure-requested"
