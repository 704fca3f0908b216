"""The links index as a projection: rebuilt from the ledger, versioned, cut over atomically."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from application.ledger import Ledger
from application.storage.schema import LINK_TABLES
from bootstrap.services import open_read_models
from cli.main import main
from domain.entries import StreamKey
from domain.routing import LinkBook, learn_links
from projections.models import READ_MODELS
from projections.runner import ProjectionRunner
from projections.subject_links import SUBJECT_LINKS, LinkIndex, SubjectLinks, suffix
from tests.databases import NewDatabase
from tests.helpers import STORAGE_EXAMPLES, LedgerClient, deliver_all, fresh_ledger, run_json
from tests.strategies import REFS, histories

SUBJECTS = REFS


def link_rows(ledger: Ledger, table_suffix: str = "") -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the links index's tables, in a stable order."""
    with ledger.database.reading() as uow:
        return {table: sorted(tuple(row.values() if isinstance(row, dict) else row)
                              for row in uow.rows(f"SELECT * FROM {table}{table_suffix}"))
                for table in LINK_TABLES}  # fmt: skip


def answers(ledger: Ledger) -> dict[str, Any]:
    """What auditors read through the links: statuses and timelines, now and at every prefix."""
    head = ledger.as_of()
    found: dict[str, Any] = {}
    for position in range(head.position + 1):
        as_of = ledger.as_of(position)
        for subject in SUBJECTS:
            timeline = ledger.timeline(subject, as_of)
            found[f"{subject}@{position}"] = (
                ledger.subject_status(subject, as_of),
                None if timeline is None else [entry.position for entry in timeline],
            )
    return found


