"""The event-sourced aggregates: each delivery is one event of one stream, replayed exactly."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from domain.aggregates import Applicant, Case, Check, Document, Unrouted


def body(**payload: Any) -> str:
    return json.dumps(payload)


def test_an_applicant_holds_its_sessions_and_replays_to_the_same_state() -> None:
    app: Application[UUID] = Application()
    applicant = Applicant(
        key="u1", event_type="session.created", idempotency_key="k1",
        body=body(session_id="s1", external_ref="u1"),
    )  # fmt: skip
    applicant.record("session.approved", "k2", body(session_id="s1", identity_id="i1"))
    app.save(applicant)

    replayed: Applicant = app.repository.get(Applicant.create_id("u1"))
    assert replayed.sessions["s1"].status == "approved"
    assert replayed.identity_id == "i1"
    assert replayed.version == 2
    assert app.repository.get(applicant.id, version=1).sessions["s1"].status == "created"


def test_each_stream_type_applies_its_own_rules() -> None:
    check = Check(key="c1", event_type="check.matched", idempotency_key="k",
                  body=body(status="hit", hit_count=2))  # fmt: skip
    case = Case(key="k1", event_type="case.escalated", idempotency_key="k", body="{}")
    document = Document(key="d1", event_type="document.redacted", idempotency_key="k", body="{}")
    assert check.screening and check.screening.has_hits
    assert case.review and case.review.status == "escalated"
    assert document.details and document.details.redacted


def test_unknown_types_are_recorded_but_make_no_check_or_case() -> None:
    check = Check(key="c1", event_type="check.queued", idempotency_key="k", body="{}")
    case = Case(key="k1", event_type="case.note_added", idempotency_key="k", body="{}")
    assert (check.deliveries, check.screening) == (1, None)
    assert (case.deliveries, case.review) == (1, None)


def test_a_body_is_stored_as_sent_whatever_keys_it_has() -> None:
    app: Application[UUID] = Application()
    sent = '{"event": "risk.scored", "x": {"_type_": "uuid_hex", "_data_": "zz"}}'
    stream = Unrouted(key="unrouted", event_type="risk.scored", idempotency_key="k", body=sent)
    stream.record("risk.scored", "k2", sent)
    app.save(stream)
    [first, _] = app.events.get(stream.id)
    assert first.body == sent  # type: ignore[attr-defined]
    assert app.repository.get(stream.id).deliveries == 2


def test_stream_ids_differ_by_type_for_the_same_key() -> None:
    assert Check.create_id("x") != Case.create_id("x") != Unrouted.create_id("x")


def test_stored_events_are_named_by_stable_topics() -> None:
    app: Application[UUID] = Application()
    check = Check(key="c1", event_type="check.completed", idempotency_key="k", body="{}")
    check.record("check.completed", "k2", "{}")
    topics = [r.notification.topic for r in app.save(check)]
    assert topics == ["verifa-ledger:Check.Opened", "verifa-ledger:Check.Recorded"]
