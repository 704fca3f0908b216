"""The event-sourced aggregates: each delivery is one event of one stream, replayed exactly."""

from __future__ import annotations

from eventsourcing.application import Application

from domain.aggregates import Applicant, Case, Check, Document, Unrouted


def test_an_applicant_holds_its_sessions_and_replays_to_the_same_state() -> None:
    app: Application = Application()
    applicant = Applicant(
        key="u1",
        event_type="session.created",
        idempotency_key="k1",
        payload={"session_id": "s1", "external_ref": "u1"},
    )
    applicant.record(
        event_type="session.approved",
        idempotency_key="k2",
        payload={"session_id": "s1", "identity_id": "i1"},
    )
    app.save(applicant)

    replayed = app.repository.get(Applicant.create_id("u1"))
    assert replayed.sessions["s1"].status == "approved"
    assert replayed.identity_id == "i1"
    assert replayed.version == 2
    assert app.repository.get(applicant.id, version=1).sessions["s1"].status == "created"


def test_each_stream_type_applies_its_own_rules() -> None:
    check = Check(
        key="c1",
        event_type="check.matched",
        idempotency_key="k",
        payload={"status": "hit", "hit_count": 2},
    )
    case = Case(key="k1", event_type="case.escalated", idempotency_key="k", payload={})
    document = Document(key="d1", event_type="document.redacted", idempotency_key="k", payload={})
    assert check.screening.has_hits
    assert case.review.status == "escalated"
    assert document.details.redacted


def test_stream_ids_differ_by_type_for_the_same_key() -> None:
    assert Check.create_id("x") != Case.create_id("x") != Unrouted.create_id("x")
