"""Checkpoints the ledger has signed, kept (DESIGN §7.1): it never signs two that disagree.

A new checkpoint is signed only for a tree that extends the last one issued (its
consistency proof is checked first), one process at a time (the append lock on
PostgreSQL, the write lock on SQLite), and kept with the size as its key: two
processes asked at once sign in turn, and the second sees the first's. Every
checkpoint issued stays listed, so `ledger verify` checks each root again, and an
auditor can fetch any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from application.storage.clock import utc_now_iso
from application.storage.database import Database
from application.storage.unit_of_work import UnitOfWork
from application.transparency.checkpoints import Checkpoint, SigningKey
from application.transparency.log import TransparencyLog
from application.transparency.merkle import ProofError, verify_consistency
from application.transparency.tiles import TreeStateError

CHECKPOINTS_TABLE = """CREATE TABLE IF NOT EXISTS log_checkpoints (
    tree_size BIGINT PRIMARY KEY,
    root {blob} NOT NULL,
    note TEXT NOT NULL,
    issued_at TEXT NOT NULL)"""


@dataclass(frozen=True)
class IssuedCheckpoint:
    tree_size: int
    root: bytes
    note: str
    issued_at: str

    def as_dict(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "issued_at": self.issued_at, "note": self.note}


def _issued(row: Any) -> IssuedCheckpoint:
    return IssuedCheckpoint(row["tree_size"], bytes(row["root"]), row["note"], row["issued_at"])


class IssuedCheckpoints:
    def __init__(self, database: Database, log: TransparencyLog) -> None:
        self.database = database
        self.log = log

    def create_table(self) -> None:
        with self.database.writing() as uow:
            uow.execute(CHECKPOINTS_TABLE.format(blob=uow.sql.blob))

    def latest(self, uow: UnitOfWork | None = None) -> IssuedCheckpoint | None:
        query = "SELECT * FROM log_checkpoints ORDER BY tree_size DESC LIMIT 1"
        if uow is not None:
            rows = uow.rows(query)
        else:
            with self.database.reading() as reading:
                rows = reading.rows(query)
        return _issued(rows[0]) if rows else None

    def list(self, after: int = -1, limit: int = 100) -> list[IssuedCheckpoint]:
        """Issued checkpoints by tree size, from the first above `after`."""
        with self.database.reading() as uow:
            rows = uow.rows("SELECT * FROM log_checkpoints WHERE tree_size > ?"
                            " ORDER BY tree_size LIMIT ?", after, limit)  # fmt: skip
        return [_issued(row) for row in rows]

    def issue(self, signer: SigningKey) -> IssuedCheckpoint:
        """A checkpoint of every entry committed before this call: the last one issued if
        nothing was appended since, else a new one, signed once it is proved to extend it."""
        with self.database.writing() as uow:
            self.database.sql.lock_appends(uow.cursor)  # nothing appended, nobody else signing
            size = self.log.size(uow)
            last = self.latest(uow)
            if last and last.tree_size == size:
                return last
            if last and last.tree_size > size:
                msg = (f"the log has {size} leaves, fewer than the {last.tree_size} of a"
                       " checkpoint it signed: entries were deleted")  # fmt: skip
                raise TreeStateError(msg)
            root = self.log.root(uow, size)
            if last:
                proof = self.log.consistency_proof(uow, last.tree_size, size)
                try:
                    verify_consistency(last.tree_size, size, proof, last.root, root)
                except ProofError as error:
                    msg = (f"the tree does not extend the checkpoint of size {last.tree_size}:"
                           f" {error}; nothing signed")  # fmt: skip
                    raise TreeStateError(msg) from None
            note = signer.sign(Checkpoint(signer.name, size, root))
            issued = IssuedCheckpoint(size, root, note, utc_now_iso())
            uow.execute("INSERT INTO log_checkpoints VALUES (?, ?, ?, ?)",
                        (issued.tree_size, issued.root, issued.note, issued.issued_at))  # fmt: skip
            return issued
