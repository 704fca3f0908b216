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
from application.transparency.access_log_tree import AccessLogTree
from application.transparency.checkpoints import Checkpoint, SigningKey
from application.transparency.log import TransparencyLog
from application.transparency.merkle import ProofError, verify_consistency
from application.transparency.tiles import TreeStateError

CHECKPOINTS_TABLE = """CREATE TABLE IF NOT EXISTS log_checkpoints (
    id {serial_key},
    tree_size BIGINT NOT NULL,
    root {blob} NOT NULL,
    access_size BIGINT NOT NULL,
    access_root {blob} NOT NULL,
    note TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    UNIQUE (tree_size, access_size))"""


@dataclass(frozen=True)
class IssuedCheckpoint:
    id: int  # the order they were issued in
    tree_size: int
    root: bytes
    access_size: int
    access_root: bytes
    note: str
    issued_at: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "tree_size": self.tree_size, "access_log_size": self.access_size,
                "issued_at": self.issued_at, "note": self.note}  # fmt: skip


def _issued(row: Any) -> IssuedCheckpoint:
    return IssuedCheckpoint(row["id"], row["tree_size"], bytes(row["root"]), row["access_size"],
                            bytes(row["access_root"]), row["note"], row["issued_at"])  # fmt: skip


class IssuedCheckpoints:
    def __init__(self, database: Database, log: TransparencyLog, access: AccessLogTree) -> None:
        self.database = database
        self.log = log
        self.access = access

    def create_table(self) -> None:
        with self.database.writing() as uow:
            uow.execute(CHECKPOINTS_TABLE.format(serial_key=uow.sql.serial_key,
                                                 blob=uow.sql.blob))  # fmt: skip

    def latest(self, uow: UnitOfWork | None = None) -> IssuedCheckpoint | None:
        query = "SELECT * FROM log_checkpoints ORDER BY id DESC LIMIT 1"
        if uow is not None:
            rows = uow.rows(query)
        else:
            with self.database.reading() as reading:
                rows = reading.rows(query)
        return _issued(rows[0]) if rows else None

    def list(self, after: int = 0, limit: int = 100) -> list[IssuedCheckpoint]:
        """Issued checkpoints in the order they were issued, from the one after id `after`."""
        with self.database.reading() as uow:
            rows = uow.rows("SELECT * FROM log_checkpoints WHERE id > ? ORDER BY id LIMIT ?",
                            after, limit)  # fmt: skip
        return [_issued(row) for row in rows]

    def issue(self, signer: SigningKey) -> IssuedCheckpoint:
        """A checkpoint of every entry and access committed before this call: the last one
        issued if nothing was added since, else a new one, signed once both its trees are
        proved to extend the last one's."""
        with self.database.reading() as uow:  # most often, nothing new: no lock is needed
            last = self.latest(uow)
            if last and (last.tree_size, last.access_size) == (self.log.size(uow),
                                                               self.access.size(uow)):  # fmt: skip
                return last
        with self.database.writing() as uow:
            # Nothing appended or read meanwhile, and nobody else signing.
            self.database.sql.lock_appends(uow.cursor)
            self.database.sql.lock_appends(uow.cursor, "access_log")
            size, access_size = self.log.size(uow), self.access.size(uow)
            last = self.latest(uow)
            if last and (last.tree_size, last.access_size) == (size, access_size):
                return last
            root, access_root = self.log.root(uow, size), self.access.root(uow, access_size)
            if last:
                self._extends(uow, "log", last.tree_size, last.root, size, root, self.log)
                self._extends(uow, "access log", last.access_size, last.access_root,
                              access_size, access_root, self.access)  # fmt: skip
            checkpoint = Checkpoint.with_access_log(signer.name, size, root,
                                                    (access_size, access_root))  # fmt: skip
            note, issued_at = signer.sign(checkpoint), utc_now_iso()
            [row] = uow.rows("INSERT INTO log_checkpoints (tree_size, root, access_size,"
                             " access_root, note, issued_at) VALUES (?, ?, ?, ?, ?, ?)"
                             " RETURNING id", size, root, access_size, access_root, note,
                             issued_at)  # fmt: skip
            return IssuedCheckpoint(row["id"], size, root, access_size, access_root, note,
                                    issued_at)  # fmt: skip

    @staticmethod
    def _extends(uow: UnitOfWork, what: str, old_size: int, old_root: bytes, size: int,
                 root: bytes, tree: TransparencyLog | AccessLogTree) -> None:  # fmt: skip
        """Refuse to sign a tree that does not extend the last one signed."""
        if size < old_size:
            msg = (f"the {what} has {size} leaves, fewer than the {old_size} of a checkpoint it"
                   " signed: some were deleted; nothing signed")  # fmt: skip
            raise TreeStateError(msg)
        if old_size == 0:
            return
        try:
            proof = tree.consistency_proof(uow, old_size, size)
            verify_consistency(old_size, size, proof, old_root, root)
        except ProofError as error:
            msg = f"the {what} does not extend the last checkpoint: {error}; nothing signed"
            raise TreeStateError(msg) from None
