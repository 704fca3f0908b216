"""Sessions signed out before they expired, so that a copy of the cookie is worth nothing
after its owner signed out. Kept in the ledger's database: every API process sees them."""

from __future__ import annotations

import time

from api.console.sessions import ConsoleSession
from application.storage.database import Database

TABLE = """CREATE TABLE IF NOT EXISTS console_sign_outs (
    session_id TEXT PRIMARY KEY,
    expires BIGINT NOT NULL)"""


class SignOuts:
    def __init__(self, database: Database) -> None:
        self.database = database

    def create_table(self) -> None:
        with self.database.schema_lock(), self.database.writing() as uow:
            uow.execute(TABLE)

    def sign_out(self, session: ConsoleSession) -> None:
        """Remember the session until it would have expired; forget those past it."""
        with self.database.writing() as uow:
            uow.execute("DELETE FROM console_sign_outs WHERE expires < ?", (int(time.time()),))
            uow.execute("INSERT INTO console_sign_outs VALUES (?, ?) ON CONFLICT DO NOTHING",
                        (session.id, session.expires))  # fmt: skip

    def signed_out(self, session: ConsoleSession) -> bool:
        with self.database.reading() as uow:
            rows = uow.rows("SELECT 1 FROM console_sign_outs WHERE session_id=?", session.id)
        return bool(rows)
