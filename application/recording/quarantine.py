"""Deliveries that are authentic but unreadable: kept, listed, and re-processed later.

Verifa signed them, so they were acknowledged and must not be lost; but they are
not valid ledger events (not JSON, not UTF-8, or a known type with missing or
mistyped fields). The raw body is kept byte for byte with the reasons, sealed
under a data key of its own: it may hold personal data nobody could parse out.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from application.privacy.keyring import Keyring, seal, unseal
from application.storage.clock import utc_now_iso
from application.storage.database import Database

QUARANTINE_TABLE = """CREATE TABLE IF NOT EXISTS quarantine (
    id TEXT PRIMARY KEY,
    received_at TEXT NOT NULL,
    webhook_id TEXT,
    body {blob} NOT NULL,
    reason TEXT NOT NULL,
    errors TEXT NOT NULL,
    released_position BIGINT)"""


@dataclass(frozen=True)
class QuarantinedDelivery:
    id: str
    received_at: str
    webhook_id: str | None
    body: bytes
    reason: str
    errors: list[dict[str, Any]]
    released_position: int | None

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
        }


class Quarantine:
    """The quarantine list, kept in the ledger's database."""

    def __init__(self, database: Database, keyring: Keyring) -> None:
        self.database = database
        self.keyring = keyring

    def create_table(self) -> None:
        with self.database.writing() as uow:
            uow.execute(QUARANTINE_TABLE.format(blob=uow.sql.blob))

    def hold(
        self, body: bytes, webhook_id: str | None, reason: str, errors: list[dict[str, Any]]
    ) -> str:
        """Keep a delivery, sealed under a key of its own; the same body delivered again is held
        once, under the same id."""
        entry_id = "q_" + hashlib.sha256(body).hexdigest()[:24]
        scope = f"quarantine:{entry_id}"
        with self.database.writing() as uow:
            key = self.keyring.keys_for_sealing(uow, [scope])[scope]
            assert key is not None, "quarantine keys are never erased"
            uow.execute("INSERT INTO quarantine VALUES (?,?,?,?,?,?,NULL) ON CONFLICT DO NOTHING",
                        (entry_id, utc_now_iso(), webhook_id, seal(key, scope, body), reason,
                         json.dumps(errors, default=str)))  # fmt: skip
        return entry_id

    @staticmethod
    def _open(keys: dict[str, bytes | None], entry_id: str, sealed: bytes) -> bytes:
        scope = f"quarantine:{entry_id}"
        key = keys.get(scope)
        assert key is not None, "quarantine keys are never erased"
        return unseal(key, scope, sealed)

    def release(self, entry_id: str, position: int) -> None:
        """Mark a held delivery as recorded after all, at `position`."""
        with self.database.writing() as uow:
            uow.execute(
                "UPDATE quarantine SET released_position=? WHERE id=?", (position, entry_id)
            )

    def list(self, *, include_released: bool = False) -> list[QuarantinedDelivery]:
        query = "SELECT * FROM quarantine"
        if not include_released:
            query += " WHERE released_position IS NULL"
        with self.database.reading() as uow:
            rows = uow.rows(query + " ORDER BY received_at, id")
        keys = self.keyring.keys(f"quarantine:{r['id']}" for r in rows)
        return [
            QuarantinedDelivery(
                id=r["id"],
                received_at=r["received_at"],
                webhook_id=r["webhook_id"],
                body=self._open(keys, r["id"], bytes(r["body"])),
                reason=r["reason"],
                errors=json.loads(r["errors"]),
                released_position=r["released_position"],
            )
            for r in rows
        ]


@dataclass(frozen=True)
class Replay:
    """What re-processing the quarantine did: entries released and those still held."""

    released: list[tuple[str, int]]
    still_held: list[str]
