"""Personal data in and out of the event store (DESIGN §7): sealed on append, disclosed on read.

A delivery without personal data is stored exactly as sent. One with personal
data is stored with those values hidden (`[sealed]`), its body as sent encrypted
under the data key of its scope; once that key is destroyed, both what was
stored and what arrives later read as `[erased]`. Which key, and whether it is
already erased, is the domain's decision (`domain.sealing`); here are the reads
it needs and the encryption.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from application.privacy.keyring import Keyring, seal, unseal
from application.storage.link_queries import LinkQueries
from application.storage.unit_of_work import UnitOfWork
from domain.entries import LedgerEntry, StreamKey
from domain.personal_data import ERASED, SEALED, has_personal_data, hide_personal_data
from domain.sealing import Sealing, sealings_in_order


class Arriving(NamedTuple):
    """A delivery about to be appended to `stream`: what sealing needs of it."""

    stream: StreamKey
    event_type: str
    idempotency_key: str
    body: str
    payload: dict[str, Any]


EventFacts = dict[str, Any]  # what a delivery's event stores: `LedgerStream.record`'s arguments


@dataclass(frozen=True)
class SealedBatch:
    """A batch's deliveries as their events store them, and what that rested on."""

    facts: list[EventFacts]  # each delivery's, in order
    sealed: list[Sealing]  # how those sealed under a live data key were sealed
    erased: frozenset[str]  # the scopes the store had erased when they were sealed


class Sealer:
    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def seal(self, uow: UnitOfWork, batch: Sequence[Arriving]) -> SealedBatch:
        """What each delivery's event stores: the body as sent, or, when it carries personal
        data, the body with those values hidden and the body as sent sealed under its key.

        The batch's mentions and data keys (tombstones included) are read once for all of
        it, and its new keys written in the (writing) unit of work, so they commit with
        the events sealed under them.
        """
        documents = [d.stream for d in batch
                     if d.stream.type == "document" and has_personal_data(d.payload)]  # fmt: skip
        named = LinkQueries(uow).sessions_mentioned(documents)  # what `sealing_of` reads
        decided = sealings_in_order(batch, named)
        scopes = {s for d in decided if d.sealing for s in d.sealing.erased_with}
        found = self.keyring.lookup(uow, scopes)
        stored = frozenset(scope for scope, key in found.items() if key is None)
        keys = self.keyring.keys_for_sealing(uow, {
            d.sealing.scope for d in decided
            if d.sealing and not d.sealing.is_erased(stored | d.erased_earlier)
        }, found)  # fmt: skip
        facts: list[EventFacts] = []
        sealed: list[Sealing] = []
        for delivery, decision in zip(batch, decided, strict=True):
            event = {"event_type": delivery.event_type, "idempotency_key": delivery.idempotency_key}
            sealing = decision.sealing
            if sealing is None:
                facts.append({**event, "body": delivery.body})
                continue
            erased = sealing.is_erased(stored | decision.erased_earlier)
            key = None if erased else keys[sealing.scope]  # None: stored erased
            hidden = hide_personal_data(delivery.payload, SEALED if key else ERASED)
            ciphertext = seal(key, sealing.scope, delivery.body.encode()) if key else None
            facts.append({
                **event,
                "body": json.dumps(hidden, ensure_ascii=False),
                "sealed": base64.b64encode(ciphertext).decode() if ciphertext else None,
                "scope": sealing.scope,
            })  # fmt: skip
            if key:
                sealed.append(sealing)
        return SealedBatch(facts, sealed, stored)

    def erased_since(self, uow: UnitOfWork, batch: SealedBatch) -> bool:
        """Whether a scope that erases one of the batch's sealed deliveries has been erased
        since it was sealed (by another process's append; erasure is permanent, so the batch
        must be sealed again)."""
        scopes = {scope for sealing in batch.sealed for scope in sealing.erased_with}
        found = self.keyring.lookup(uow, scopes)
        return any(key is None and scope not in batch.erased for scope, key in found.items())

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
