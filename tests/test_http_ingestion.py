"""`POST /webhooks/verifa` over HTTP: the DESIGN §4 ingestion contract, row by row."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.webhook_authentication.signature import WebhookSecret, signed_headers
from domain.entries import StreamKey
from tests.helpers import (
    ROTATED_SECRET,
    SECRET,
    LedgerClient,
    all_entries,
    entry_count,
    quarantine_records,
    seed_examples,
    session_event,
    verifa_entries,
)

URL = "/webhooks/verifa"
MIB = 1024 * 1024


def created(key: str, ref: str = "user_1", session: str = "sess_1", **extra: Any) -> Any:
    return session_event(session_id=session, ref=ref, key=key, **extra)


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def signature_for(secret: WebhookSecret, webhook_id: str, timestamp: str, body: bytes) -> str:
    """A valid v1 signature over the timestamp *text*, whatever it is."""
    content = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret.key, content, hashlib.sha256).digest()).decode()


def deliver_as(client: LedgerClient, payload: dict[str, Any], webhook_id: str) -> Any:
    """A delivery signed under a chosen webhook-id."""
    body = body_of(payload)
    headers = signed_headers(SECRET, body, webhook_id=webhook_id)
    return client.post(URL, content=body, headers=headers)


def assert_nothing_stored(client: LedgerClient) -> None:
    assert client.services.ledger.as_of().position == 0
    assert client.services.ledger.quarantine.list() == []


def stream_events(client: LedgerClient, stream: StreamKey) -> list[Any]:
    return [entry for entry in all_entries(client.services.ledger) if entry.stream == stream]


def raw_post(client: LedgerClient, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """Call the ASGI app with raw header bytes, as a server would after parsing the request."""
    messages: list[dict[str, Any]] = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": URL, "raw_path": URL.encode(), "query_string": b"",
             "root_path": "", "headers": headers, "client": ("t", 1),
             "server": ("t", 80)}  # fmt: skip
    try:
        asyncio.run(client.app(scope, receive, send))  # type: ignore[arg-type]
    except Exception:
        return 500  # what a server answers when the app raises
    status: int = sent[0]["status"]
    return status


# 413: body over the limit.


def test_body_over_the_default_limit_is_413_and_nothing_is_stored(client: LedgerClient) -> None:
    assert client.services.settings.max_body_bytes == MIB
    answer = client.deliver(b"x" * (MIB + 1))
    assert answer.status_code == 413
    assert_nothing_stored(client)


def test_body_exactly_at_the_limit_is_read_not_refused(client: LedgerClient) -> None:
    body = body_of(created("k"))
    client.services.settings.max_body_bytes = len(body)
    assert client.deliver(body).json()["status"] == "recorded"
    assert client.deliver(body + b" ").status_code == 413


@pytest.mark.parametrize("declared", ["10", "0", "abc"])
def test_a_content_length_lying_low_does_not_bypass_the_limit(
    client: LedgerClient, declared: str
) -> None:
    client.services.settings.max_body_bytes = 64
    answer = client.deliver(
        body_of(created("k", padding="p" * 100)), **{"content-length": declared}
    )
    assert answer.status_code == 413
    assert_nothing_stored(client)


def test_a_content_length_lying_high_is_413_and_nothing_is_stored(client: LedgerClient) -> None:
    answer = client.deliver(body_of(created("k")), **{"content-length": str(MIB + 1)})
    assert answer.status_code == 413
    assert_nothing_stored(client)


def test_a_non_ascii_content_length_is_never_a_500(client: LedgerClient) -> None:
    body = body_of(created("k"))
    headers = [(k.encode(), v.encode()) for k, v in signed_headers(SECRET, body).items()]
    status = raw_post(client, [*headers, (b"content-length", b"\xb2")], body)  # latin-1 "²"
    assert status != 500


# 401: authentication.


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_signature_header_is_401(client: LedgerClient, missing: str) -> None:
    body = body_of(created("k"))
    headers = {k: v for k, v in signed_headers(SECRET, body).items() if k != missing}
    assert client.post(URL, content=body, headers=headers).status_code == 401
    assert_nothing_stored(client)


@pytest.mark.parametrize(
    "signature", ["", "garbage", "v1,", "v1,not base64!!", "v2,AAAA", "v1,AAAA v1,BBBB", "v1 ,x"]
)
def test_malformed_signature_is_401(client: LedgerClient, signature: str) -> None:
    answer = client.deliver(body_of(created("k")), **{"webhook-signature": signature})
    assert answer.status_code == 401
    assert_nothing_stored(client)


def test_signature_under_an_unknown_secret_is_401(client: LedgerClient) -> None:
    body = body_of(created("k"))
    headers = signed_headers(WebhookSecret(b"not-our-secret-0123456789abcdef0"), body)
    assert client.post(URL, content=body, headers=headers).status_code == 401
    assert_nothing_stored(client)


def test_signature_over_another_body_is_401(client: LedgerClient) -> None:
    headers = signed_headers(SECRET, body_of(created("k")))
    answer = client.post(URL, content=body_of(created("other")), headers=headers)
    assert answer.status_code == 401
    assert_nothing_stored(client)


@pytest.mark.parametrize("offset", [-400, +400])
def test_timestamp_outside_tolerance_is_401(client: LedgerClient, offset: int) -> None:
    body = body_of(created("k"))
    headers = signed_headers(SECRET, body, timestamp=int(time.time()) + offset)
    assert client.post(URL, content=body, headers=headers).status_code == 401
    assert_nothing_stored(client)


@pytest.mark.parametrize("timestamp", ["abc", "1.7e9", " 1700000000", "-1", "", "1" * 40])
def test_non_numeric_timestamp_is_401(client: LedgerClient, timestamp: str) -> None:
    body = body_of(created("k"))
    signature = signature_for(SECRET, "msg_1", timestamp, body)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": timestamp,
        "webhook-signature": signature,
    }
    assert client.post(URL, content=body, headers=headers).status_code == 401
    assert_nothing_stored(client)


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
@pytest.mark.parametrize("garbage", [b"\xff\xfe", b"\xd9\xa1\xd9\xa7\xd9\xa0", b"v1,\xc3\x28\x00"])
def test_garbage_header_bytes_are_401_never_500(
    client: LedgerClient, header: str, garbage: bytes
) -> None:
    body = body_of(created("k"))
    headers = {k.encode(): v.encode() for k, v in signed_headers(SECRET, body).items()}
    headers[header.encode()] = garbage
    assert raw_post(client, list(headers.items()), body) == 401
    assert_nothing_stored(client)


def test_signature_under_the_rotated_secret_is_accepted(client: LedgerClient) -> None:
    body = body_of(created("k"))
    answer = client.post(URL, content=body, headers=signed_headers(ROTATED_SECRET, body))
    assert answer.status_code == 200
    assert answer.json()["status"] == "recorded"


# 200: recorded and duplicate.


def test_first_delivery_is_recorded_with_its_position(client: LedgerClient) -> None:
    answer = client.deliver(created("k1"))
    assert answer.status_code == 200
    assert answer.json() == {"status": "recorded", "position": 1}
    assert client.services.ledger.as_of().position == 1


def test_same_idempotency_key_is_a_duplicate_with_the_original_position(
    client: LedgerClient,
) -> None:
    first = client.deliver(created("k1")).json()
    client.deliver(created("k2"))
    again = deliver_as(client, created("k1", ref="someone_else"), "msg_other")
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "position": first["position"]}
    assert len(verifa_entries(client.services.ledger)) == 2  # the other body: in quarantine


def test_without_idempotency_key_the_webhook_id_deduplicates(client: LedgerClient) -> None:
    payload = created("unused")
    del payload["idempotency_key"]
    first = deliver_as(client, payload, "msg_same").json()
    assert first["status"] == "recorded"
    again = deliver_as(client, {**payload, "session_id": "sess_2"}, "msg_same")
    assert again.json() == {"status": "duplicate", "position": first["position"]}
    assert len(verifa_entries(client.services.ledger)) == 1


# 200: quarantined.

UNREADABLE = {
    "not_json": b"{not json",
    "not_utf8": b"\xff\xfe",
    "json_array": b'[{"event": "session.created"}]',
    "json_string": b'"session.created"',
    "json_nan": b'{"event": "widget.x", "idempotency_key": "k", "score": NaN}',
    "lone_surrogate": b'{"event": "widget.x", "idempotency_key": "k", "name": "\\ud800"}',
    "deeply_nested": b"[" * 100_000,
    "no_event": b'{"idempotency_key": "k", "external_ref": "user_1"}',
    "event_not_a_string": b'{"event": 42, "idempotency_key": "k"}',
    "missing_required_field": body_of({k: v for k, v in created("k").items() if k != "session_id"}),
    "mistyped_field": body_of(created("k", is_sandbox="false")),
    "mistyped_idempotency_key": body_of({**created("k"), "idempotency_key": 7}),
}


@pytest.mark.parametrize("name", list(UNREADABLE))
def test_authentic_but_unreadable_delivery_is_quarantined_and_listed(
    client: LedgerClient, name: str
) -> None:
    answer = client.deliver(UNREADABLE[name])
    assert answer.status_code == 200
    assert answer.json()["status"] == "quarantined"
    entry_id = answer.json()["id"]
    assert verifa_entries(client.services.ledger) == []  # only the record that it is held:
    assert quarantine_records(client.services.ledger) == [entry_id]
    listed = client.read("/quarantine", role="admin")
    assert listed.status_code == 200
    [entry] = listed.json()["entries"]
    assert entry["id"] == entry_id
    assert entry["reason"]
    assert entry["errors"]
    assert entry["size"] == len(UNREADABLE[name])


def test_quarantine_list_is_admin_only(client: LedgerClient) -> None:
    assert client.read("/quarantine", role="officer").status_code == 403


def test_the_quarantine_list_pages(client: LedgerClient) -> None:
    """It used to decrypt every held body (up to 1 MiB each) on every request."""
    held = [client.deliver(f"not json {n}".encode()).json()["id"] for n in range(7)]
    pages, after = [], ""
    while True:
        page = client.read("/quarantine", role="admin", limit=3, after=after).json()["entries"]
        if not page:
            break
        pages.append([entry["id"] for entry in page])
        after = page[-1]["id"]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert sorted(i for page in pages for i in page) == sorted(held)
    assert client.read("/quarantine", role="admin", limit=101).status_code == 422


# 200: unknown event types are recorded and routed.


@pytest.mark.parametrize(
    ("fields", "stream"),
    [
        ({"event": "check.rescreened", "check_id": "c1", "case_id": "k1"}, ("check", "c1")),
        ({"event": "document.archived", "external_ref": "r1"}, ("applicant", "r1")),
        ({"event": "widget.x", "case_id": "k1"}, ("case", "k1")),
        ({"event": "widget.x", "case_id": "k1", "document_id": "d1"}, ("case", "k1")),
        ({"event": "widget.x", "check_id": "c1", "external_ref": "r1"}, ("applicant", "r1")),
        ({"event": "widget.x", "session_id": "s1", "check_id": "c1"}, ("applicant", "session:s1")),
        ({"event": "widget.x", "identity_id": "i1"}, ("applicant", "identity:i1")),
        ({"event": "widget.x"}, ("unrouted", "unrouted")),
        ({"event": "widget.x", "case_id": ""}, ("unrouted", "unrouted")),
    ],
)
def test_unknown_event_type_is_recorded_and_routed(
    client: LedgerClient, fields: dict[str, Any], stream: tuple[str, str]
) -> None:
    answer = client.deliver({**fields, "idempotency_key": "k_unknown"})
    assert answer.json()["status"] == "recorded"
    [entry] = stream_events(client, StreamKey(*stream))  # type: ignore[arg-type]
    assert entry.position == answer.json()["position"]
    assert entry.event_type == fields["event"]


def test_routed_unknown_events_show_in_the_subject_timeline(client: LedgerClient) -> None:
    own = client.deliver({"event": "widget.x", "idempotency_key": "u1", "external_ref": "r1"})
    check = client.deliver(
        {
            "event": "check.rescreened",
            "idempotency_key": "u2",
            "check_id": "c9",
            "external_ref": "r1",
        }
    )
    loose = client.deliver({"event": "biometric.done", "idempotency_key": "u3", "session_id": "s7"})
    client.deliver(created("tie", ref="r1", session="s7"))
    events = client.read("/subjects/r1/timeline").json()["events"]
    by_key = {e["idempotency_key"]: e for e in events}
    assert by_key["u1"]["aggregate"] == {"type": "applicant", "id": "r1"}
    assert by_key["u1"]["position"] == own.json()["position"]
    assert by_key["u2"]["aggregate"] == {"type": "check", "id": "c9"}
    assert by_key["u2"]["position"] == check.json()["position"]
    assert by_key["u3"]["aggregate"] == {"type": "applicant", "id": "session:s7"}
    assert by_key["u3"]["position"] == loose.json()["position"]


ODD_BUT_VALID = {
    "nested_300_deep": "[" * 300 + "]" * 300,
    "number_beyond_float_range": "1e999",
    "nul_in_a_string": '"a\\u0000b"',
    "nul_in_a_key": '{"a\\u0000b": 1}',
}


@pytest.mark.parametrize("name", list(ODD_BUT_VALID))
def test_a_delivery_that_could_not_be_served_back_as_sent_is_quarantined(
    client: LedgerClient, name: str
) -> None:
    body = '{"event": "widget.x", "idempotency_key": "odd", "external_ref": "r1", "d": %s}'
    answer = client.deliver((body % ODD_BUT_VALID[name]).encode()).json()
    assert answer["status"] == "quarantined"
    [held] = client.read("/quarantine", role="admin").json()["entries"]
    assert held["reason"] == "not storable as sent"
    assert verifa_entries(client.services.ledger) == []
    assert quarantine_records(client.services.ledger) == [held["id"]]


# Concurrency.


def test_concurrent_retries_of_one_delivery_record_one_event(client: LedgerClient) -> None:
    body = body_of(created("same"))
    headers = signed_headers(SECRET, body)
    with ThreadPoolExecutor(32) as pool:
        answers = list(
            pool.map(lambda _: client.post(URL, content=body, headers=headers), range(32))
        )
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["position"] for a in answers}) == 1
    assert sorted(a.json()["status"] for a in answers) == ["duplicate"] * 31 + ["recorded"]
    assert entry_count(client.services.ledger) == 1


def test_concurrent_deliveries_for_one_subject_are_all_recorded(client: LedgerClient) -> None:
    payloads = [created(f"k{i}", session=f"sess_{i}") for i in range(50)]
    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(client.deliver, payloads))
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["status"] for a in answers} == {"recorded"}
    assert len({a.json()["position"] for a in answers}) == 50
    events = client.read("/subjects/user_1/timeline").json()["events"]
    assert len(events) == 50


# Arbitrary bodies.

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
ID_FIELDS = ["idempotency_key", "external_ref", "session_id", "check_id", "case_id", "document_id"]
PAYLOADS = st.fixed_dictionaries(
    {"event": st.sampled_from([e["event"] for e in seed_examples()] + ["widget.x", "check.x"])},
    optional={name: st.text(max_size=6) | JSON for name in [*ID_FIELDS, "identity_id", "status"]},
)
BODIES = st.one_of(
    st.binary(max_size=256),
    JSON.map(lambda v: json.dumps(v).encode()),
    PAYLOADS.map(lambda v: json.dumps(v).encode()),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=BODIES)
def test_any_authentic_body_gets_a_200_answer(client: LedgerClient, body: bytes) -> None:
    answer = client.deliver(body)
    assert answer.status_code == 200
    assert answer.json()["status"] in ("recorded", "duplicate", "quarantined")
    client.caught_up()


# The seed examples.


def test_every_seed_example_is_recorded_and_in_its_subject_timeline(client: LedgerClient) -> None:
    positions = {}
    for payload in seed_examples():
        answer = client.deliver(payload)
        assert answer.status_code == 200
        assert answer.json()["status"] == "recorded", payload["event"]
        positions[payload["idempotency_key"]] = answer.json()["position"]
    events = client.read("/subjects/user_456/timeline").json()["events"]
    assert {e["idempotency_key"]: e["position"] for e in events} == positions
    assert [e["position"] for e in events] == sorted(positions.values())
