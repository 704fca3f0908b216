"""A subject's status: the fold of its history across linked streams (DESIGN §5.2, §5.3)."""

from __future__ import annotations

from typing import Any

from domain.entries import LedgerEntry
from domain.routing import route
from domain.subject import SubjectStatus, fold_subject


def history(*payloads: dict[str, Any]) -> list[LedgerEntry]:
    return [
        LedgerEntry(position, "2026-01-01T00:00:00+00:00", p["event"], f"k{position}", route(p), p)
        for position, p in enumerate(payloads, start=1)
    ]


def session(event: str, session_id: str, **extra: Any) -> dict[str, Any]:
    return {"event": event, "session_id": session_id, "external_ref": "u1", **extra}


def check(event: str, check_id: str = "c1", **extra: Any) -> dict[str, Any]:
    return {"event": event, "check_id": check_id, "external_ref": "u1", **extra}


def status_of(*payloads: dict[str, Any]) -> SubjectStatus:
    return fold_subject("u1", history(*payloads))


def test_a_subject_without_sessions_has_no_verification_status() -> None:
    assert status_of(check("check.completed", status="clear")).verification_status == "none"


def test_the_session_that_first_appeared_latest_is_current() -> None:
    status = status_of(
        session("session.created", "old"),
        session("session.created", "new"),
        session("session.approved", "old"),
    )
    assert status.current_session_id == "new"
    assert status.verification_status == "created"


def test_aml_is_unscreened_then_clear_then_hit() -> None:
    assert status_of(session("session.created", "s1")).aml_status == "unscreened"
    assert status_of(check("check.completed", status="clear", hit_count=0)).aml_status == "clear"
    assert (
        status_of(
            check("check.completed", status="clear", hit_count=0),
            check("check.matched", "c2", status="hit", hit_count=2),
        ).aml_status
        == "hit"
    )


def test_open_hit_count_sums_the_checks_that_have_hits() -> None:
    status = status_of(
        check("check.matched", "c1", status="hit", hit_count=2),
        check("check.matched", "c2", status="hit", hit_count=3),
        check("check.monitoring.clear", "c2", total_hit_count=0),
    )
    assert status.open_hit_count == 2


def sanction_hits() -> dict[str, Any]:
    return check(
        "check.monitoring.new_hits", new_hit_count=1, total_hit_count=1, hit_types=["sanction"]
    )


def test_new_sanction_hits_restrict_the_subject_until_a_later_case_approval() -> None:
    case_approved = {
        "event": "case.approved",
        "case_id": "k1",
        "session_id": "s1",
        "external_ref": "u1",
        "status": "approved",
        "decision": "approved",
    }
    assert status_of(sanction_hits()).restricted
    assert not status_of(sanction_hits(), case_approved).restricted
    assert status_of(case_approved, sanction_hits()).restricted


def test_other_hit_types_raise_aml_but_do_not_restrict() -> None:
    status = status_of(
        check("check.monitoring.new_hits", new_hit_count=1, total_hit_count=1, hit_types=["pep"])
    )
    assert (status.aml_status, status.restricted) == ("hit", False)


def test_cases_and_documents_belong_to_the_subject_status() -> None:
    status = status_of(
        {
            "event": "case.created",
            "case_id": "k1",
            "session_id": "s1",
            "external_ref": "u1",
            "status": "open",
        },
        {
            "event": "document.uploaded",
            "document_id": "d1",
            "document_type": "passport",
            "session_id": "s1",
        },
    )
    assert list(status.cases) == ["k1"]
    assert list(status.documents) == ["d1"]


def test_a_monitoring_run_without_new_hits_does_not_restrict() -> None:
    quiet = check("check.monitoring.new_hits", new_hit_count=0, total_hit_count=0,
                  hit_types=["sanction"])  # fmt: skip
    assert not status_of(quiet).restricted


def test_unknown_check_and_case_types_make_no_phantom_screening_or_case() -> None:
    status = status_of(check("check.queued"), {"event": "case.note_added", "case_id": "k1",
                                               "external_ref": "u1"})  # fmt: skip
    assert (status.aml_status, status.cases) == ("unscreened", {})


def test_an_event_typed_session_without_a_dot_is_not_a_session_event() -> None:
    assert status_of({"event": "session", "session_id": "s9", "external_ref": "u1"}).sessions == {}
