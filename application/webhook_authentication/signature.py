"""Standard Webhooks signature verification (https://www.standardwebhooks.com/).

A delivery is authentic when its ``webhook-signature`` header carries an
HMAC-SHA256 of ``{webhook-id}.{webhook-timestamp}.{body}`` under one of our
secrets, and its timestamp is recent enough that a captured delivery cannot be
replayed later. Verification fails closed: any input it does not understand is
rejected with :class:`SignatureError`, never with another exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "SignatureError",
    "WebhookSecret",
    "sign",
    "signed_headers",
    "verify",
]

_SECRET_PREFIX = "whsec_"
_SIGNATURE_VERSION = "v1"
MAX_TIMESTAMP_CHARS = 20
MAX_WEBHOOK_ID_CHARS = 256
_DIGITS = frozenset("0123456789")
# Printable ASCII: space through tilde. Keeps ids safe to log and to store.
_PRINTABLE_ASCII = frozenset(chr(c) for c in range(0x20, 0x7F))

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


class SignatureError(Exception):
    """Why a delivery is not authentic.

    The message is safe to return to the caller (never contains secrets).
    """


@dataclass(frozen=True)
class WebhookSecret:
    """A signing key; ``repr`` hides the key so it never ends up in logs."""

    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        # An empty HMAC key is accepted by hmac but authenticates nothing.
        if not isinstance(self.key, bytes) or not self.key:
            raise ValueError("webhook secret key must be non-empty bytes")

    @classmethod
    def parse(cls, text: str) -> WebhookSecret:
        """Parse ``whsec_<base64>``; surrounding whitespace (e.g. from env files) is ignored.

        Error messages never echo the text, since it is a secret.
        """
        stripped = text.strip()
        if not stripped.startswith(_SECRET_PREFIX):
            raise ValueError(f"webhook secret must start with {_SECRET_PREFIX!r}")
        encoded = stripped[len(_SECRET_PREFIX) :]
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(
                f"webhook secret is not valid base64 after the {_SECRET_PREFIX!r} prefix"
            ) from None
        if not key:
            raise ValueError("webhook secret key is empty")
        return cls(key)

    @classmethod
    def generate(cls) -> WebhookSecret:
        """A fresh 32-byte key, as recommended by the spec (matches SHA-256 block strength)."""
        return cls(_secrets.token_bytes(32))

    def __str__(self) -> str:
        """The ``whsec_`` form that :meth:`parse` reads back."""
        return _SECRET_PREFIX + base64.b64encode(self.key).decode("ascii")


def _digest(secret: WebhookSecret, webhook_id: str, timestamp: str, body: bytes) -> bytes:
    """Raw HMAC-SHA256 over the spec's signed content; timestamp is the header text as sent."""
    content = f"{webhook_id}.{timestamp}.".encode() + body
    return hmac.new(secret.key, content, hashlib.sha256).digest()


def sign(secret: WebhookSecret, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature of `{webhook_id}.{timestamp}.{body}` with HMAC-SHA256."""
    digest = _digest(secret, webhook_id, str(timestamp), body)
    return f"{_SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signed_headers(
    secret: WebhookSecret,
    body: bytes,
    webhook_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """Headers webhook-id / webhook-timestamp / webhook-signature for a test or demo delivery.

    webhook_id defaults to "msg_" + random hex, timestamp to int(time.time()).
    """
    msg_id = webhook_id if webhook_id is not None else "msg_" + _secrets.token_hex(16)
    ts = timestamp if timestamp is not None else int(time.time())
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(ts),
        HEADER_SIGNATURE: sign(secret, msg_id, ts, body),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive lookup that works for plain dicts and Starlette ``Headers``.

    Conflicting values under different spellings are rejected rather than
    guessing which one the sender meant.
    """
    found: str | None = None
    try:
        for key, value in headers.items():
            if not isinstance(key, str) or key.lower() != name:
                continue
            if not isinstance(value, str):
                raise SignatureError(f"malformed {name}")
            if found is not None and found != value:
                raise SignatureError(f"conflicting {name} headers")
            found = value
    except SignatureError:
        raise
    except Exception:
        # A misbehaving mapping must not escape as anything but a rejection.
        raise SignatureError("unreadable headers") from None
    if found is None:
        raise SignatureError(f"missing {name} header")
    return found


def _check_webhook_id(webhook_id: str) -> None:
    """Ids are echoed into logs and storage, so keep them short and printable."""
    if not webhook_id:
        raise SignatureError(f"empty {HEADER_ID}")
    if len(webhook_id) > MAX_WEBHOOK_ID_CHARS:
        raise SignatureError(f"{HEADER_ID} longer than {MAX_WEBHOOK_ID_CHARS} characters")
    if not _PRINTABLE_ASCII.issuperset(webhook_id):
        raise SignatureError(f"{HEADER_ID} contains characters outside printable ASCII")


def _parse_timestamp(text: str) -> int:
    """Only ASCII digits: ``int()`` alone would accept spaces, signs, ``_`` and non-ASCII digits."""
    if not text or len(text) > MAX_TIMESTAMP_CHARS or not _DIGITS.issuperset(text):
        raise SignatureError(f"malformed {HEADER_TIMESTAMP}")
    return int(text)


def _candidate_signatures(header: str) -> list[bytes]:
    """Decoded v1 signatures; other versions and malformed entries are skipped per the spec."""
    candidates: list[bytes] = []
    for entry in header.split(" "):
        version, comma, encoded = entry.partition(",")
        if not comma or version != _SIGNATURE_VERSION:
            continue
        try:
            candidates.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return candidates


def verify(
    secrets: Sequence[WebhookSecret],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance_seconds: int,
) -> str:
    """Returns the webhook-id when the delivery is authentic, else raises SignatureError."""
    webhook_id = _header(headers, HEADER_ID)
    timestamp_text = _header(headers, HEADER_TIMESTAMP)
    signature_header = _header(headers, HEADER_SIGNATURE)

    _check_webhook_id(webhook_id)
    timestamp = _parse_timestamp(timestamp_text)
    # Written as "not within" so a NaN clock or negative tolerance fails closed.
    if not abs(now - timestamp) <= tolerance_seconds:
        raise SignatureError(f"{HEADER_TIMESTAMP} outside tolerance")

    if not isinstance(body, bytes | bytearray | memoryview):
        raise SignatureError("body must be bytes")
    raw_body = bytes(body)

    candidates = _candidate_signatures(signature_header)
    if candidates:
        # Several secrets are accepted so a key can be rotated without downtime.
        for secret in secrets:
            expected = _digest(secret, webhook_id, timestamp_text, raw_body)
            for candidate in candidates:
                if hmac.compare_digest(expected, candidate):
                    return webhook_id
    raise SignatureError("no valid signature")