@STORAGE_EXAMPLES
@given(history=histories(), batch_size=st.integers(1, 7), chunks=st.integers(1, 3))
def test_a_rebuilt_links_index_equals_the_one_kept_by_the_appends(
    new_database: NewDatabase, history: list[dict[str, Any]], batch_size: int, chunks: int
) -> None:
    with fresh_ledger(new_database) as ledger:
        store = open_read_models(ledger, READ_MODELS)
        links = LinkIndex(ledger, store, SubjectLinks(), batch_size=batch_size)
        links.prepare()
        step = max(1, len(history) // chunks)
        deliver_all(ledger, history[:step])
        build = links.start_build()
        for start in range(step, len(history), step):  # appends go on while it builds
            links.catch_up(build)
            deliver_all(ledger, history[start : start + step])
        inline, before = link_rows(ledger), answers(ledger)
        assert links.promote(build)
        assert link_rows(ledger) == inline
        assert answers(ledger) == before
        assert not links.promote(build)  # a second cut-over (another process) does nothing
        [retired] = [b for b in store.builds("subject_links") if b.state == "retired"]
        assert link_rows(ledger, suffix(retired)) == inline
        assert links.diff(retired, replace(build, state="live")) == []


class SubjectLinksV2(SubjectLinks):
    """A deliberate rule change: identities are never shared between subjects."""

    version = SUBJECT_LINKS.version + 1

    def learn(self, book: LinkBook, stream: StreamKey, payload: Mapping[str, Any]) -> None:
        learn_links(book, stream, {k: v for k, v in payload.items() if k != "identity_id"})


def identity(ref: str, n: int) -> dict[str, Any]:
    return {"event": "identity.created", "identity_id": "idn-shared", "external_ref": ref,
            "is_sandbox": False, "idempotency_key": f"identity-{ref}-{n}"}  # fmt: skip


def shared(client: LedgerClient, ref: str, **params: Any) -> list[str]:
    body = client.read(f"/subjects/{ref}/status", **params).json()
    return list(body["verification"]["shared_identity_with"])


def test_new_links_rules_build_beside_the_live_links_and_reads_switch_once_caught_up(
    client: LedgerClient,
) -> None:
    for n, ref in enumerate(["ann", "ben", "cid", "ann"]):
        client.deliver(identity(ref, n) if ref != "cid" else {
            "event": "session.created", "session_id": "s-cid", "external_ref": "cid",
            "is_sandbox": False, "idempotency_key": "cid-0"})  # fmt: skip
    client.caught_up()
    assert (shared(client, "ann"), shared(client, "ben")) == (["ben"], ["ann"])
    services = client.services
    store = services.read_models
    v1 = store.serving("subject_links")

    # What deploying the new version does: appends learn by its rules, and it builds beside.
    services.ledger.index.link_rules = SubjectLinksV2().learn
    links = LinkIndex(services.ledger, store, SubjectLinksV2(), batch_size=1)
    links.prepare()
    v2 = links.building()
    assert v2 is not None and v2.version == SubjectLinksV2.version
    assert store.serving("subject_links") == v1
    runner = ProjectionRunner(services.ledger, store, READ_MODELS, links=links)

    seen_while_building: list[list[str]] = []
    diffs_before_cut_over: list[list[str]] = []

    def progress(position: int, head: int) -> None:
        seen_while_building.append(shared(client, "ann", as_of=str(head)))
        assert v1 is not None
        diffs_before_cut_over.append([c.key for c in links.diff(v1, v2)])

    runner.catch_up(only=v2, progress=progress)
    assert seen_while_building and {tuple(s) for s in seen_while_building} == {("ben",)}
    assert diffs_before_cut_over[-1] == ["ann", "ben"]
    assert store.serving("subject_links") == replace(v2, state="live")
    assert shared(client, "ann", as_of="4") == []  # as-of reads go through the new links

    # The read models were computed through the old links: they build again beside.
    assert shared(client, "ann") == ["ben"]
    rebuilding = {b.name for b in store.builds() if b.state == "building"}
    assert rebuilding == {model.name for model in READ_MODELS}
    runner.catch_up()
    assert (shared(client, "ann"), shared(client, "ben")) == ([], [])
    assert {(s["state"], s["lag"]) for s in runner.states() if s["state"] != "retired"} == {
        ("live", 0)}  # fmt: skip

    # Appends after the cut-over write the new live tables with the new rules.
    client.deliver(identity("dot", 9))
    assert link_rows(services.ledger)["identity_refs"] == []
    assert ("dot",) in {row[1:2] for row in link_rows(services.ledger)["stream_links"]}


def test_links_rebuilt_while_deliveries_keep_coming_equal_those_kept_by_the_appends(
    ledger: Ledger,
) -> None:
    store = open_read_models(ledger, READ_MODELS)
    links = LinkIndex(ledger, store, SubjectLinks(), batch_size=5)
    links.prepare()
    deliver_all(ledger, [identity(f"u{n}", n) for n in range(30)])
    later = [identity(f"v{n}", n) for n in range(60)]
    appending = threading.Thread(target=deliver_all, args=(ledger, later))
    appending.start()
    for _ in range(2):  # a rebuild, then a rebuild of the rebuild
        build = links.start_build()
        links.catch_up(build)
        assert links.promote(build)
    appending.join(timeout=60)
    assert not appending.is_alive()
    inline = link_rows(ledger)
    assert len(inline["stream_links"]) == 90
    build = links.start_build()
    links.catch_up(build)
    assert links.promote(build)
    assert link_rows(ledger) == inline
    states = {(b.generation, b.state) for b in store.builds("subject_links")}
    assert states == {(1, "retired"), (2, "retired"), (3, "retired"), (4, "live")}


def test_an_interrupted_links_rebuild_resumes(client: LedgerClient) -> None:
    for n in range(6):
        client.deliver(identity(f"u{n}", n))
    services = client.services
    links = LinkIndex(services.ledger, services.read_models, SubjectLinks(), 2)
    build = links.start_build()

    def interrupt(position: int, head: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        links.catch_up(build, progress=interrupt)
    assert services.read_models.position(build) == 2
    assert links.start_build() == build  # resumes, does not start over
    inline = link_rows(services.ledger)
    links.catch_up(build)
    assert link_rows(services.ledger, suffix(build)) == inline


def test_links_rebuild_diff_and_drop_from_the_command_line(
    cli_ledger: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rebuilt = run_json(capsys, "projections", "rebuild", "subject_links")
    v = SUBJECT_LINKS.version
    assert rebuilt["serving"] == rebuilt["build"] == f"subject_links_v{v}_g2"
    diff = run_json(capsys, "projections", "diff", "subject_links")
    assert (diff["old"], diff["new"], diff["changes"]) == (
        f"subject_links_v{v}_g1", f"subject_links_v{v}_g2", [])  # fmt: skip
    states = run_json(capsys, "projections", "status")["projections"]
    assert {(s["generation"], s["state"], s["lag"]) for s in states
            if s["name"] == "subject_links"} == {(1, "retired", 0), (2, "live", 0)}  # fmt: skip
    assert run_json(capsys, "projections", "drop", "subject_links") == {
        "dropped": [f"subject_links_v{v}_g1"]}  # fmt: skip
    capsys.readouterr()
    assert main(["timeline", "user_erin", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["events"]
