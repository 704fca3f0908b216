"""The console's sign-in sessions: a signed cookie, and the CSRF token of its forms (§6.1).

A session is a cookie the server signed: the role and the token's fingerprint (never
the token), when it expires, and a random id. Every API process derives the same
signing key from the master key, so a session is good in any of them, and nothing is
stored. A session whose token is no longer configured is over at once: each request
checks that a configured token of that role still has the fingerprint. Forms carry a
token bound to the session's id (before sign-in, to a random cookie of its own).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

SESSION_COOKIE = "ledger_console"
PRE_SESSION_COOKIE = "ledger_console_form"  # binds the sign-in form's CSRF token
SESSION_SECONDS = 30 * 60


@dataclass(frozen=True)
class ConsoleSession:
    role: str
    who: str  # `role:fingerprint`, as the access log names an API reader
    expires: int  # Unix time
    id: str


class SessionKey:
    """Signs sessions and CSRF tokens with a key derived from the master key."""

    def __init__(self, master_key: bytes) -> None:
        self._key = hmac.new(master_key, b"ledger console sessions v1", hashlib.sha256).digest()

    def _mac(self, purpose: str, text: str) -> str:
        digest = hmac.new(self._key, f"{purpose}\n{text}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, role: str, who: str, now: float | None = None) -> tuple[ConsoleSession, str]:
        """A new session and the cookie value that carries it."""
        issued = time.time() if now is None else now
        session = ConsoleSession(
            role, who, int(issued) + SESSION_SECONDS, secrets.token_urlsafe(16)
        )
        fields = json.dumps([session.role, session.who, session.expires, session.id])
        payload = base64.urlsafe_b64encode(fields.encode()).decode()
        return session, f"{payload}.{self._mac('session', payload)}"

    def read(self, cookie: str | None, now: float | None = None) -> ConsoleSession | None:
        """The session a cookie carries, if the server signed it and it has not expired."""
        if not cookie or len(cookie) > 1024 or cookie.count(".") != 1:
            return None
        payload, mac = cookie.split(".")
        if not hmac.compare_digest(mac.encode(), self._mac("session", payload).encode()):
            return None
        try:
            role, who, expires, sid = json.loads(base64.urlsafe_b64decode(payload))
        except ValueError:
            return None
        if (time.time() if now is None else now) >= expires:
            return None
        return ConsoleSession(role, who, expires, sid)

    def csrf_token(self, bound_to: str) -> str:
        """The token a form carries: bound to the session's id, or the sign-in form's cookie."""
        return self._mac("csrf", bound_to)

    def csrf_ok(self, bound_to: str | None, token: str | None) -> bool:
        return bool(bound_to and token) and hmac.compare_digest(
            str(token).encode(), self.csrf_token(str(bound_to)).encode()
        )
