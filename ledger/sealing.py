"""Personal data in and out of the event store (DESIGN §7): sealed on append, disclosed on read.

A delivery without personal data is stored exactly as sent. One with personal
data is stored with those values hidden (`[sealed]`), its body as sent encrypted
under the data key of its scope; once that key is destroyed, both what was
stored and what arrives later read as `[erased]`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, NamedTuple
from uuid import UUID

from domain.entries import LedgerEntry, StreamKey, text_field
from domain.personal_data import (
    ERASED,
    SEALED,
    has_personal_data,
    hide_personal_data,
    protection_scope,
)
from ledger.keyring import Keyring, seal, unseal


class Arriving(NamedTuple):
    """A delivery about to be appended to `stream`: what sealing needs of it."""

    stream: StreamKey
    event_type: str
    idempotency_key: str
    body: str
    payload: dict[str, Any]


class Sealer:
    def __init__(
        self, keyring: Keyring, sessions_of: Callable[[Sequence[StreamKey]], dict[UUID, list[str]]]
    ) -> None:
        self.keyring = keyring
        self.sessions_of = sessions_of  # the sessions each stream has mentioned so far

    def event_facts(self, batch: Sequence[Arriving]) -> list[dict[str, Any]]:
        """What each delivery's event stores: the body as sent, or, when it carries personal
        data, the body with those values hidden and the body as sent sealed under its key.

        The batch's mentions and data keys (tombstones included) are read once for all of it,
        and its new keys kept in one transaction: per delivery, these were most of a small
        batch's round trips to PostgreSQL.
        """
        personal = [d for d in batch if has_personal_data(d.payload)]
        mentioned = self.sessions_of([d.stream for d in personal])
        # Erasure is permanent: personal data of an erased session (a document of it
        # included, even one first seen later) is stored already erased.
        sessions = {id(d): {f"session:{s}" for s in [*mentioned.get(d.stream.id, []),
                                                      text_field(d.payload, "session_id")] if s}
                    for d in personal}  # fmt: skip
        scopes = {id(d): protection_scope(d.stream, d.payload) for d in personal}
        found = self.keyring.lookup({*scopes.values(), *(s for n in sessions.values() for s in n)})
        erased = {scope for scope, key in found.items() if key is None}
        keys = self.keyring.keys_for_sealing(
            {scopes[id(d)] for d in personal if not sessions[id(d)] & erased}, found
        )
        facts: list[dict[str, Any]] = []
        for delivery in batch:
            event = {"event_type": delivery.event_type, "idempotency_key": delivery.idempotency_key}
            if id(delivery) not in scopes:
                facts.append({**event, "body": delivery.body})
                continue
            scope = scopes[id(delivery)]
            key = None if sessions[id(delivery)] & erased else keys[scope]  # None: erased
            hidden = hide_personal_data(delivery.payload, SEALED if key else ERASED)
            sealed = seal(key, scope, delivery.body.encode()) if key else None
            facts.append({
                **event,
                "body": json.dumps(hidden, ensure_ascii=False),
                "sealed": base64.b64encode(sealed).decode() if sealed else None,
                "scope": scope,
            })  # fmt: skip
        return facts

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
