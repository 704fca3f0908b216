"""A realistic sample history, so a new user sees the ledger at work at once.

Five applicants go through verification: deliveries arrive out of order and some
are retried; one decision is overturned by a manual review case; continuous AML
monitoring finds a sanctions hit; a check arrives before the session that ties it
to its applicant; two applicants share one verified identity.
"""

from __future__ import annotations

from typing import Any

Payload = dict[str, Any]


def _session(event: str, session_id: str, ref: str | None, **extra: Any) -> Payload:
    return {
        "event": event,
        "session_id": session_id,
        "external_ref": ref,
        "is_sandbox": False,
        **extra,
    }


def _check(event: str, check_id: str, session_id: str, ref: str | None, **extra: Any) -> Payload:
    return {
        "event": event,
        "check_id": check_id,
        "session_id": session_id,
        "external_ref": ref,
        "is_sandbox": False,
        **extra,
    }


def _case(
    event: str, case_id: str, session_id: str, ref: str, status: str, **extra: Any
) -> Payload:
    return {
        "event": event,
        "case_id": case_id,
        "session_id": session_id,
        "external_ref": ref,
        "status": status,
        "is_sandbox": False,
        **extra,
    }


def _approved(session_id: str, ref: str, identity_id: str, first: str, last: str) -> Payload:
    return _session(
        "session.approved",
        session_id,
        ref,
        status="approved",
        identity_id=identity_id,
        result={
            "face_match_passed": True,
            "age_check_passed": True,
            "extracted_data": {
                "first_name": first,
                "last_name": last,
                "date_of_birth": "1988-02-29",
                "document_type": "passport",
            },
        },
    )


def _screening(check_id: str, session_id: str, ref: str, hits: int, **extra: Any) -> Payload:
    return _check(
        "check.completed",
        check_id,
        session_id,
        ref,
        check_type="sanction",
        status="hit" if hits else "clear",
        has_match=bool(hits),
        hit_count=hits,
        batch_id="batch_demo",
        **extra,
    )


def _monitoring(
    check_id: str, session_id: str, ref: str, new: int, total: int, hit_types: list[str]
) -> Payload:
    return _check(
        "check.monitoring.new_hits",
        check_id,
        session_id,
        ref,
        monitor_run_id=f"monrun_{check_id}_{total}",
        trigger="scheduled",
        new_hit_count=new,
        total_hit_count=total,
        max_new_score=0.93,
        hit_sources=["aml_screening"],
        hit_types=hit_types,
        providers_used=["aml_screening"],
    )


def demo_deliveries() -> list[Payload]:
    """The sample history in delivery order, retries included (same idempotency key)."""
    history: list[Payload] = [
        # Alice: a clean onboarding; the approval is delivered twice.
        _session("session.created", "sess_alice_1", "user_alice"),
        _session("session.started", "sess_alice_1", "user_alice"),
        _approved("sess_alice_1", "user_alice", "identity_alice", "Alice", "Archer"),
        {
            "event": "identity.created",
            "identity_id": "identity_alice",
            "external_ref": "user_alice",
            "is_sandbox": False,
        },
        _screening("check_alice_aml", "sess_alice_1", "user_alice", 0),
        # Bob: review arrives before "started"; declined, then approved by a reviewer.
        _session("session.created", "sess_bob_1", "user_bob"),
        _session("session.requires-review", "sess_bob_1", "user_bob"),
        _session("session.started", "sess_bob_1", "user_bob"),
        _case("case.created", "case_bob", "sess_bob_1", "user_bob", "open"),
        _session(
            "session.declined",
            "sess_bob_1",
            "user_bob",
            status="rejected",
            rejection_reason="Document appears to be altered",
        ),
        _case("case.claimed", "case_bob", "sess_bob_1", "user_bob", "claimed"),
        {
            "event": "document.uploaded",
            "document_id": "doc_bob_passport",
            "document_type": "passport",
            "classification": "identity_document",
            "session_id": "sess_bob_1",
        },
        {
            "event": "document.verified",
            "document_id": "doc_bob_passport",
            "checks_run": 4,
            "checks_passed": 4,
            "checks_failed": 0,
        },
        _case(
            "case.approved", "case_bob", "sess_bob_1", "user_bob", "approved", decision="approved"
        ),
        _approved("sess_bob_1", "user_bob", "identity_bob", "Bob", "Baker"),
        _check(
            "check.completed",
            "check_bob_pep",
            "sess_bob_1",
            "user_bob",
            check_type="pep",
            status="hit",
            has_match=True,
            hit_count=1,
            max_score=0.81,
            pep_risk_tier="medium",
            pep_recommended_action="review",
            pep_classes=["government-minister"],
        ),
        # Carol: approved and screened clear, then monitoring finds a sanctions match.
        _session("session.created", "sess_carol_1", "user_carol"),
        _approved("sess_carol_1", "user_carol", "identity_carol", "Carol", "Chen"),
        _screening("check_carol_aml", "sess_carol_1", "user_carol", 0),
        _monitoring("check_carol_aml", "sess_carol_1", "user_carol", 2, 2, ["sanction"]),
        # Erin: her check arrives before any event ties her session to her.
        _check(
            "check.completed",
            "check_erin_aml",
            "sess_erin_1",
            None,
            check_type="sanction",
            status="clear",
            has_match=False,
            hit_count=0,
        ),
        _session("session.created", "sess_erin_1", "user_erin"),
        _session("session.started", "sess_erin_1", "user_erin"),
        _session("session.requires-review", "sess_erin_1", "user_erin"),
        # Dave opens a second account; Verifa recognises the same identity.
        _approved("sess_dave_1", "user_dave", "identity_dave", "Dave", "Diaz"),
        _approved("sess_dave_2", "user_dave_2", "identity_dave", "Dave", "Diaz"),
        {
            "event": "identity.updated",
            "identity_id": "identity_dave",
            "external_ref": "user_dave_2",
            "is_sandbox": False,
        },
        # Something this version does not know yet: recorded, never dropped.
        {
            "event": "check.rescreen_scheduled",
            "check_id": "check_carol_aml",
            "scheduled_for": "2026-12-01",
        },
    ]
    for number, payload in enumerate(history):
        payload["idempotency_key"] = f"idk_demo_{number:03d}"
    retries = [history[2], history[9], history[19]]
    return history + retries
