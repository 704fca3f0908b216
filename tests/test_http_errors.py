"""Errors over HTTP: each kind in one JSON shape, the one `/openapi.json` documents for it."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import DataError

from application.storage.unit_of_work import UnitOfWork
from tests.helpers import LedgerClient, seed_examples

BEARER_ROUTES = ["/subjects/{external_ref}/timeline", "/subjects/{external_ref}/status",
                 "/sessions/{entity_id}", "/checks/{entity_id}", "/cases/{entity_id}",
                 "/documents/{entity_id}", "/review-queue", "/alerts", "/ledger/verify",
                 "/projections", "/quarantine", "/access-log"]  # fmt: skip
ADMIN_ROUTES = ["/ledger/verify", "/projections", "/quarantine", "/access-log"]
NAMED_ROUTES = BEARER_ROUTES[:6]


def assert_validation_shaped(answer: Any, loc: list[str]) -> None:
    """FastAPI's own 422 shape: a list of {loc, msg, type}."""
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == loc
    assert isinstance(error["msg"], str) and isinstance(error["type"], str)


def operation(client: LedgerClient, path: str, method: str = "get") -> Any:
    return client.get("/openapi.json").json()["paths"][path][method]


@pytest.mark.parametrize(
    ("path", "params", "loc"),
    [
        ("/subjects/alice/timeline", {"as_of": ""}, ["query", "as_of"]),
        ("/subjects/alice/status", {"as_of": "yesterday"}, ["query", "as_of"]),
        ("/review-queue", {"as_of": "2026-01-01T00:00:00"}, ["query", "as_of"]),
        ("/subjects/alice/timeline", {"cursor": "garbage"}, ["query", "cursor"]),
        ("/ledger/verify", {"since_position": "1"}, ["query", "since_digest"]),
        ("/ledger/verify", {"since_digest": "0" * 64}, ["query", "since_position"]),
        ("/subjects/a%00b/timeline", {}, ["path", "external_ref"]),
        ("/sessions/a%00b", {"as_of": "1"}, ["path", "entity_id"]),
    ],
)
def test_every_422_has_the_documented_validation_shape(
    client: LedgerClient, path: str, params: dict[str, str], loc: list[str]
) -> None:
    assert_validation_shaped(client.read(path, role="admin", **params), loc)


def test_a_value_the_store_refuses_is_a_validation_shaped_422(
    client: LedgerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")

    monkeypatch.setattr(UnitOfWork, "rows", refused)
    assert_validation_shaped(client.read("/subjects/alice/timeline", as_of="1"), ["request"])


def test_a_422_repeats_only_the_start_of_a_long_input(client: LedgerClient) -> None:
    answer = client.read("/subjects/alice/status", as_of="x" * 5000)
    assert_validation_shaped(answer, ["query", "as_of"])
    assert answer.json()["detail"][0]["input"].startswith("x" * 64)
    assert len(answer.text) < 500


def test_401_403_and_404_are_messages_as_documented(client: LedgerClient) -> None:
    client.deliver(seed_examples()[0])
    unauthenticated = client.get("/subjects/user_456/status")
    forbidden = client.read("/projections", role="officer")
    missing = client.read("/subjects/nobody/status", as_of="1")
    for answer, status in [(unauthenticated, 401), (forbidden, 403), (missing, 404)]:
        assert answer.status_code == status
        assert isinstance(answer.json()["detail"], str)
    assert unauthenticated.headers["www-authenticate"] == "Bearer"
    message = client.get("/openapi.json").json()["components"]["schemas"]["Message"]
    assert message["properties"]["detail"]["type"] == "string"


def test_openapi_documents_each_routes_errors(client: LedgerClient) -> None:
    for path in BEARER_ROUTES:
        responses = operation(client, path)["responses"]
        expected = {"200", "401", "500", "503"}
        expected |= {"403"} if path in ADMIN_ROUTES else set()
        expected |= {"404"} if path in NAMED_ROUTES else set()
        expected |= set() if path == "/projections" else {"422"}  # the only one without parameters
        assert expected <= set(responses), path
        for status in expected - {"200", "422"}:
            assert responses[status]["content"]["application/json"]["schema"]["$ref"].endswith(
                "/Message"
            ), (path, status)
        assert "WWW-Authenticate" in responses["401"]["headers"], path
        assert "Retry-After" in responses["503"]["headers"], path


def test_openapi_documents_the_webhook_signature_headers_still_verified_over_the_raw_body(
    client: LedgerClient,
) -> None:
    """Documented, the headers are checked as before: FastAPI does not read them, so a missing
    one is 401 (not 422), and a signature over other bytes of the same JSON is refused."""
    webhook = operation(client, "/webhooks/verifa", "post")
    headers = {p["name"]: p for p in webhook["parameters"] if p["in"] == "header"}
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert all(header["required"] for header in headers.values())
    assert {"200", "401", "413", "503"} <= set(webhook["responses"])
    assert "application/json" in webhook["requestBody"]["content"]

    missing = client.post("/webhooks/verifa", json=seed_examples()[0])
    assert (missing.status_code, missing.json()) == (401, {"detail": "missing webhook-id header"})
    signed = client.deliver(b'{"event": "session.created"}')
    assert signed.status_code == 200
    signature = {k: v for k, v in signed.request.headers.items() if k.startswith("webhook-")}
    resent = client.post("/webhooks/verifa", content=b'{"event":  "session.created"}',
                         headers=signature)  # fmt: skip
    assert resent.status_code == 401
