"""Tests for Standard Webhooks signature verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers

from application.webhook_authentication.signature import (
    SignatureError,
    WebhookSecret,
    sign,
    signed_headers,
    verify,
)

NOW = 1_700_000_000
TOLERANCE = 300
BODY = b'{"type": "verification.completed", "id": "ver_123"}'
SECRET = WebhookSecret(b"k" * 32)
OTHER_SECRET = WebhookSecret(b"o" * 32)


def _verify(
    headers: dict[str, str] | Headers,
    body: bytes = BODY,
    secrets: list[WebhookSecret] | None = None,
    now: float = NOW,
) -> str:
    return verify(
        secrets if secrets is not None else [SECRET],
        headers,
        body,
        now=now,
        tolerance_seconds=TOLERANCE,
    )


def _headers(**overrides: str) -> dict[str, str]:
    headers = signed_headers(SECRET, BODY, webhook_id="msg_1", timestamp=NOW)
    headers.update({k.replace("_", "-"): v for k, v in overrides.items()})
    return headers


# --- round trip and secrets ------------------------------------------------


def test_signed_delivery_verifies_and_returns_webhook_id() -> None:
    assert _verify(_headers()) == "msg_1"


def test_signed_headers_defaults_to_random_id_and_current_time() -> None:
    secret = WebhookSecret.generate()
    headers = signed_headers(secret, BODY)
    assert headers["webhook-id"].startswith("msg_")
    assert headers["webhook-id"] != signed_headers(secret, BODY)["webhook-id"]
    received = verify([secret], headers, BODY, now=time.time(), tolerance_seconds=60)
    assert received == headers["webhook-id"]


def test_non_utf8_body_round_trips() -> None:
    body = b"\xff\xfe\x00binary\x80"
    headers = signed_headers(SECRET, body, webhook_id="msg_bin", timestamp=NOW)
    assert _verify(headers, body=body) == "msg_bin"


def test_any_of_several_secrets_passes_during_rotation() -> None:
    headers = _headers()
    assert _verify(headers, secrets=[OTHER_SECRET, SECRET]) == "msg_1"
    assert _verify(headers, secrets=[SECRET, OTHER_SECRET]) == "msg_1"


def test_wrong_secret_fails() -> None:
    with pytest.raises(SignatureError, match="no valid signature"):
        _verify(_headers(), secrets=[OTHER_SECRET])


def test_no_secrets_configured_fails() -> None:
    with pytest.raises(SignatureError, match="no valid signature"):
        _verify(_headers(), secrets=[])


def test_tampered_body_fails() -> None:
    with pytest.raises(SignatureError, match="no valid signature"):
        _verify(_headers(), body=BODY + b" ")


def test_tampered_webhook_id_fails() -> None:
    with pytest.raises(SignatureError, match="no valid signature"):
        _verify(_headers(webhook_id="msg_2"))


def test_tampered_timestamp_fails_even_within_tolerance() -> None:
    with pytest.raises(SignatureError, match="no valid signature"):
        _verify(_headers(webhook_timestamp=str(NOW + 1)))


def test_known_vector_computed_independently_of_sign() -> None:
    # Published Standard Webhooks test vector, recomputed here with hmac/base64 directly.
    secret_text = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    webhook_id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    timestamp = 1614265330
    body = b'{"test": 2432232314}'
    key = base64.b64decode(secret_text.removeprefix("whsec_"))
    content = webhook_id.encode() + b"." + str(timestamp).encode() + b"." + body
    expected = "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()

    assert expected == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    secret = WebhookSecret.parse(secret_text)
    assert sign(secret, webhook_id, timestamp, body) == expected
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": expected,
    }
    assert verify([secret], headers, body, now=timestamp, tolerance_seconds=5) == webhook_id


# --- timestamp tolerance ---------------------------------------------------


@pytest.mark.parametrize("offset", [-TOLERANCE - 1, TOLERANCE + 1, -(10**9), 10**9])
def test_timestamp_outside_tolerance_fails_in_both_directions(offset: int) -> None:
    headers = signed_headers(SECRET, BODY, webhook_id="msg_1", timestamp=NOW + offset)
    with pytest.raises(SignatureError, match="outside tolerance"):
        _verify(headers)


@pytest.mark.parametrize("offset", [-TOLERANCE, -1, 0, 1, TOLERANCE])
def test_timestamp_inside_tolerance_passes(offset: int) -> None:
    headers = signed_headers(SECRET, BODY, webhook_id="msg_1", timestamp=NOW + offset)
    assert _verify(headers) == "msg_1"


def test_nan_clock_fails_closed() -> None:
    with pytest.raises(SignatureError, match="outside tolerance"):
        _verify(_headers(), now=float("nan"))


# --- malformed headers -----------------------------------------------------


@pytest.mark.parametrize("name", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_fails_naming_the_header(name: str) -> None:
    headers = _headers()
    del headers[name]
    with pytest.raises(SignatureError, match=f"missing {name}"):
        _verify(headers)


@pytest.mark.parametrize(
    "timestamp",
    [
        "",
        " 12",
        "12 ",
        "1e9",
        "0x10",
        "+5",
        "-5",
        "1_700_000_000",
        "1700000000.0",
        "\u0661\u0662",  # Arabic-Indic digits
        "\uff11\uff17\uff10\uff10",  # full-width digits
        "1" * 21,
        "9" * 10_000,
    ],
)
def test_malformed_timestamp_fails(timestamp: str) -> None:
    with pytest.raises(SignatureError, match=r"^malformed webhook-timestamp$"):
        _verify(_headers(webhook_timestamp=timestamp))


@pytest.mark.parametrize(
    "webhook_id",
    ["", "x" * 257, "msg\n1", "msg\x001", "msg_é", "msg_\u200b", "msg\x7f"],
)
def test_invalid_webhook_id_fails(webhook_id: str) -> None:
    headers = signed_headers(SECRET, BODY, webhook_id=webhook_id, timestamp=NOW)
    with pytest.raises(SignatureError, match="webhook-id"):
        _verify(headers)


def test_webhook_id_of_exactly_256_printable_chars_passes() -> None:
    webhook_id = "m" * 256
    headers = signed_headers(SECRET, BODY, webhook_id=webhook_id, timestamp=NOW)
    assert _verify(headers) == webhook_id


@pytest.mark.parametrize(
    "signature",
    [
        "",
        " ",
        "v1",
        "v1,",
        "v1,!!!notbase64!!!",
        "v1,ä",
        "nocomma",
        "v2," + base64.b64encode(b"x" * 32).decode(),
        "v1," + base64.b64encode(b"x" * 32).decode(),
    ],
)
def test_signature_header_without_a_valid_v1_entry_fails(signature: str) -> None:
    with pytest.raises(SignatureError, match=r"^no valid signature$"):
        _verify(_headers(webhook_signature=signature))


def test_unknown_versions_and_malformed_entries_are_ignored_beside_a_valid_v1() -> None:
    valid = _headers()["webhook-signature"]
    noise = [
        "v2,abc",
        "v1a,bm9wZQ==",
        "garbage",
        "v1,@@@",
        "v1," + base64.b64encode(b"y" * 32).decode(),
        "",
    ]
    for position in range(len(noise) + 1):
        entries = [*noise[:position], valid, *noise[position:]]
        assert _verify(_headers(webhook_signature=" ".join(entries))) == "msg_1"


def test_a_signature_from_another_scheme_version_alone_is_not_accepted() -> None:
    v1 = _headers()["webhook-signature"]
    with pytest.raises(SignatureError, match="no valid signature"):
        _verify(_headers(webhook_signature="v1a" + v1[2:]))


def test_conflicting_duplicate_headers_in_different_case_fail() -> None:
    headers = _headers()
    headers["Webhook-Id"] = "msg_other"
    with pytest.raises(SignatureError, match="conflicting webhook-id"):
        _verify(headers)


# --- header name case ------------------------------------------------------


@pytest.mark.parametrize("transform", [str.upper, str.title, str.lower])
def test_header_names_are_case_insensitive_in_plain_dicts(
    transform: Callable[[str], str],
) -> None:
    headers = {transform(k): v for k, v in _headers().items()}
    assert _verify(headers) == "msg_1"


def test_starlette_headers_object_is_accepted() -> None:
    raw = [(k.title().encode(), v.encode()) for k, v in _headers().items()]
    assert _verify(Headers(raw=raw)) == "msg_1"


# --- WebhookSecret ---------------------------------------------------------


def test_secret_str_round_trips_through_parse() -> None:
    secret = WebhookSecret.generate()
    assert len(secret.key) == 32
    assert str(secret).startswith("whsec_")
    assert WebhookSecret.parse(str(secret)) == secret


def test_secret_parse_ignores_surrounding_whitespace() -> None:
    secret = WebhookSecret.generate()
    assert WebhookSecret.parse(f"  {secret}\n") == secret


def test_generated_secrets_differ() -> None:
    assert WebhookSecret.generate() != WebhookSecret.generate()


def test_secret_repr_does_not_leak_key() -> None:
    secret = WebhookSecret(b"super-secret-key")
    assert "super-secret-key" not in repr(secret)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with"),
        ("whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with"),
        ("", "must start with"),
        ("whsec_not base64!", "not valid base64"),
        ("whsec_abc", "not valid base64"),
        ("whsec_é", "not valid base64"),
        ("whsec_", "empty"),
    ],
)
def test_secret_parse_rejects_bad_text_with_clear_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as excinfo:
        WebhookSecret.parse(text)
    payload = text.removeprefix("whsec_")
    if payload:
        assert payload not in str(excinfo.value)


def test_secret_with_empty_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        WebhookSecret(b"")


# --- robustness ------------------------------------------------------------

_header_names = st.sampled_from(
    ["webhook-id", "webhook-timestamp", "webhook-signature", "WEBHOOK-ID", "Webhook-Signature"]
) | st.text(max_size=20)


@given(
    headers=st.dictionaries(_header_names, st.text(), max_size=6),
    body=st.binary(),
)
def test_verify_on_arbitrary_input_only_returns_or_raises_signature_error(
    headers: dict[str, str], body: bytes
) -> None:
    try:
        result = _verify(headers, body=body)
    except SignatureError:
        return
    assert isinstance(result, str)


@given(
    webhook_id=st.text(),
    timestamp=st.text(),
    extra_entries=st.lists(st.text(), max_size=4),
    body=st.binary(),
)
def test_verify_with_plausible_structure_only_returns_or_raises_signature_error(
    webhook_id: str, timestamp: str, extra_entries: list[str], body: bytes
) -> None:
    valid = sign(SECRET, webhook_id, NOW, body)
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": " ".join([*extra_entries, valid]),
    }
    try:
        result = _verify(headers, body=body)
    except SignatureError:
        return
    assert result == webhook_id


def test_huge_signature_header_is_rejected_cleanly() -> None:
    headers = _headers(webhook_signature="v1,AAAA " * 100_000)
    with pytest.raises(SignatureError, match="no valid signature"):
        _verify(headers)
