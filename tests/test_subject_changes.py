"""What changed for a subject between two points (DESIGN §6, `GET /subjects/{ref}/changes`).

The property an auditor relies on: the listed changes, applied to the status at the
first point, give the status at the second, whatever happened in between.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from application.reading.changes import apply_changes, status_changes
from application.reading.views import empty_status
from tests.databases import NewDatabase
from tests.helpers import STORAGE_EXAMPLES, LedgerClient, deliver_all, fresh_ledger, seed_examples
from tests.strategies import REFS, histories
from tests.test_http_reads import check, deliver, session

# The property, over the ledger's own answers.


@STORAGE_EXAMPLES
@given(history=histories(), data=st.data())
def test_the_changes_applied_to_the_status_at_from_give_the_status_at_to(
    new_database: NewDatabase, history: list[dict[str, Any]], data: st.DataObject
) -> None:
    with fresh_ledger(new_database) as ledger:
        deliver_all(ledger, history)
        head = ledger.as_of().position
        start = data.draw(st.integers(0, head), label="from")
        end = data.draw(st.integers(start, head), label="to")
        for subject in REFS:
            then = ledger.subject_status(subject, ledger.as_of(start)) or empty_status(subject)
            now = ledger.subject_status(subject, ledger.as_of(end)) or empty_status(subject)
            changes = status_changes(then, now)
            assert apply_changes(then, changes) == now
            assert (changes == []) == (then == now)


def test_a_new_check_is_one_change_and_a_changed_field_names_its_item() -> None:
    before = {"aml": {"status": "clear", "checks": [{"check_id": "c.1", "status": "clear"}]}}
    checks = [{"check_id": "c.1", "status": "hit"}, {"check_id": "c]2", "status": "clear"}]
    after = {"aml": {"status": "hit", "checks": checks}}
    changes = status_changes(before, after)
    assert changes == [
        {"path": "aml.status", "from": "clear", "to": "hit"},
        {"path": 'aml.checks["c.1"].status', "from": "clear", "to": "hit"},
        {"path": 'aml.checks["c]2"]', "from": None, "to": {"check_id": "c]2", "status": "clear"}},
    ]
    assert apply_changes(before, changes) == after


def test_a_list_whose_items_moved_is_one_change_of_the_whole_list() -> None:
    before = {"cases": [{"case_id": "k2", "status": "created"}]}
    after = {"cases": [{"case_id": "k1", "status": "created"}, {"case_id": "k2",
                                                                "status": "created"}]}  # fmt: skip
    assert status_changes(before, after) == [
        {"path": "cases", "from": before["cases"], "to": after["cases"]}
    ]


@pytest.mark.parametrize("path", ["", ".aml", "aml..status", 'aml.checks["unclosed]', "AML"])
def test_a_path_that_is_not_one_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="path"):
        apply_changes({"aml": {"status": "clear"}}, [{"path": path, "from": None, "to": 1}])


def test_a_path_through_an_item_the_status_does_not_hold_is_refused() -> None:
    status = {"aml": {"checks": [{"check_id": "c1", "status": "clear"}]}}
    change = {"path": 'aml.checks["c2"].status', "from": "clear", "to": "hit"}
    with pytest.raises(ValueError, match="does not hold"):
        apply_changes(status, [change])


# The route.


def story(client: LedgerClient) -> tuple[int, int, int]:
    """alice: a session created, a clear sanction check, then the session approved."""
    created = deliver(client, session("session.created", "a1"))
    cleared = check("check.completed", "a2", external_ref="alice", check_type="sanction",
                    status="clear", has_match=False)  # fmt: skip
    checked = deliver(client, cleared)
    approved = deliver(client, session("session.approved", "a3"))
    return created, checked, approved


def test_the_changes_between_two_positions_list_the_events_and_the_fields(
    client: LedgerClient,
) -> None:
    created, checked, approved = story(client)
    answer = client.read("/subjects/alice/changes", **{"from": str(created), "to": str(approved)})
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["from"]["position"] == created and body["to"]["position"] == approved
    assert [e["position"] for e in body["events"]] == [checked, approved]
    changed = {c["path"]: (c["from"], c["to"]) for c in body["status_changes"]}
    assert changed["verification.status"] == ("created", "approved")
    assert changed["aml.status"] == ("unscreened", "clear")
    assert changed['aml.checks["chk1"]'][0] is None
    then = client.read("/subjects/alice/status", as_of=created).json()
    now = client.read("/subjects/alice/status", as_of=approved).json()
    then.pop("as_of")
    now.pop("as_of")
    assert apply_changes(then, body["status_changes"]) == now


def test_to_defaults_to_the_head_and_instants_name_points(client: LedgerClient) -> None:
    created, _, approved = story(client)
    recorded_at = client.read("/subjects/alice/status", as_of=created).json()["as_of"]
    body = client.read("/subjects/alice/changes", **{"from": recorded_at["recorded_at"]}).json()
    assert body["from"]["position"] == created and body["to"]["position"] == approved


def test_before_the_subject_was_known_it_starts_from_the_empty_status(
    client: LedgerClient,
) -> None:
    created, _, _ = story(client)
    body = client.read("/subjects/alice/changes", **{"from": "0", "to": str(created)}).json()
    assert [e["position"] for e in body["events"]] == [created]
    changed = {c["path"]: c["to"] for c in body["status_changes"]}
    assert changed["verification.status"] == "created"


def test_the_events_come_a_page_at_a_time_pinned_to_to(client: LedgerClient) -> None:
    created, checked, approved = story(client)
    first = client.read("/subjects/alice/changes", **{"from": "0", "limit": "2"}).json()
    assert [e["position"] for e in first["events"]] == [created, checked]
    deliver(client, session("session.declined", "a4"))  # later: not on the pinned pages
    params = {"from": "0", "limit": "2", "cursor": first["next_cursor"]}
    rest = client.read("/subjects/alice/changes", **params).json()
    assert [e["position"] for e in rest["events"]] == [approved]
    assert rest["next_cursor"] is None and rest["to"]["position"] == approved
    assert rest["status_changes"] == first["status_changes"]


def test_from_after_to_is_a_clear_422(client: LedgerClient) -> None:
    created, _, approved = story(client)
    answer = client.read("/subjects/alice/changes", **{"from": str(approved), "to": str(created)})
    assert answer.status_code == 422
    assert "after to" in str(answer.json())


@pytest.mark.parametrize("params", [{}, {"from": "yesterday"}, {"from": "1", "to": "-1"}])
def test_a_missing_or_malformed_point_is_422(client: LedgerClient, params: dict[str, str]) -> None:
    story(client)
    assert client.read("/subjects/alice/changes", **params).status_code == 422


def test_an_unknown_subject_is_404(client: LedgerClient) -> None:
    story(client)
    assert client.read("/subjects/bob/changes", **{"from": "0"}).status_code == 404


def test_auditors_see_personal_data_masked_and_officers_reads_are_logged(
    client: LedgerClient,
) -> None:
    approval = next(p for p in seed_examples() if p["event"] == "session.approved")
    client.deliver(approval)
    path = "/subjects/user_456/changes"
    audited = client.read(path, **{"from": "0"}).json()
    assert audited["events"][0]["payload"]["result"]["extracted_data"]["first_name"] == "[masked]"
    assert "Jane" not in str(audited)
    disclosed = client.read(path, role="officer", **{"from": "0"}).json()
    assert disclosed["events"][0]["payload"]["result"]["extracted_data"]["first_name"] == "Jane"
    log = client.read("/access-log", role="admin").json()
    assert any(a["subject"] == "user_456" and a["what"].startswith("changes from")
               for a in log["accesses"]), log  # fmt: skip
