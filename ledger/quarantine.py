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

from ledger.clock import utc_now_iso
from ledger.dialect import Dialect
from ledger.keyring import Keyring, seal, unseal

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

    def __init__(self, datastore: Any, sql: Dialect, keyring: Keyring) -> None:
        self.datastore = datastore
        self.sql = sql
        self.keyring = keyring

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(QUARANTINE_TABLE.format(blob=self.sql.blob))

    def hold(
        self, body: bytes, webhook_id: str | None, reason: str, errors: list[dict[str, Any]]
    ) -> str:
        """Keep a delivery; the same body delivered again is held once, under the same id."""
        entry_id = "q_" + hashlib.sha256(body).hexdigest()[:24]
        scope = f"quarantine:{entry_id}"
        key = self.keyring.key_for_sealing(scope)
        assert key is not None, "quarantine keys are never erased"
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                self.sql("INSERT INTO quarantine VALUES (?,?,?,?,?,?,NULL) ON CONFLICT DO NOTHING"),
                (
                    entry_id,
                    utc_now_iso(),
                    webhook_id,
                    seal(key, scope, body),
                    reason,
                    json.dumps(errors, default=str),
                ),
            )
        return entry_id

    @staticmethod
    def _open(keys: dict[str, bytes | None], entry_id: str, sealed: bytes) -> bytes:
        scope = f"quarantine:{entry_id}"
        key = keys.get(scope)
        assert key is not None, "quarantine keys are never erased"
        return unseal(key, scope, sealed)

    def release(self, entry_id: str, position: int) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                self.sql("UPDATE quarantine SET released_position=? WHERE id=?"),
                (position, entry_id),
            )

    def list(self, *, include_released: bool = False) -> list[QuarantinedDelivery]:
        sql = "SELECT * FROM quarantine"
        if not include_released:
            sql += " WHERE released_position IS NULL"
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql + " ORDER BY received_at, id")
            rows = c.fetchall()
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
