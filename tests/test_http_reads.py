"""The read API over HTTP: the DESIGN §6 read contract, now and as of any point."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from application.storage.clock import utc_now_iso
from tests.helpers import LedgerClient, seed_examples, session_event, wait_until

ENTITY_PATHS = ["/sessions/s1", "/checks/chk1", "/cases/case1", "/documents/doc1"]
READ_PATHS = [
    "/subjects/alice/timeline",
    "/subjects/alice/status",
    *ENTITY_PATHS,
    "/review-queue",
    "/alerts",
]


def session(event: str, key: str, ref: str | None = "alice", sid: str = "s1", **extra: Any) -> Any:
    return session_event(event, session_id=sid, ref=ref, key=key, **extra)


def check(event: str, key: str, cid: str = "chk1", **extra: Any) -> Any:
    payload = {"event": event, "idempotency_key": key, "check_id": cid, "is_sandbox": False}
    if event.startswith("check.monitoring"):
        payload.update(monitor_run_id="run", trigger="scheduled", hit_sources=["aml"])
        payload.update(providers_used=["aml"])
    if event == "check.monitoring.new_hits":
        payload.update(new_hit_count=1, max_new_score=0.9)
    return {**payload, **extra}


def case(event: str, key: str, cid: str = "case1", ref: str = "alice", **extra: Any) -> Any:
    status = event.removeprefix("case.")
    payload = {"event": event, "idempotency_key": key, "case_id": cid, "session_id": "s1"}
    if event in ("case.approved", "case.rejected"):
        payload["decision"] = status
    return {**payload, "external_ref": ref, "status": status, "is_sandbox": False, **extra}


def document(key: str, did: str = "doc1", **extra: Any) -> Any:
    return {"event": "document.uploaded", "idempotency_key": key, "document_id": did,
            "document_type": "passport", **extra}  # fmt: skip


def deliver(client: LedgerClient, payload: dict[str, Any]) -> int:
    answer = client.deliver(payload)
    assert answer.status_code == 200
    assert answer.json()["status"] == "recorded", answer.json()
    position: int = answer.json()["position"]
    return position


def populate(client: LedgerClient) -> int:
    """One of each entity for subject alice; returns the head position."""
    deliver(client, session("session.created", "a1"))
    deliver(client, check("check.completed", "a2", external_ref="alice", check_type="sanction",
                          status="clear", has_match=False))  # fmt: skip
    deliver(client, case("case.created", "a3"))
    return deliver(client, document("a4", session_id="s1"))


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


# Authentication and roles.


@pytest.mark.parametrize("path", [*READ_PATHS, "/projections"])
def test_reads_without_a_token_are_401(client: LedgerClient, path: str) -> None:
    assert client.get(path).status_code == 401


@pytest.mark.parametrize("authorization", ["Bearer nope", "Basic YWRtaW46eA==", "admin-token"])
def test_reads_with_an_unknown_token_are_401(client: LedgerClient, authorization: str) -> None:
    answer = client.get("/subjects/alice/status", headers={"Authorization": authorization})
    assert answer.status_code == 401


@pytest.mark.parametrize("role", ["auditor", "officer"])
def test_projections_are_admin_only(client: LedgerClient, role: str) -> None:
    assert client.read("/projections", role=role).status_code == 403


@pytest.mark.parametrize("role", ["auditor", "officer", "admin"])
def test_roles_are_cumulative(client: LedgerClient, role: str) -> None:
    populate(client)
    client.caught_up()
    for path in READ_PATHS:
        assert client.read(path, role=role).status_code == 200, path


# Subjects and points.


@pytest.mark.parametrize("path", ["/subjects/nobody/timeline", "/subjects/nobody/status"])
def test_unknown_subject_is_404(client: LedgerClient, path: str) -> None:
    populate(client)
    client.caught_up()
    assert client.read(path).status_code == 404


@pytest.mark.parametrize("path", ["/subjects/bob/timeline", "/subjects/bob/status"])
def test_subject_is_404_as_of_before_its_first_event(client: LedgerClient, path: str) -> None:
    deliver(client, session("session.created", "a1"))
    first = deliver(client, session("session.created", "b1", ref="bob", sid="s2"))
    assert client.read(path, as_of=first - 1).status_code == 404
    assert client.read(path, as_of=0).status_code == 404
    assert client.read(path, as_of=first).json()["as_of"]["position"] == first


@pytest.mark.parametrize("path", READ_PATHS)
@pytest.mark.parametrize("as_of", ["yesterday", "1.5", "-3", "2026-01-01T00:00:00", "", "0x10"])
def test_malformed_as_of_is_422(client: LedgerClient, path: str, as_of: str) -> None:
    assert client.read(path, as_of=as_of).status_code == 422


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [("0001-01-01T00:00:00+01:00", {404, 422}), ("9999-12-31T23:59:59-01:00", {200, 422})],
)
def test_as_of_instant_at_the_calendar_edge_is_never_500(
    client: LedgerClient, as_of: str, expected: set[int]
) -> None:
    populate(client)
    assert client.read("/subjects/alice/status", as_of=as_of).status_code in expected


def test_as_of_instant_selects_the_prefix_by_recorded_at(client: LedgerClient) -> None:
    first = deliver(client, session("session.created", "a1"))
    [event] = client.read("/subjects/alice/timeline").json()["events"]
    wait_until(lambda: utc_now_iso() > event["recorded_at"], what="a later ledger clock")
    deliver(client, session("session.started", "a2"))
    instant = datetime.fromisoformat(event["recorded_at"])
    assert instant.utcoffset() == timedelta(0)
    elsewhere = instant.astimezone(timezone(timedelta(hours=2))).isoformat()
    for text in (event["recorded_at"], elsewhere):
        answer = client.read("/subjects/alice/status", as_of=text).json()
        assert answer["as_of"] == {"position": first, "recorded_at": event["recorded_at"]}
        assert answer["verification"]["status"] == "created"
    before = (instant - timedelta(microseconds=1)).isoformat()
    assert client.read("/subjects/alice/status", as_of=before).status_code == 404


@pytest.mark.parametrize("past", ["1000", str(10**25)])
def test_a_position_past_the_head_means_the_head(client: LedgerClient, past: str) -> None:
    head = populate(client)
    answer = client.read("/subjects/alice/timeline", as_of=past)
    assert answer.status_code == 200
    assert answer.json()["as_of"]["position"] == head


@pytest.mark.parametrize("path", READ_PATHS)
def test_every_answer_carries_as_of(client: LedgerClient, path: str) -> None:
    head = populate(client)
    client.caught_up()
    points: list[dict[str, Any]] = [{}, {"as_of": head}, {"as_of": head + 5}]
    for params in points:
        as_of = client.read(path, **params).json()["as_of"]
        assert as_of["position"] == head
        assert datetime.fromisoformat(as_of["recorded_at"]).tzinfo is not None


# Timeline paging.


def test_timeline_pages_walk_every_event_once_in_order(client: LedgerClient) -> None:
    positions = [deliver(client, session("session.started", f"k{i}")) for i in range(5)]
    seen: list[int] = []
    page = client.read("/subjects/alice/timeline", limit=2).json()
    pinned = page["as_of"]
    while True:
        assert len(page["events"]) <= 2
        assert page["as_of"] == pinned
        seen += [e["position"] for e in page["events"]]
        deliver(client, session("session.started", f"late{len(seen)}"))
        if page["next_cursor"] is None:
            break
        page = client.read("/subjects/alice/timeline", limit=2, cursor=page["next_cursor"]).json()
    assert seen == positions


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "!!!", cursor_of([1]), cursor_of(["a", 1]), cursor_of([-1, 0]),
     cursor_of([True, 0]), cursor_of({"a": 1}), cursor_of([10**20, 0]),
     base64.urlsafe_b64encode(b"[" * 3000).decode()],
)  # fmt: skip
def test_invalid_cursor_is_422(client: LedgerClient, cursor: str) -> None:
    populate(client)
    assert client.read("/subjects/alice/timeline", cursor=cursor).status_code == 422


@pytest.mark.parametrize("limit", ["0", "5000", "-1", "two"])
def test_out_of_range_limit_is_422(client: LedgerClient, limit: str) -> None:
    populate(client)
    assert client.read("/subjects/alice/timeline", limit=limit).status_code == 422


# Status.


def test_status_fields_follow_the_read_contract(client: LedgerClient) -> None:
    assert client.read("/subjects/alice/status").status_code == 404
    deliver(client, session("session.created", "a1"))
    deliver(client, session("session.declined", "a2", rejection_reason="blurry", identity_id="i1"))
    deliver(client, session("session.approved", "b1", ref="bob", sid="s9", identity_id="i1"))
    status = client.caught_up().read("/subjects/alice/status").json()
    assert status["subject"] == "alice"
    assert status["verification"] == {
        "status": "declined", "session_id": "s1", "identity_id": "i1",
        "decision_changed": False, "reason": "blurry", "shared_identity_with": ["bob"],
    }  # fmt: skip
    assert status["aml"] == {"status": "unscreened", "restricted": False, "open_hit_count": 0,
                             "checks": []}  # fmt: skip
    assert [s["session_id"] for s in status["sessions"]] == ["s1"]
    assert status["cases"] == []

    deliver(client, session("session.approved", "a3"))
    deliver(client, check("check.matched", "a4", external_ref="alice", check_type="pep",
                          status="hit", hit_count=2))  # fmt: skip
    deliver(client, check("check.completed", "a5", cid="chk2", external_ref="alice",
                          check_type="sanction", status="clear", has_match=False))  # fmt: skip
    deliver(client, case("case.created", "a6"))
    status = client.caught_up().read("/subjects/alice/status").json()
    assert status["verification"]["status"] == "approved"
    assert status["verification"]["decision_changed"] is True
    aml = status["aml"]
    assert (aml["status"], aml["restricted"], aml["open_hit_count"]) == ("hit", False, 2)
    assert sorted(c["check_id"] for c in aml["checks"]) == ["chk1", "chk2"]
    assert [(c["case_id"], c["status"]) for c in status["cases"]] == [("case1", "created")]


def test_current_answers_equal_the_as_of_head_answers(client: LedgerClient) -> None:
    for payload in seed_examples():
        deliver(client, payload)
    populate(client)
    deliver(client, check("check.monitoring.new_hits", "m1", external_ref="alice",
                          total_hit_count=1, hit_types=["sanction"]))  # fmt: skip
    head = deliver(client, session("session.requires-review", "r1", ref="bob", sid="s2"))
    client.caught_up()
    paths = [*READ_PATHS, "/subjects/user_456/status", "/subjects/bob/status", "/sessions/s2",
             "/checks/check_abc123", "/cases/case_abc123", "/documents/doc_abc123"]  # fmt: skip
    for path in paths:
        now = client.read(path)
        assert now.status_code == 200, path
        assert now.json() == client.read(path, as_of=head).json(), path


def test_unknown_session_like_event_types_read_the_same_now_and_as_of(
    client: LedgerClient,
) -> None:
    head = deliver(client, {"event": "SESSION.started", "idempotency_key": "x", "session_id": "s5"})
    client.caught_up()
    now = client.read("/sessions/s5")
    then = client.read("/sessions/s5", as_of=head)
    assert (now.status_code, now.json().get("status")) == (
        then.status_code,
        then.json().get("status"),
    )


# Entities.


@pytest.mark.parametrize("path", ENTITY_PATHS)
def test_entity_reads_give_status_and_subject(client: LedgerClient, path: str) -> None:
    populate(client)
    body = client.caught_up().read(path).json()
    assert body["subject"] == "alice"
    assert isinstance(body["status"], str)
    assert client.read(path, as_of=client.services.ledger.as_of().position).json() == body


@pytest.mark.parametrize("path", ENTITY_PATHS)
def test_unknown_entity_is_404_now_and_as_of(client: LedgerClient, path: str) -> None:
    populate(client)
    client.caught_up()
    assert client.read(path + "_nope").status_code == 404
    assert client.read(path + "_nope", as_of=100).status_code == 404


def test_entity_is_404_as_of_before_it_existed(client: LedgerClient) -> None:
    populate(client)
    for path, first in zip(ENTITY_PATHS, [1, 2, 3, 4], strict=True):
        assert client.read(path, as_of=first - 1).status_code == 404, path
        assert client.read(path, as_of=first).status_code == 200, path


def test_check_with_only_a_session_is_linked_once_the_session_is_tied(
    client: LedgerClient,
) -> None:
    early = deliver(client, check("check.completed", "c1", session_id="s3", check_type="aml",
                                  status="clear", has_match=False))  # fmt: skip
    assert client.caught_up().read("/checks/chk1").json()["subject"] is None
    deliver(client, session("session.created", "u1", ref="carol", sid="other"))
    tie = deliver(client, session("session.started", "u2", ref="carol", sid="s3"))
    assert client.caught_up().read("/checks/chk1").json()["subject"] == "carol"
    assert client.read("/checks/chk1", as_of=tie - 1).json()["subject"] is None
    assert client.read("/checks/chk1", as_of=tie).json()["subject"] == "carol"
    before = client.read("/subjects/carol/timeline", as_of=tie - 1).json()["events"]
    assert early not in [e["position"] for e in before]
    after = client.read("/subjects/carol/timeline").json()["events"]
    assert early in [e["position"] for e in after]


# Queues and alerts.


def test_review_queue_lists_sessions_pending_review_until_decided(client: LedgerClient) -> None:
    deliver(client, session("session.created", "a1"))
    assert client.caught_up().read("/review-queue").json()["sessions"] == []
    deliver(client, session("session.requires-review", "a2"))
    queued = client.caught_up().read("/review-queue").json()["sessions"]
    assert [(s["session_id"], s["subject"]) for s in queued] == [("s1", "alice")]
    decided = deliver(client, session("session.approved", "a3"))
    assert client.caught_up().read("/review-queue").json()["sessions"] == []
    earlier = client.read("/review-queue", as_of=decided - 1).json()["sessions"]
    assert [s["session_id"] for s in earlier] == ["s1"]


def test_review_queue_lists_open_cases_until_decided(client: LedgerClient) -> None:
    deliver(client, case("case.created", "k1"))
    deliver(client, case("case.claimed", "k2"))
    deliver(client, case("case.created", "k3", cid="case2"))
    cases = client.caught_up().read("/review-queue").json()["cases"]
    assert [c["case_id"] for c in cases] == ["case1", "case2"]
    deliver(client, case("case.rejected", "k4"))
    deliver(client, case("case.escalated", "k5"))
    cases = client.caught_up().read("/review-queue").json()["cases"]
    assert [c["case_id"] for c in cases] == ["case2"]


def test_sanction_hits_restrict_the_subject_until_a_case_is_approved(
    client: LedgerClient,
) -> None:
    deliver(client, session("session.created", "a1"))
    deliver(client, check("check.monitoring.new_hits", "a2", external_ref="alice",
                          total_hit_count=1, hit_types=["sanction"]))  # fmt: skip
    alerts = client.caught_up().read("/alerts").json()
    assert [c["check_id"] for c in alerts["monitoring_hits"]] == ["chk1"]
    assert [s["subject"] for s in alerts["restricted_subjects"]] == ["alice"]
    assert client.read("/subjects/alice/status").json()["aml"]["restricted"] is True
    approved = deliver(client, case("case.approved", "a3"))
    alerts = client.caught_up().read("/alerts").json()
    assert alerts["restricted_subjects"] == []
    assert client.read("/subjects/alice/status").json()["aml"]["restricted"] is False
    then = client.read("/subjects/alice/status", as_of=approved - 1).json()
    assert then["aml"]["restricted"] is True


def test_pep_hits_raise_aml_status_but_do_not_restrict(client: LedgerClient) -> None:
    deliver(client, check("check.monitoring.new_hits", "a2", external_ref="alice",
                          total_hit_count=1, hit_types=["pep"]))  # fmt: skip
    status = client.caught_up().read("/subjects/alice/status").json()
    assert (status["aml"]["status"], status["aml"]["restricted"]) == ("hit", False)
    assert client.read("/alerts").json()["restricted_subjects"] == []


# Operations.


def test_projections_report_lag_until_caught_up(client: LedgerClient) -> None:
    head = populate(client)
    before = client.read("/projections", role="admin").json()["projections"]
    read_models = {"subject_status", "sessions", "checks", "cases", "documents",
                   "review_queue", "alerts"}  # fmt: skip
    assert {p["name"] for p in before} == {"subject_links", *read_models}
    # The links index is written with each append; the read models follow the ledger.
    assert all((p["lag"], p["position"], p["state"]) == (0, head, "live")
               for p in before if p["name"] == "subject_links")  # fmt: skip
    assert all(p["lag"] > 0 and p["state"] != "live" for p in before if p["name"] in read_models)
    after = client.caught_up().read("/projections", role="admin").json()["projections"]
    assert all((p["lag"], p["position"], p["state"]) == (0, head, "live") for p in after)


def test_healthz_and_openapi_answer(client: LedgerClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert "/webhooks/verifa" in client.get("/openapi.json").json()["paths"]


def test_auditors_see_personal_data_masked_officers_see_it(client: LedgerClient) -> None:
    approval = next(p for p in seed_examples() if p["event"] == "session.approved")
    client.deliver(approval)
    as_auditor = client.read("/subjects/user_456/timeline").json()["events"][0]["payload"]
    as_officer = client.read("/subjects/user_456/timeline", role="officer").json()
    assert as_auditor["result"]["extracted_data"]["first_name"] == "[masked]"
    assert as_officer["events"][0]["payload"]["result"]["extracted_data"]["first_name"] == "Jane"


def test_a_nul_character_in_a_path_is_not_a_server_error(client: LedgerClient) -> None:
    populate(client)
    assert client.read("/subjects/a%00b/timeline").status_code in (404, 422)
    assert client.read("/subjects/a%00b/status", as_of="1").status_code in (404, 422)


# Names with `/`, and names of any length.


def test_references_and_ids_holding_a_slash_are_read_now_and_as_of(client: LedgerClient) -> None:
    deliver(client, session("session.created", "a1", ref="team/alice", sid="s/1"))
    head = deliver(client, check("check.completed", "a2", cid="chk/1", external_ref="team/alice",
                                 check_type="aml", status="clear", has_match=False))  # fmt: skip
    client.caught_up()
    for path in ["/subjects/team%2Falice/timeline", "/subjects/team/alice/timeline"]:
        for params in [{}, {"as_of": str(head)}]:
            answer = client.read(path, **params)
            assert answer.status_code == 200, (path, params, answer.json())
            assert answer.json()["subject"] == "team/alice"
            assert [e["position"] for e in answer.json()["events"]] == [1, head]
    for path, field, value in [("/subjects/team%2Falice/status", "subject", "team/alice"),
                               ("/sessions/s%2F1", "status", "created"),
                               ("/checks/chk%2F1", "subject", "team/alice")]:  # fmt: skip
        assert client.read(path).json()[field] == value, path
        assert client.read(path, as_of=head).json()[field] == value, path
    assert client.read("/subjects/team/timeline").status_code == 404


def test_a_404_repeats_only_the_start_of_a_long_name(client: LedgerClient) -> None:
    populate(client)
    client.caught_up()
    name = "n" * 1000
    for path in [f"/subjects/{name}/timeline", f"/subjects/{name}/status", f"/sessions/{name}"]:
        answer = client.read(path)
        assert answer.status_code == 404
        assert len(answer.json()["detail"]) < 200, path
        assert "n" * 64 in answer.json()["detail"]


@pytest.mark.parametrize("path", ["/subjects/{}/timeline", "/subjects/{}/status", "/cases/{}"])
def test_a_name_longer_than_any_sent_is_refused(client: LedgerClient, path: str) -> None:
    answer = client.read(path.format("n" * 1025))
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"][0] == "path"
    assert len(json.dumps(error)) < 500


def test_access_log_subjects_are_bounded_as_paths_are(client: LedgerClient) -> None:
    assert client.read("/access-log", role="admin", subject="n" * 1025).status_code == 422
    assert client.read("/access-log", role="admin", subject="n" * 1024).status_code == 200


# Points out of range, and cursors with a point.


def test_a_position_of_thousands_of_digits_means_the_head(client: LedgerClient) -> None:
    head = populate(client)
    for digits in ["1" * 4301, "0" * 4300 + "2"]:
        answer = client.read("/subjects/alice/timeline", as_of=digits)
        assert answer.status_code == 200
        expected = head if digits.startswith("1") else 2
        assert answer.json()["as_of"]["position"] == expected


@pytest.mark.parametrize("after", [str(2**63), str(10**30)])
def test_an_access_log_id_past_any_stored_is_422(client: LedgerClient, after: str) -> None:
    populate(client)
    answer = client.read("/access-log", role="admin", after=after)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "after"]
    assert client.read("/access-log", role="admin", after=str(2**63 - 1)).json() == {"accesses": []}


def test_a_cursor_with_an_as_of_naming_another_position_is_422(client: LedgerClient) -> None:
    positions = [deliver(client, session("session.started", f"k{i}")) for i in range(3)]
    first = client.read("/subjects/alice/timeline", limit=2).json()
    pinned = first["as_of"]
    assert pinned["position"] == positions[2]
    wait_until(lambda: utc_now_iso() > pinned["recorded_at"], what="a later ledger clock")
    positions.append(deliver(client, session("session.started", "later")))
    cursor = first["next_cursor"]
    for disagreeing in [positions[1], positions[3], "1000"]:
        answer = client.read("/subjects/alice/timeline", limit=2, cursor=cursor, as_of=disagreeing)
        assert answer.status_code == 422, disagreeing
        assert answer.json()["detail"][0]["loc"] == ["query", "as_of"]
    for agreeing in [{}, {"as_of": positions[2]}, {"as_of": pinned["recorded_at"]}]:
        answer = client.read("/subjects/alice/timeline", limit=2, cursor=cursor, **agreeing)
        assert answer.status_code == 200, agreeing
        assert [e["position"] for e in answer.json()["events"]] == [positions[2]]
