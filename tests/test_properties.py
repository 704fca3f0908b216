"""Property tests of the ledger over random delivery histories (DESIGN §9).

Retries change nothing; the live projections equal the as-of answer at their
position and a fresh rebuild; delivery order and unknown event types do not
change what they must not. That the answers follow the rules of DESIGN §5 at
every prefix is checked against an independent model in `test_reference_model.py`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from application.recording.outcomes import Duplicate
from bootstrap.services import open_read_models
from domain.entries import AsOf
from domain.sessions import OUTCOMES, Session
from projections.models import READ_MODELS
from projections.read_model import Selection
from projections.runner import ProjectionRunner
from tests.databases import NewDatabase
from tests.helpers import STORAGE_EXAMPLES, deliver_all, fresh_ledger
from tests.strategies import REFS, histories

SUBJECTS = REFS


@STORAGE_EXAMPLES
@given(history=histories())
def test_duplicates_change_nothing(
    new_database: NewDatabase, history: list[dict[str, Any]]
) -> None:
    with fresh_ledger(new_database) as ledger:
        first = deliver_all(ledger, history)
        head = ledger.as_of()
        before = {s: ledger.subject_status(s, head) for s in SUBJECTS}
        again = deliver_all(ledger, history)
        assert all(isinstance(o, Duplicate) for o in again)
        assert [o.position for o in again] == [o.position for o in first]
        assert ledger.as_of() == head
        assert {s: ledger.subject_status(s, head) for s in SUBJECTS} == before


@STORAGE_EXAMPLES
@given(history=histories(), batch_size=st.integers(1, 7), chunks=st.integers(1, 4))
def test_projections_equal_the_fold_at_their_position_and_a_fresh_rebuild(
    new_database: NewDatabase, history: list[dict[str, Any]], batch_size: int, chunks: int
) -> None:
    with fresh_ledger(new_database) as ledger:
        store = open_read_models(ledger, READ_MODELS)
        runner = ProjectionRunner(ledger, store, READ_MODELS, batch_size=batch_size)
        step = max(1, len(history) // chunks)
        for start in range(0, len(history), step):
            deliver_all(ledger, history[start : start + step])
            runner.catch_up()
            for model in READ_MODELS:
                build = store.serving(model.name)
                assert build is not None
                position, [stored] = store.select((build, Selection(model)))
                with ledger.reading() as read:
                    rows = model.rows_as_of(read, AsOf(position, None))
                assert stored == [row.doc for row in sorted(rows, key=lambda r: r.key)]
        head = ledger.as_of().position
        incremental = {m.name: store.select((store.serving(m.name), Selection(m)))  # type: ignore[arg-type]
                       for m in READ_MODELS}  # fmt: skip
        for model in READ_MODELS:
            rebuilt = store.start_build(model)
            runner.catch_up(only=rebuilt)
            assert store.select((rebuilt, Selection(model))) == incremental[model.name]
            assert store.serving(model.name) == replace(rebuilt, state="live")
        assert {state["position"] for state in runner.states()} == {head}


NON_OUTCOMES = [
    "session.created",
    "session.started",
    "session.requires-review",
    "session.redacted",
    "session.retention-expired",
    "session.flagged",
]


@settings(max_examples=200)
@given(
    data=st.data(),
    events=st.lists(st.sampled_from(NON_OUTCOMES), max_size=8),
    outcomes=st.lists(st.sampled_from(sorted(OUTCOMES)), max_size=3),
)
def test_permuting_non_outcome_events_does_not_change_the_final_status(
    data: st.DataObject, events: list[str], outcomes: list[str]
) -> None:
    def final(sequence: list[str]) -> tuple[str, bool, bool]:
        session = Session("s1")
        for event_type in sequence:
            session.apply(event_type, {})
        return session.status, session.decision_changed, session.erased is not None

    interleaving = data.draw(st.permutations(events + outcomes))
    # Outcomes keep their relative order; only the non-outcome events move around.
    ordered_outcomes = iter(outcomes)
    one = [next(ordered_outcomes) if e in OUTCOMES else e for e in interleaving]
    shuffled_events = iter(data.draw(st.permutations(events)))
    ordered_outcomes = iter(outcomes)
    other = [
        next(ordered_outcomes) if e in OUTCOMES else next(shuffled_events) for e in interleaving
    ]
    assert final(one) == final(other)


@STORAGE_EXAMPLES
@given(history=histories(), data=st.data())
def test_unknown_event_types_that_reveal_no_link_never_change_a_status(
    new_database: NewDatabase, history: list[dict[str, Any]], data: st.DataObject
) -> None:
    # Routed to the same streams, but naming no subject or session: nothing new to link.
    unlinked = ("external_ref", "session_id")
    unknown = [
        {k: v for k, v in p.items() if k not in unlinked}
        | {"event": data.draw(st.sampled_from(["check.queued", "case.note_added",
                                                "document.archived", "identity.merged"])),
           "idempotency_key": f"unknown_{n}"}
        for n, p in enumerate(history)
        if p["event"].split(".")[0] in ("check", "case", "document", "identity")
    ]  # fmt: skip
    with fresh_ledger(new_database) as ledger:
        deliver_all(ledger, history)
        head = ledger.as_of()
        before = {s: ledger.subject_status(s, head) for s in SUBJECTS}
        deliver_all(ledger, unknown)
        after = ledger.as_of()
        assert {s: ledger.subject_status(s, after) for s in SUBJECTS} == before


@STORAGE_EXAMPLES
@given(
    events=st.lists(st.sampled_from(NON_OUTCOMES), min_size=1, max_size=6),
    outcome=st.sampled_from([None, *sorted(OUTCOMES)]),
    refs=st.lists(st.booleans(), min_size=7, max_size=7),
    data=st.data(),
)
def test_delivery_order_of_a_sessions_non_outcome_events_does_not_change_its_status(
    new_database: NewDatabase,
    events: list[str],
    outcome: str | None,
    refs: list[bool],
    data: st.DataObject,
) -> None:
    """End to end: some deliveries name the subject, some only the session (two streams)."""

    def payload(n: int, event_type: str) -> dict[str, Any]:
        extra = {"status": "approved"} if event_type == "session.approved" else {}
        extra |= {"status": "rejected"} if event_type == "session.declined" else {}
        extra |= {"reason": "blurry"} if event_type == "session.resubmission-required" else {}
        return {"event": event_type, "session_id": "s1", "is_sandbox": False,
                "external_ref": "u1" if refs[n] or n == 0 else None,
                "idempotency_key": f"k{n}", **extra}  # fmt: skip

    sequence = [*events, outcome] if outcome else events
    deliveries_in_order = [payload(n, e) for n, e in enumerate(sequence)]
    shuffled_events = data.draw(st.permutations(deliveries_in_order[: len(events)]))
    reordered = [*shuffled_events, *deliveries_in_order[len(events) :]]
    statuses = []
    for order in (deliveries_in_order, reordered):
        with fresh_ledger(new_database) as ledger:
            deliver_all(ledger, order)
            status = ledger.subject_status("u1", ledger.as_of())
            assert status is not None
            statuses.append(status["verification"])
    assert statuses[0] == statuses[1]
