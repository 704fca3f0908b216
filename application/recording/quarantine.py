"""Deliveries that are authentic but unreadable: kept, listed, and re-processed later.

Verifa signed them, so they were acknowledged and must not be lost; but they are
not valid ledger events (not JSON, not UTF-8, or a known type with missing or
mistyped fields). The raw body is kept byte for byte with the reasons, sealed
under a data key of its own: it may hold personal data nobody could parse out.
An erasure of a session, document or subject the body names erases it too,
before or after it arrives (`erasures_covering`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from application.privacy.erasure import QUARANTINE_NAMES_TABLE, scope_digest
from application.privacy.keyring import Keyring, erase_keys, seal, unseal
from application.recording.delivery import Delivery
from application.storage.clock import utc_now_iso
from application.storage.database import Database
from domain.bounds import MAX_TEXT_LENGTH
from domain.routing import QUARANTINED
from domain.sealing import erasures_covering

QUARANTINE_TABLE = """CREATE TABLE IF NOT EXISTS quarantine (
    id TEXT PRIMARY KEY,
    received_at TEXT NOT NULL,
    webhook_id TEXT,
    body {blob} NOT NULL,
    reason TEXT NOT NULL,
    errors TEXT NOT NULL,
    released_position BIGINT)"""


@dataclass(frozen=True)
class Held:
    """A delivery kept in quarantine, as its record in the ledger states it: when, why, and a
    digest of its body as kept (sealed), never the body."""

    id: str
    received_at: str
    webhook_id: str | None
    reason: str
    sealed_sha256: str

    def record(self) -> Delivery:
        """The ledger's own event recording it (`ledger.quarantined`): a leaf of the log."""
        key = f"quarantined:{self.id}"
        payload = {"event": QUARANTINED, "quarantine_id": self.id, "received_at":
                   self.received_at, "webhook_id": self.webhook_id, "reason":
                   self.reason[:MAX_TEXT_LENGTH], "sealed_sha256": self.sealed_sha256,
                   "idempotency_key": key}  # fmt: skip
        return Delivery(json.dumps(payload), payload, key)


@dataclass(frozen=True)
class QuarantinedDelivery:
    id: str
    received_at: str
    webhook_id: str | None
    body: bytes  # empty once erased
    reason: str
    errors: list[dict[str, Any]]
    released_position: int | None
    erased: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "received_at": self.received_at,
            "webhook_id": self.webhook_id,
            "reason": self.reason,
            "errors": self.errors,
            "size": len(self.body),
            "released_position": self.released_position,
            "body_preview": self.body[:200].decode("utf-8", errors="replace"),
            "erased": self.erased,
        }


class Quarantine:
    """The quarantine list, kept in the ledger's database."""

    def __init__(self, database: Database, keyring: Keyring) -> None:
        self.database = database
        self.keyring = keyring

    def create_table(self) -> None:
        with self.database.writing() as uow:
            uow.execute(QUARANTINE_TABLE.format(blob=uow.sql.blob))
            uow.execute(QUARANTINE_NAMES_TABLE)
            uow.execute("CREATE INDEX IF NOT EXISTS quarantine_by_time"
                        " ON quarantine (received_at, id)")  # fmt: skip

    def hold(
        self, body: bytes, webhook_id: str | None, reason: str, errors: list[dict[str, Any]]
    ) -> Held:
        """Keep a delivery, sealed under a key of its own, with the scopes whose erasure covers
        it; one that arrives for an erased scope is kept erased. The same body delivered again
        is held once, under the same id."""
        entry_id = "q_" + hashlib.sha256(body).hexdigest()[:24]
        scope = f"quarantine:{entry_id}"
        covering = _erasures_covering(body)
        with self.database.writing() as uow:
            erased = None in self.keyring.lookup(uow, covering).values()
            key = self.keyring.keys_for_sealing(uow, [scope])[scope]
            assert key is not None, "a new entry's key exists until an erasure destroys it"
            kept = b"" if erased else seal(key, scope, body)
            uow.execute("INSERT INTO quarantine VALUES (?,?,?,?,?,?,NULL) ON CONFLICT DO NOTHING",
                        (entry_id, utc_now_iso(), webhook_id, kept, reason,
                         json.dumps(errors, default=str)))  # fmt: skip
            uow.execute_many("INSERT INTO quarantine_names VALUES (?,?) ON CONFLICT DO NOTHING",
                             [(scope_digest(s), entry_id) for s in sorted(covering)])  # fmt: skip
            if erased:
                erase_keys(uow, [scope], None)
            [row] = uow.rows("SELECT received_at, webhook_id, body, reason FROM quarantine"
                             " WHERE id=?", entry_id)  # fmt: skip
        return Held(entry_id, row["received_at"], row["webhook_id"], row["reason"],
                    hashlib.sha256(bytes(row["body"])).hexdigest())  # fmt: skip

    @staticmethod
    def _open(keys: dict[str, bytes | None], entry_id: str, sealed: bytes) -> bytes | None:
        """The body as sent; None once an erasure destroyed its key."""
        scope = f"quarantine:{entry_id}"
        key = keys.get(scope)
        return None if key is None else unseal(key, scope, sealed)

    def release(self, entry_id: str, position: int) -> None:
        """Mark a held delivery as recorded after all, at `position`."""
        with self.database.writing() as uow:
            uow.execute(
                "UPDATE quarantine SET released_position=? WHERE id=?", (position, entry_id)
            )

    def list(
        self, *, include_released: bool = False, after: str = "", limit: int | None = None
    ) -> list[QuarantinedDelivery]:
        """Held deliveries, oldest first: all, or the `limit` after the entry `after`."""
        clauses: list[str] = []
        params: list[object] = []
        if not include_released:
            clauses.append("released_position IS NULL")
        if after:
            clauses.append("(received_at, id) > (SELECT received_at, id FROM quarantine"
                           " WHERE id=?)")  # fmt: skip
            params.append(after)
        query = "SELECT * FROM quarantine"
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY received_at, id"
        if limit is not None:
            query, params = query + " LIMIT ?", [*params, limit]
        with self.database.reading() as uow:
            rows = uow.rows(query, *params)
        keys = self.keyring.keys(f"quarantine:{r['id']}" for r in rows)
        held = []
        for r in rows:
            body = self._open(keys, r["id"], bytes(r["body"]))
            held.append(QuarantinedDelivery(
                id=r["id"], received_at=r["received_at"], webhook_id=r["webhook_id"],
                body=body or b"", reason=r["reason"], errors=json.loads(r["errors"]),
                released_position=r["released_position"], erased=body is None,
            ))  # fmt: skip
        return held


def _erasures_covering(body: bytes) -> frozenset[str]:
    """What a body says about whose it is, as far as it can be read as a JSON object."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return frozenset()
    return erasures_covering(payload) if isinstance(payload, dict) else frozenset()


@dataclass(frozen=True)
class Replay:
    """What re-processing the quarantine did: entries released and those still held."""

    released: list[tuple[str, int]]
    still_held: list[str]
