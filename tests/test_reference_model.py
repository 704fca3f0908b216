"""The ledger against an independent reference model of DESIGN §5.1-5.4 and §7.

`tests.reference_model` is written from the design document alone (no product code),
so these tests catch a rule the product and an oracle built from its own code would
get wrong together. For every prefix of a random history and every external_ref,
the ledger's routing, timeline positions and status (as far as the document
specifies it) must match the model; at the head, personal data must read back as
sent unless an erasure covers it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.ledger import Ledger
from application.recording.outcomes import Duplicate, Recorded
from domain.payloads import validate_payload
from tests.databases import NewDatabase
from tests.helpers import STORAGE_EXAMPLES, all_entries, deliver_all, fresh_ledger
from tests.reference_model import (
    Between,
    OneOf,
    ReferenceLedger,
    mismatches,
    route,
    status_paths,
    subject_named,
)
from tests.strategies import HOME_OF_SESSION, IDENTITIES, REFS, histories

Payload = dict[str, Any]

# Every subject: the external_refs', and the anonymous applicants of sessions and identities.
SUBJECTS = [subject_named(ref) for ref in REFS] + [
    *(f"session:{s}" for s in HOME_OF_SESSION),
    *(f"identity:{i}" for i in IDENTITIES),
]
# More examples for a long hunt: ORACLE_EXAMPLES=500 make test.
ORACLE = settings(STORAGE_EXAMPLES, max_examples=int(os.environ.get("ORACLE_EXAMPLES", "40")))


def disagreements(ledger: Ledger, history: list[Payload]) -> list[str]:
    """Where the ledger and the model differ, at any prefix, for any subject."""
    sent = {p["idempotency_key"]: p for p in history}
    model = ReferenceLedger()
    found: list[str] = []
    for entry in all_entries(ledger):
        payload = sent[entry.idempotency_key]
        modelled = model.record(entry.position, payload)
        at = f"as of {entry.position}"
        kind, key = modelled.stream
        if (entry.stream.type, entry.stream.key if key else "") != modelled.stream:
            found.append(f"{at}: {payload['event']} routed to {entry.stream}, not {kind}:{key}")
        as_of = ledger.as_of(entry.position)
        for subject in SUBJECTS:
            timeline = ledger.timeline(subject, as_of)
            positions = None if timeline is None else [e.position for e in timeline]
            if positions != model.timeline(subject):
                found.append(f"{at}, {subject} timeline: {positions} != {model.timeline(subject)}")
            expected, status = model.status(subject), ledger.subject_status(subject, as_of)
            if expected is None or status is None:
                if (expected is None) != (status is None):
                    found.append(f"{at}, {subject} status: expected {expected}, got {status}")
                continue
            found += [f"{at}, {subject} {m}" for m in mismatches(expected, status_paths(status))]
    return found + personal_data_disagreements(ledger, sent, model)


def personal_values(payload: Payload) -> object:
    result = payload.get("result")
    return result.get("extracted_data") if isinstance(result, dict) else None


def without_personal_data(payload: Payload) -> Payload:
    result = payload.get("result")
    if not isinstance(result, dict):
        return payload
    return payload | {"result": {k: v for k, v in result.items() if k != "extracted_data"}}


def personal_data_disagreements(
    ledger: Ledger, sent: dict[str, Payload], model: ReferenceLedger
) -> list[str]:
    """§7 at the head: an erasure keeps the event and its other fields; personal data that an
    erasure covers reads `[erased]`, and personal data that none covers reads as sent."""
    found = []
    for entry in ledger.disclose(all_entries(ledger)):
        original, read = sent[entry.idempotency_key], entry.payload
        if without_personal_data(read) != without_personal_data(original):
            found.append(f"{entry.position}: fields other than personal data changed: {read}")
        if personal_values(original) is None:
            continue
        erased = model.personal_data_erased(entry.position, original)
        values = personal_values(read)
        if erased is False and values != personal_values(original):
            found.append(f"{entry.position}: personal data no erasure covers is unreadable")
        if erased and not (isinstance(values, dict) and set(values.values()) == {"[erased]"}):
            found.append(f"{entry.position}: personal data an erasure covers reads {values}")
    return found


@ORACLE
@given(history=histories(), backfilled=st.booleans())
def test_the_ledger_agrees_with_the_reference_model_as_of_every_prefix(
    new_database: NewDatabase, history: list[Payload], backfilled: bool
) -> None:
    """Delivered one at a time, or all at once in group-commit batches (a backfill)."""
    with fresh_ledger(new_database) as ledger:
        if backfilled:
            outcomes = ledger.ingest_all([json.dumps(p).encode() for p in history])
            assert all(isinstance(o, Recorded | Duplicate) for o in outcomes), outcomes
        else:
            deliver_all(ledger, history)
        assert disagreements(ledger, history) == []


@settings(max_examples=200)
@given(history=histories())
def test_every_generated_payload_is_valid(history: list[Payload]) -> None:
    """Else it would be quarantined, and the oracle would be testing nothing."""
    for payload in history:
        validate_payload(payload)


def test_erasing_one_session_keeps_another_sessions_personal_data(ledger: Ledger) -> None:
    """Found by the reference model: an applicant's stream names all of its sessions, and the
    redaction of one used to store every later session's personal data already erased."""
    redacted = {"event": "session.redacted", "session_id": "s3", "external_ref": "u1",
                "is_sandbox": False, "idempotency_key": "k1"}  # fmt: skip
    approved = {"event": "session.approved", "session_id": "s1", "external_ref": "u1",
                "is_sandbox": False, "status": "approved", "idempotency_key": "k2",
                "result": {"extracted_data": {"first_name": "Jane"}}}  # fmt: skip
    deliver_all(ledger, [redacted, approved])
    [_, read] = ledger.disclose(all_entries(ledger))
    assert read.payload == approved


