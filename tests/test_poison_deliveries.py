"""Poison deliveries: no authentic delivery can stop the ledger, its batch or its read models.

Values far outside what Verifa sends are bounded at validation and quarantined;
a delivery the database still refuses fails alone; a read model that cannot
apply a row sets it aside, reports it and goes on (DESIGN §4, §6).
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from application.ledger import Ledger
from application.recording.delivery import Delivery
from application.recording.outcomes import Quarantined, Recorded
from bootstrap.services import Services
from domain.bounds import MAX_COUNT, MAX_IDENTIFIER_LENGTH, ROUTING_FIELDS
from domain.payloads import EVENT_MODELS, ValidationError, validate_payload
from projections.models import CheckModel
from tests.helpers import STORAGE_EXAMPLES, LedgerClient, Payload, run_json, seed_examples

SEEDS = seed_examples()


def example(event: str, **fields: Any) -> Payload:
    """Verifa's example of the event type, with a key of its own and the fields given."""
    payload = next(p for p in SEEDS if p["event"] == event)
    return {**payload, "idempotency_key": f"k_{uuid.uuid4().hex}", **fields}


def incompressible(length: int) -> str:
    """Random text: the database cannot compress it to fit an index row."""
    return secrets.token_hex(length)[:length]


def legacy(payload: Payload) -> Delivery:
    """A delivery recorded as an older version did, before values were bounded."""
    return Delivery(json.dumps(payload), payload, payload["idempotency_key"])


def too_large(value: Any) -> list[Any]:
    """Values of the same JSON type as `value`, each beyond any bound Verifa's could need."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int):
        return [10**4299, -1, MAX_COUNT + 1]
    if isinstance(value, float):
        return [1e300, -1e300]
    if isinstance(value, str):
        return [incompressible(5000)]
    if isinstance(value, list):
        return [[incompressible(5000)], ["a"] * 100_000]
    return []


@pytest.mark.parametrize("payload", SEEDS, ids=lambda p: p["event"])
def test_every_field_of_every_event_type_is_bounded(payload: Payload) -> None:
    model = EVENT_MODELS[payload["event"]]
    fields = [name for name in payload if name in model.model_fields]
    for name in fields:
        for value in too_large(payload[name]):
            with pytest.raises(ValidationError) as error:
                validate_payload({**payload, name: value})
            assert name in str(error.value), (name, str(value)[:30])


@pytest.mark.parametrize("field", ROUTING_FIELDS)
def test_routing_fields_are_bounded_whatever_the_event_type(field: str) -> None:
    for event in ("unknown.thing", "identity.created", "session.created"):
        base = example(event) if event in EVENT_MODELS else {"event": event}
        payload = {**base, field: "x" * (MAX_IDENTIFIER_LENGTH + 1)}
        with pytest.raises(ValidationError, match=field):
            validate_payload(payload)
        validate_payload({**payload, field: "x" * MAX_IDENTIFIER_LENGTH})


def test_counts_that_would_overflow_a_read_model_are_quarantined(client: LedgerClient) -> None:
    """Two 4,300-digit hit counts used to sum to a number JSON cannot encode: every read
    model stopped for good."""
    huge = 10**4300 - 1  # 4,300 digits: the most Python reads from JSON
    for _ in range(2):
        answer = client.deliver(example("check.monitoring.new_hits", new_hit_count=huge))
        assert answer.status_code == 200
        assert answer.json()["status"] == "quarantined"
    ordinary = client.deliver(example("check.monitoring.new_hits"))
    assert ordinary.json()["status"] == "recorded"
    [held, _] = client.read("/quarantine", role="admin").json()["entries"]
    assert held["reason"] == "invalid payload"
    assert held["errors"][0]["loc"] == ["new_hit_count"]
    states = client.caught_up().read("/projections", role="admin").json()["projections"]
    assert all(s["lag"] == 0 and s["unapplied"] == 0 for s in states), states


@pytest.mark.parametrize(
    "field", ["external_ref", "session_id", "identity_id", "idempotency_key", "check_id"]
)
def test_an_identifier_too_long_for_an_index_is_quarantined_alone(
    client: LedgerClient, field: str
) -> None:
    """On PostgreSQL a 3,000-character reference used to be a 503 on every retry, forever, and
    took down deliveries committed in the same batch."""
    event = "check.completed" if field == "check_id" else "session.approved"
    poison = example(event, **{field: incompressible(3000)})
    ordinary = [example("session.created", session_id=f"s{n}", external_ref=f"u{n}")
                for n in range(5)]  # fmt: skip
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(client.deliver, [*ordinary[:3], poison, *ordinary[3:]]))
    assert [a.status_code for a in answers] == [200] * 6
    statuses = [a.json()["status"] for a in answers]
    assert statuses == ["recorded"] * 3 + ["quarantined"] + ["recorded"] * 2
    states = client.caught_up().read("/projections", role="admin").json()["projections"]
    assert all(s["lag"] == 0 and s["unapplied"] == 0 for s in states), states


def test_a_delivery_the_store_refuses_is_quarantined_and_its_batch_recorded(
    ledger: Ledger, store: str
) -> None:
    """A delivery recorded before values were bounded, or any the database refuses for its
    own data: quarantined with the database's reason; the rest of its batch is recorded."""
    poison = {**example("session.created"), "external_ref": incompressible(3000)}
    batch = [legacy(example("session.created", session_id=f"s{n}", external_ref=f"u{n}"))
             for n in range(4)]  # fmt: skip
    outcomes = ledger.record_all([*batch[:2], legacy(poison), *batch[2:]])
    assert [type(o) for o in outcomes[:2] + outcomes[3:]] == [Recorded] * 4
    if store == "postgres":  # SQLite has no limit that low on an indexed value
        assert isinstance(outcomes[2], Quarantined)
        [held] = ledger.quarantine.list()
        assert held.reason.startswith("the store refused it: index row size")
        assert json.loads(held.body) == poison
        assert ledger.replay_quarantine().still_held == [held.id]
    else:
        assert isinstance(outcomes[2], Recorded)


