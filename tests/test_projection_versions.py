"""Read models rebuilt beside the serving ones: new versions, rebuilds, diffs and cut-over."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from cli.main import main
from domain.subject import SubjectStatus
from projections.diff import diff_builds
from projections.models import READ_MODELS, SUBJECT_STATUS, SubjectStatusModel
from projections.read_model import Row, Selection
from projections.runner import ProjectionRunner
from projections.subject_links import SUBJECT_LINKS
from tests.helpers import LedgerClient, run_json, session_event


class SubjectStatusV2(SubjectStatusModel):
    """A deliberate rule change: sessions pending review are reported as `in_review`."""

    version = 2

    def row(self, key: str, fold: SubjectStatus | None) -> Row | None:
        row = super().row(key, fold)
        if row and row.doc["verification"]["status"] == "pending_review":
            doc = {**row.doc, "verification": {**row.doc["verification"], "status": "in_review"}}
            return replace(row, status="in_review", doc=doc)
        return row


V2_MODELS = [SubjectStatusV2() if m is SUBJECT_STATUS else m for m in READ_MODELS]


def session(event: str, ref: str, n: int) -> dict[str, Any]:
    return session_event(event, session_id=f"s-{ref}", ref=ref, key=f"{event}-{ref}-{n}")


def populate(client: LedgerClient) -> None:
    for n, ref in enumerate(["ann", "ben", "cid", "dot"]):
        client.deliver(session("session.created", ref, n))
    for n, ref in enumerate(["ben", "dot"]):
        client.deliver(session("session.requires-review", ref, n))
    client.caught_up()


def status_of(client: LedgerClient, ref: str) -> str:
    return str(client.read(f"/subjects/{ref}/status").json()["verification"]["status"])


def test_a_new_version_serves_the_old_answers_until_it_has_caught_up(
    client: LedgerClient,
) -> None:
    populate(client)
    services = client.services
    store = services.read_models
    v1 = store.serving("subject_status")
    store.prepare(V2_MODELS)  # what deploying the new version does
    [v2] = [b for b in store.builds("subject_status") if b.version == 2]
    assert (v2.state, store.serving("subject_status")) == ("building", v1)

    seen_while_building: list[str] = []

    def progress(position: int, head: int) -> None:
        seen_while_building.append(status_of(client, "ben"))

    runner = ProjectionRunner(services.ledger, store, V2_MODELS, batch_size=2)
    runner.catch_up(only=v2, progress=progress)
    assert set(seen_while_building) == {"pending_review"}  # v1 answered throughout
    assert store.serving("subject_status") == replace(v2, state="live")
    assert status_of(client, "ben") == "in_review"
    assert {b.version: b.state for b in store.builds("subject_status")} == {
        1: "retired", 2: "live"}  # fmt: skip

    assert v1 is not None
    changes = diff_builds(store, SubjectStatusV2(), replace(v1, state="retired"), v2)
    assert [(c.key, c.change, c.fields) for c in changes] == [
        ("ben", "changed", ["verification"]), ("dot", "changed", ["verification"])]  # fmt: skip


def test_a_rebuild_interrupted_half_way_resumes_to_the_same_rows(client: LedgerClient) -> None:
    populate(client)
    store, runner = client.services.read_models, client.services.runner
    live = store.serving("subject_status")
    assert live is not None
    build = store.start_build(SUBJECT_STATUS)

    def interrupt(position: int, head: int) -> None:
        raise KeyboardInterrupt

    small_batches = ProjectionRunner(client.services.ledger, store, READ_MODELS, 2)
    with pytest.raises(KeyboardInterrupt):
        small_batches.catch_up(only=build, progress=interrupt)
    assert 0 < store.position(build) < store.position(live)
    assert store.serving("subject_status") == live
    assert store.start_build(SUBJECT_STATUS) == build  # resumes, does not start over
    runner.catch_up(only=build)
    assert store.select((build, Selection(SUBJECT_STATUS))) == store.select(
        (live, Selection(SUBJECT_STATUS)))  # fmt: skip
    assert store.serving("subject_status") == replace(build, state="live")


def test_rebuild_diff_and_drop_from_the_command_line(
    cli_ledger: None, capsys: pytest.CaptureFixture[str]
) -> None:
    rebuilt = run_json(capsys, "projections", "rebuild", "subject_status")
    assert rebuilt["serving"] == rebuilt["build"] == "subject_status_v1_g2"
    diff = run_json(capsys, "projections", "diff", "subject_status")
    assert (diff["old"], diff["new"], diff["changes"]) == (
        "subject_status_v1_g1", "subject_status_v1_g2", [])  # fmt: skip
    states = run_json(capsys, "projections", "status")["projections"]
    subject_builds = {s["generation"]: s["state"] for s in states if s["name"] == "subject_status"}
    assert subject_builds == {1: "retired", 2: "live"}
    assert {s["lag"] for s in states} == {0}
    assert run_json(capsys, "projections", "drop", "subject_status") == {
        "dropped": ["subject_status_v1_g1"]}  # fmt: skip


def test_a_rebuild_shows_its_progress(cli_ledger: None, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["projections", "rebuild", "checks"]) == 0
    captured = capsys.readouterr()
    assert "events/s" in captured.err and "ETA" in captured.err
    assert "reads now come from checks_v1_g2" in captured.out


def test_an_unknown_read_model_is_a_clear_error(
    cli_ledger: None, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["projections", "rebuild", "subjects"]) == 2
    assert "the projections are subject_links, subject_status" in capsys.readouterr().err


def test_every_build_is_listed_with_its_state(client: LedgerClient) -> None:
    populate(client)
    answer = client.read("/projections", role="admin").json()["projections"]
    assert {(p["name"], p["version"], p["state"], p["lag"]) for p in answer} == {
        (m.name, m.version, "live", 0) for m in [SUBJECT_LINKS, *READ_MODELS]  # type: ignore[attr-defined]
    }  # fmt: skip
