"""Verifa payload models: every documented type validates; gaps and wrong types are caught."""

from __future__ import annotations

import pytest

from domain.payloads import EVENT_MODELS, ValidationError, validate_payload
from domain.personal_data import mask_personal_data
from tests.helpers import seed_examples


def test_there_is_a_model_for_each_of_the_26_documented_event_types() -> None:
    assert len(EVENT_MODELS) == 26
    assert {p["event"] for p in seed_examples()} == set(EVENT_MODELS)


@pytest.mark.parametrize("payload", seed_examples(), ids=lambda p: p["event"])
def test_every_tutorial_example_is_valid_and_nothing_is_dropped(payload: dict[str, object]) -> None:
    model = validate_payload(payload)
    assert model.model_dump(exclude_unset=True) == payload


def test_fields_the_tutorial_does_not_mention_are_kept() -> None:
    payload = {**seed_examples()[0], "risk_score": 12, "labels": ["vip"]}
    assert validate_payload(payload).model_dump(exclude_unset=True) == payload


def test_optional_fields_may_be_absent() -> None:
    minimal_approval = {
        "event": "session.approved",
        "session_id": "s1",
        "external_ref": None,
        "status": "approved",
        "is_sandbox": False,
    }
    assert validate_payload(minimal_approval).model_dump()["result"] is None


@pytest.mark.parametrize(
    ("event", "missing"),
    [
        ("session.approved", "session_id"),
        ("session.approved", "external_ref"),
        ("check.completed", "check_type"),
        ("check.monitoring.new_hits", "new_hit_count"),
        ("case.approved", "decision"),
        ("document.verified", "checks_failed"),
    ],
)
def test_a_missing_required_field_is_an_error(event: str, missing: str) -> None:
    payload = next(p for p in seed_examples() if p["event"] == event)
    del payload[missing]
    with pytest.raises(ValidationError) as error:
        validate_payload(payload)
    assert error.value.errors()[0]["loc"] == (missing,)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("is_sandbox", "false"),
        ("session_id", 42),
        ("result", "approved"),
        ("idempotency_key", 7),
    ],
)
def test_a_mistyped_field_is_an_error_not_a_guess(field: str, value: object) -> None:
    payload = {**seed_examples()[0], field: value}
    with pytest.raises(ValidationError):
        validate_payload(payload)


def test_an_integer_is_a_valid_score() -> None:
    payload = {
        "event": "document.classified",
        "document_id": "d",
        "classification": "passport",
        "confidence": 1,
    }
    assert validate_payload(payload).model_dump()["confidence"] == 1


def test_unknown_event_types_only_need_a_string_event() -> None:
    assert validate_payload({"event": "aml.report.ready", "anything": [1, 2]})
    with pytest.raises(ValidationError):
        validate_payload({"event": 3})


def test_masking_hides_personal_values_and_keeps_everything_else() -> None:
    approval = seed_examples()[0]
    masked = mask_personal_data(approval)
    assert set(masked["result"]["extracted_data"].values()) == {"[masked]"}
    assert masked["result"]["extracted_data"].keys() == approval["result"]["extracted_data"].keys()
    assert masked["result"]["face_match_passed"] is True
    assert approval["result"]["extracted_data"]["first_name"] == "Jane"  # the original is intact
    assert mask_personal_data({"event": "x", "result": None}) == {"event": "x", "result": None}