def test_a_delivery_this_code_cannot_append_fails_alone(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever goes wrong with one delivery's append, the others of its batch are recorded."""
    planner = ledger.appender.planner
    plan = planner.plan

    def plan_failing_on_poison(uow: Any, deliveries: Any) -> Any:
        if any(d.payload.get("external_ref") == "poison" for d in deliveries):
            raise RuntimeError("a bug this delivery runs into")
        return plan(uow, deliveries)

    monkeypatch.setattr(planner, "plan", plan_failing_on_poison)
    batch = [legacy(example("session.created", session_id=f"s{n}", external_ref=ref))
             for n, ref in enumerate(["u1", "poison", "u2"])]  # fmt: skip
    submitted = ledger._committer.submit_all  # the answers, errors included, of one batch
    with pytest.raises(RuntimeError, match="a bug this delivery runs into"):
        submitted(batch)
    keys = [d.idempotency_key for d in batch]
    with ledger.reading() as history:
        recorded = history.positions.of_keys(keys)
    assert set(recorded) == {keys[0], keys[2]}


@pytest.fixture
def legacy_poison(services: Services) -> Iterator[tuple[Services, list[int]]]:
    """A ledger holding what older versions recorded unbounded: two 4,300-digit hit counts
    for one check, and a check id too long for an index row, among ordinary deliveries."""
    ledger = services.ledger
    long_id = incompressible(3000)
    payloads = [
        example("check.completed", check_id="chk_ok", external_ref="u_ok"),
        example("check.monitoring.new_hits", check_id="chk_huge", new_hit_count=10**4300 - 1),
        example("check.monitoring.new_hits", check_id="chk_huge", new_hit_count=10**4300 - 1),
        example("check.completed", check_id=long_id, external_ref="u_long"),
        example("session.approved", session_id="s_ok", external_ref="u_ok"),
    ]
    outcomes = ledger.record_all([legacy(p) for p in payloads])
    assert all(isinstance(o, Recorded) for o in outcomes)
    yield services, [o.position for o in outcomes if isinstance(o, Recorded)]


def test_a_read_model_sets_aside_rows_it_cannot_apply_and_goes_on(
    legacy_poison: tuple[Services, list[int]], store: str
) -> None:
    services, positions = legacy_poison
    services.runner.catch_up()  # used to raise, every time, for good
    states: dict[Any, Any] = {s["name"]: s for s in services.runner.states()}
    assert all(s["lag"] == 0 for s in states.values()), states
    checks = states["checks"]
    set_aside = {row["key"][:200]: row for row in checks["unapplied_rows"]}
    assert "chk_huge" in set_aside
    assert set_aside["chk_huge"]["entries"] == positions[1:3]
    assert "Exceeds the limit" in set_aside["chk_huge"]["error"]
    if store == "postgres":  # the long key is refused by the row's index there
        assert checks["unapplied"] == 2
    read = services.read_models
    assert read.get(read.serving("checks"), "chk_ok")[1] is not None  # type: ignore[arg-type]
    assert read.get(read.serving("subject_status"), "u_ok")[1] is not None  # type: ignore[arg-type]


def test_a_later_entry_that_applies_clears_a_rows_note(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, runner = services.ledger, services.runner
    row = CheckModel.row

    def flaky(self: CheckModel, key: str, fold: Any) -> Any:
        if fold.state is not None and fold.state.status == "clear":
            raise RuntimeError("a row that fails while the check is clear")
        return row(self, key, fold)

    monkeypatch.setattr(CheckModel, "row", flaky)
    ledger.record(legacy(example("check.completed", check_id="chk_1")))
    runner.catch_up()
    checks = next(s for s in runner.states() if s["name"] == "checks")
    assert checks["unapplied"] == 1 and checks["position"] == 1
    ledger.record(legacy(example("check.matched", check_id="chk_1")))
    runner.catch_up()
    checks = next(s for s in runner.states() if s["name"] == "checks")
    assert checks["unapplied"] == 0 and checks["position"] == 2


@pytest.mark.usefixtures("cli_ledger")
def test_an_admin_retries_the_rows_a_read_model_set_aside(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:
        patched.setattr(CheckModel, "row", lambda *args: 1 / 0)  # a bug in the read model
        run_json(capsys, "projections", "rebuild", "checks")
    status = run_json(capsys, "projections", "status")["projections"]
    [checks] = [s for s in status if s["name"] == "checks" and s["state"] == "live"]
    assert checks["unapplied"] > 0 and checks["lag"] == 0  # the build went on to the head
    assert "ZeroDivisionError" in checks["unapplied_rows"][0]["error"]
    # The bug is fixed (the patch is gone): retrying applies every row set aside.
    retried = run_json(capsys, "projections", "retry", "checks")["retried"]
    label = f"checks_v{checks['version']}_g{checks['generation']}"
    assert retried == [{"build": label, "applied": checks["unapplied"], "unapplied": 0}]
    status = run_json(capsys, "projections", "status")["projections"]
    assert all(s["unapplied"] == 0 for s in status)


# Arbitrary JSON in every field of every event type.

EVERY_FIELD = {*ROUTING_FIELDS, *(f for m in EVENT_MODELS.values() for f in m.model_fields)}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**4000, max_value=10**4299)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.integers(min_value=257, max_value=3000).map(incompressible),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@STORAGE_EXAMPLES
@given(
    event=st.sampled_from([*sorted(EVENT_MODELS), "unknown.event"]),
    field=st.sampled_from(sorted(EVERY_FIELD)),
    value=json_values,
)
def test_arbitrary_json_in_any_field_never_stops_the_ledger(
    client: LedgerClient, event: str, field: str, value: Any
) -> None:
    """No 5xx; every ordinary delivery sent alongside is recorded; every read model reaches
    the head with nothing set aside."""
    base = example(event) if event in EVENT_MODELS else {"event": event}
    poison = {**base, "idempotency_key": f"k_{uuid.uuid4().hex}", field: value}
    ordinary = [example("session.created", session_id=f"s_{uuid.uuid4().hex}") for _ in range(3)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(client.deliver, [ordinary[0], poison, *ordinary[1:]]))
    assert all(a.status_code == 200 for a in answers), [a.text[:300] for a in answers]
    assert [answers[n].json()["status"] for n in (0, 2, 3)] == ["recorded"] * 3
    states = client.caught_up().read("/projections", role="admin").json()["projections"]
    assert all(s["lag"] == 0 and s["unapplied"] == 0 for s in states), states
