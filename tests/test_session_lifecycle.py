"""A session's status under at-least-once, any-order delivery (DESIGN §5.2)."""

from __future__ import annotations

from domain.sessions import Session


def session_after(*event_types: str, **payload: object) -> Session:
    session = Session("s1")
    for event_type in event_types:
        session.apply(event_type, dict(payload))
    return session


def test_a_new_session_is_created() -> None:
    assert session_after("session.created").status == "created"


def test_progress_moves_forward() -> None:
    assert session_after("session.created", "session.started").status == "started"
    assert session_after("session.started", "session.requires-review").status == "pending_review"


def test_late_progress_never_moves_a_session_backwards() -> None:
    assert session_after("session.requires-review", "session.started").status == "pending_review"
    assert session_after("session.approved", "session.started").status == "approved"


def test_the_same_outcome_again_is_not_a_change_of_decision() -> None:
    session = session_after("session.approved", "session.approved")
    assert session.status == "approved"
    assert not session.decision_changed


def test_a_different_later_outcome_overturns_the_decision_and_says_so() -> None:
    session = Session("s1")
    session.apply("session.declined", {"rejection_reason": "Document appears to be altered"})
    assert session.reason == "Document appears to be altered"
    session.apply("session.approved", {})
    assert session.status == "approved"
    assert session.decision_changed
    assert session.reason is None
    assert session.decisions == ["declined", "approved"]


def test_resubmission_keeps_its_reason() -> None:
    session = Session("s1")
    session.apply("session.resubmission-required", {"reason": "too blurry"})
    assert (session.status, session.reason) == ("resubmission_required", "too blurry")


def test_erasure_marks_the_session_without_changing_its_status() -> None:
    session = session_after("session.approved", "session.redacted")
    assert (session.status, session.erased) == ("approved", "redacted")
    assert session_after("session.started", "session.retention-expired").status == "started"


def test_identity_and_sandbox_are_remembered() -> None:
    session = session_after("session.approved", identity_id="i1", is_sandbox=True)
    assert (session.identity_id, session.is_sandbox) == ("i1", True)
