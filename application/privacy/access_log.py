"""Who read personal data, whose, and when (DESIGN §7): an append-only log that admins list.

Every disclosure of personal data (an officer's or admin's timeline read, the
quarantine list, `ledger timeline --json`) adds a row before the data is
returned. Nothing in the ledger updates or deletes these rows, and each is a leaf
of a Merkle tree of its own, whose root every signed checkpoint names
(`application.transparency.access_log_tree` writes them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from application.storage.clock import utc_now_iso
from application.storage.database import Database
from application.storage.unit_of_work import UnitOfWork

ACCESS_LOG_TABLE = """CREATE TABLE IF NOT EXISTS access_log (
    id {serial_key},
    at TEXT NOT NULL,
    who TEXT NOT NULL,
    role TEXT NOT NULL,
    subject TEXT NOT NULL,
    what TEXT NOT NULL,
    leaf_index BIGINT)"""


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


FIELDS = ("id", "at", "who", "role", "subject", "what")


class AccessLog:
    def __init__(self, database: Database) -> None:
        self.database = database

    def create_table(self) -> None:
        with self.database.writing() as uow:
            uow.execute(ACCESS_LOG_TABLE.format(serial_key=uow.sql.serial_key))
            uow.add_column("access_log", "leaf_index BIGINT")  # a log older than its tree
            uow.execute(
                "CREATE INDEX IF NOT EXISTS access_log_by_subject ON access_log (subject, id)"
            )

    @staticmethod
    def insert(uow: UnitOfWork, who: str, role: str, subject: str, what: str,
               leaf_index: int) -> Access:  # fmt: skip
        """Add a row in the unit of work; the access as recorded."""
        at = utc_now_iso()
        [row] = uow.rows("INSERT INTO access_log (at, who, role, subject, what, leaf_index)"
                         " VALUES (?,?,?,?,?,?) RETURNING id",
                         at, who, role, subject, what, leaf_index)  # fmt: skip
        return Access(row["id"], at, who, role, subject, what)

    def list(self, subject: str | None = None, after: int = 0, limit: int = 100) -> list[Access]:
        """Accesses after an id, oldest first; only those to one subject's data if given."""
        where = "id>?" if subject is None else "id>? AND subject=?"
        params = (after,) if subject is None else (after, subject)
        with self.database.reading() as uow:
            rows = uow.rows(f"SELECT * FROM access_log WHERE {where} ORDER BY id LIMIT ?",
                            *params, limit)  # fmt: skip
        return [Access(**{f: row[f] for f in FIELDS}) for row in rows]
