"""Personal data in and out of the event store (DESIGN §7): sealed on append, disclosed on read.

A delivery without personal data is stored exactly as sent. One with personal
data is stored with those values hidden (`[sealed]`), its body as sent encrypted
under the data key of its scope; once that key is destroyed, both what was
stored and what arrives later read as `[erased]`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from domain.entries import LedgerEntry, StreamKey, text_field
from domain.personal_data import (
    ERASED,
    SEALED,
    has_personal_data,
    hide_personal_data,
    protection_scope,
)
from ledger.keyring import Keyring, seal, unseal


class Sealer:
    def __init__(self, keyring: Keyring, sessions_of: Callable[[StreamKey], list[str]]) -> None:
        self.keyring = keyring
        self.sessions_of = sessions_of  # the sessions a stream has mentioned so far

    def event_facts(
        self, stream: StreamKey, event_type: str, idempotency_key: str, body: str,
        payload: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        """What the stream's event stores: the body as sent, or, when it carries personal
        data, the body with those values hidden and the body as sent sealed under its key."""
        facts = {"event_type": event_type, "idempotency_key": idempotency_key}
        if not has_personal_data(payload):
            return {**facts, "body": body}
        scope = protection_scope(stream, payload)
        # Erasure is permanent: personal data of an erased session (a document of it
        # included, even one first seen later) is stored already erased.
        sessions = {*self.sessions_of(stream), *filter(None, [text_field(payload, "session_id")])}
        erased = self.keyring.erased_among([f"session:{s}" for s in sessions])
        key = None if erased else self.keyring.key_for_sealing(scope)  # None: erased
        hidden = hide_personal_data(payload, SEALED if key else ERASED)
        sealed = seal(key, scope, body.encode()) if key else None
        return {
            **facts,
            "body": json.dumps(hidden, ensure_ascii=False),
            "sealed": base64.b64encode(sealed).decode() if sealed else None,
            "scope": scope,
        }

    def disclose(self, entries: list[LedgerEntry]) -> list[LedgerEntry]:
        """The entries with their personal data as sent, where its key still exists; erased
        where it does not. For officers and admins (callers record the access)."""
        keys = self.keyring.keys(e.scope for e in entries if e.scope)
        disclosed = []
        for entry in entries:
            key = keys.get(entry.scope) if entry.scope else None
            if key and entry.sealed and entry.scope:
                payload = json.loads(unseal(key, entry.scope, entry.sealed))
            elif entry.scope:
                payload = hide_personal_data(entry.payload, ERASED)
            else:
                payload = entry.payload
            disclosed.append(replace(entry, payload=payload, sealed=None))
        return disclosed
