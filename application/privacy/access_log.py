"""Who read personal data, whose, and when (DESIGN §7): an append-only log that admins list.

Every disclosure of personal data (an officer's or admin's timeline read, the
quarantine list, `ledger timeline --json`) adds a row before the data is
returned. Nothing in the ledger updates or deletes these rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from application.storage.clock import utc_now_iso
from application.storage.database import Database

ACCESS_LOG_TABLE = """CREATE TABLE IF NOT EXISTS access_log (
    id {serial_key},
    at TEXT NOT NULL,
    who TEXT NOT NULL,
    role TEXT NOT NULL,
    subject TEXT NOT NULL,
    what TEXT NOT NULL)"""


@dataclass(frozen=True)
class Access:
    id: int
    at: str
    who: str  # a reader: role and token fingerprint, or `cli:<user>`
    role: str
    subject: str  # whose personal data, or what list it was in
    what: str  # the read, e.g. "timeline as of 42"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class AccessLog:
    def __init__(self, database: Database) -> None:
        self.database = database

    def create_table(self) -> None:
        with self.database.writing() as uow:
            uow.execute(ACCESS_LOG_TABLE.format(serial_key=uow.sql.serial_key))
            uow.execute(
                "CREATE INDEX IF NOT EXISTS access_log_by_subject ON access_log (subject, id)"
            )

    def record(self, who: str, role: str, subject: str, what: str) -> None:
        with self.database.writing() as uow:
            uow.execute("INSERT INTO access_log (at, who, role, subject, what) VALUES (?,?,?,?,?)",
                        (utc_now_iso(), who, role, subject, what))  # fmt: skip

    def list(self, subject: str | None = None, after: int = 0, limit: int = 100) -> list[Access]:
        """Accesses after an id, oldest first; only those to one subject's data if given."""
        where = "id>?" if subject is None else "id>? AND subject=?"
        params = (after,) if subject is None else (after, subject)
        with self.database.reading() as uow:
            rows = uow.rows(f"SELECT * FROM access_log WHERE {where} ORDER BY id LIMIT ?",
                            *params, limit)  # fmt: skip
        return [Access(**dict(row)) for row in rows]
