"""AML checks, review cases and documents (DESIGN §5.3, §5.4)."""

from __future__ import annotations

from typing import Any

from domain.cases import ReviewCase
from domain.documents import DocumentRecord
from domain.screening import Screening


def screened(*deliveries: tuple[str, dict[str, Any]]) -> Screening:
    check = Screening("c1")
    for event_type, payload in deliveries:
        check.apply(event_type, payload)
    return check


def run(
    total: int | None = None, new: int = 0, types: list[str] | None = None
) -> tuple[str, dict[str, Any]]:
    payload: dict[str, Any] = {"new_hit_count": new, "hit_types": types or []}
    if total is not None:
        payload["total_hit_count"] = total
    return ("check.monitoring.new_hits" if new else "check.monitoring.clear"), payload


def test_a_clear_check_has_no_hits() -> None:
    check = screened(
        ("check.completed", {"status": "clear", "hit_count": 0, "check_type": "sanction"})
    )
    assert (check.status, check.has_hits, check.open_hits) == ("clear", False, 0)


def test_a_hit_counts_its_hits() -> None:
    check = screened(("check.matched", {"status": "hit", "hit_count": 2}))
    assert (check.has_hits, check.open_hits) == (True, 2)


def test_a_hit_without_a_count_still_has_hits() -> None:
    assert screened(("check.completed", {"status": "hit"})).has_hits


def test_monitoring_sets_the_total_when_it_reports_one() -> None:
    check = screened(("check.completed", {"status": "clear", "hit_count": 0}), run(3, new=3))
    assert (check.has_hits, check.total_hit_count, check.new_hit_count) == (True, 3, 3)
    assert check.status == "hit"


def test_monitoring_without_a_total_leaves_it_unchanged() -> None:
    check = screened(("check.matched", {"status": "hit", "hit_count": 2}), run(None, new=1))
    assert (check.total_hit_count, check.has_hits) == (2, True)


def test_a_later_run_with_a_zero_total_clears_the_check() -> None:
    check = screened(("check.matched", {"status": "hit", "hit_count": 2}), run(0))
    assert (check.status, check.has_hits, check.open_hits) == ("clear", False, 0)


def test_pep_details_are_kept_on_the_check() -> None:
    check = screened(
        (
            "check.completed",
            {
                "status": "hit",
                "hit_count": 1,
                "check_type": "pep",
                "pep_risk_tier": "high",
                "pep_classes": ["head-of-state"],
            },
        )
    )
    assert (check.pep_risk_tier, check.pep_classes) == ("high", ["head-of-state"])


def test_a_case_follows_its_latest_event_until_decided() -> None:
    case = ReviewCase("k1")
    case.apply("case.claimed", {})
    case.apply("case.escalated", {})
    assert (case.status, case.is_open) == ("escalated", True)
    case.apply("case.approved", {"decision": "approved"})
    case.apply("case.claimed", {})
    assert (case.status, case.is_open, case.decision) == ("approved", False, "approved")


def test_a_reversed_case_decision_is_marked() -> None:
    case = ReviewCase("k1")
    case.apply("case.rejected", {"decision": "rejected"})
    case.apply("case.approved", {"decision": "approved"})
    assert (case.status, case.decision_changed) == ("approved", True)


def test_a_document_keeps_classification_extraction_verification_and_comparison() -> None:
    document = DocumentRecord("d1")
    document.apply("document.verified", {"checks_run": 4, "checks_passed": 3, "checks_failed": 1})
    document.apply(
        "document.uploaded", {"document_type": "passport", "classification": "identity_document"}
    )
    document.apply("document.classified", {"classification": "passport", "confidence": 0.97})
    for _ in range(2):
        document.apply(
            "document.extracted",
            {"extraction_id": "x1", "extraction_type": "ocr", "status": "completed"},
        )
    document.apply(
        "document.compared",
        {"reference_document_id": "d0", "is_match": True, "overall_score": 0.94},
    )
    assert document.classification == "passport"
    assert len(document.extractions) == 1
    assert (document.checks_run, document.checks_passed, document.checks_failed) == (4, 3, 1)
    assert (document.is_match, document.status) == (True, "compared")
    document.apply("document.redacted", {})
    assert document.redacted


def test_new_hits_without_a_total_are_still_hits() -> None:
    check = screened(("check.completed", {"status": "clear", "hit_count": 0}), run(None, new=2))
    assert (check.has_hits, check.status, check.open_hits) == (True, "hit", 2)


def test_a_run_reporting_no_new_hits_is_not_a_sanction_hit() -> None:
    check = screened(run(0, new=0, types=["sanction"]))
    assert not check.sanction_hit
    assert screened(run(1, new=1, types=["sanction"])).sanction_hit


def test_open_monitoring_hits_close_when_the_check_clears() -> None:
    check = screened(run(2, new=2), run(0))
    assert check.open_monitoring_hits == 0
    check.apply("check.completed", {"status": "hit", "hit_count": 1})
    assert (check.has_hits, check.open_monitoring_hits) == (True, 0)


def test_other_check_types_do_not_make_a_screening() -> None:
    assert Screening.fold("c1", None, "check.queued", {}) is None
    assert ReviewCase.fold("k1", None, "case.note_added", {}) is None
    assert DocumentRecord.fold("d1", None, "document.archived", {}) is None