# The reference model on its own: it must be able to fail.


def _model(*history: Payload) -> ReferenceLedger:
    model = ReferenceLedger()
    for position, payload in enumerate(history, start=1):
        model.record(position * 10, payload)  # positions may have gaps
    return model


CHECK_HIT = {"event": "check.completed", "check_id": "c1", "session_id": "s1",
             "is_sandbox": False, "check_type": "sanction", "status": "hit", "has_match": True,
             "hit_count": 2}  # fmt: skip
TIE = {"event": "session.created", "session_id": "s1", "external_ref": "u1", "is_sandbox": False}


def test_a_check_linked_only_by_a_later_tie_is_absent_before_it_and_present_after() -> None:
    model = _model(CHECK_HIT)
    assert model.status("u1") is None and model.timeline("u1") is None
    model.record(20, TIE)
    assert model.timeline("u1") == [10, 20]
    status = model.status("u1")
    assert status is not None
    assert status["aml.status"] == "hit" and status["aml.open_hit_count"] == 2
    assert mismatches(status, {"aml.status": "clear"})  # the model can fail


def test_the_first_tie_wins_and_a_check_keeps_its_own_external_ref() -> None:
    other_tie = TIE | {"external_ref": "u2"}
    own_ref = CHECK_HIT | {"check_id": "c2", "external_ref": "u3"}
    model = _model(TIE, other_tie, own_ref, CHECK_HIT)
    assert model.timeline("u1") == [10, 40]
    assert model.timeline("u2") == [20]
    assert model.timeline("u3") == [30]


def test_an_outcome_overturned_marks_the_session_and_the_same_outcome_again_does_not() -> None:
    declined = TIE | {"event": "session.declined", "status": "rejected"}
    approved = TIE | {"event": "session.approved", "status": "approved"}
    started = TIE | {"event": "session.started"}
    same = _model(approved, approved, started).status("u1")
    assert same is not None
    assert (same["verification.status"], same["verification.decision_changed"]) == (
        "approved",
        False,
    )
    changed = _model(declined, approved).status("u1")
    assert changed is not None and changed["verification.decision_changed"] is True


def test_the_current_session_is_the_one_that_first_appeared_latest() -> None:
    second = TIE | {"session_id": "s2", "event": "session.started"}
    update = TIE | {"event": "session.approved", "status": "approved"}
    status = _model(TIE, second, update).status("u1")
    assert status is not None
    assert status["verification.session_id"] == "s2"
    assert status["verification.status"] == "started"


def test_sanction_hits_restrict_until_a_later_case_approval() -> None:
    run = {"event": "check.monitoring.new_hits", "check_id": "c1", "external_ref": "u1",
           "is_sandbox": False, "monitor_run_id": "m", "trigger": "scheduled",
           "new_hit_count": 1, "max_new_score": 0.9, "hit_sources": [], "providers_used": [],
           "hit_types": ["sanction"]}  # fmt: skip
    approval = {"event": "case.approved", "case_id": "k1", "session_id": "s1",
                "external_ref": "u1", "status": "approved", "decision": "approved",
                "is_sandbox": False}  # fmt: skip
    restricted = _model(run).status("u1")
    assert restricted is not None and restricted["aml.restricted"] is True
    assert "aml.open_hit_count" not in restricted  # new hits without a total: left open
    lifted = _model(run, approval).status("u1")
    assert lifted is not None and lifted["aml.restricted"] is False
    still = _model(approval, run).status("u1")
    assert still is not None and still["aml.restricted"] is True


def test_unknown_types_route_by_family_then_by_the_first_present_id() -> None:
    assert route({"event": "check.rescreened", "check_id": "c1", "external_ref": "u1"}) == (
        "check",
        "c1",
    )
    assert route({"event": "check.rescreened", "case_id": "k1", "session_id": "s1"}) == (
        "applicant",
        "session:s1",
    )
    assert route({"event": "risk.scored", "document_id": "d1", "identity_id": "i1"}) == (
        "document",
        "d1",
    )
    assert route({"event": "identity.merged", "identity_id": "i1", "external_ref": None}) == (
        "applicant",
        "identity:i1",
    )
    assert route({"event": "risk.scored", "external_ref": None}) == ("unrouted", "")


def test_expectations_allow_only_what_the_document_allows() -> None:
    expected = {
        "a": OneOf(frozenset({"x", "y"})),
        "b": Between(frozenset({"u2"}), frozenset({"u2", "u3"})),
        "c": False,
    }
    assert mismatches(expected, {"a": "y", "b": frozenset({"u2", "u3"}), "c": False}) == []
    assert len(mismatches(expected, {"a": "z", "b": frozenset(), "c": 0})) == 3


@pytest.mark.parametrize("event", ["session.redacted", "session.retention-expired"])
def test_erasures_mark_the_session_and_leave_its_status(event: str) -> None:
    approved = TIE | {"event": "session.approved", "status": "approved"}
    status = _model(approved, TIE | {"event": event}).status("u1")
    assert status is not None
    assert status["sessions[s1].erased"] is True
    assert status["sessions[s1].status"] == "approved"
