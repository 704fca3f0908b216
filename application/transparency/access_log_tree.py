"""The access log, tamper-evident (DESIGN §7.3): each read of personal data a leaf of a tree.

Who read whose personal data is evidence too: a row deleted or changed behind the
ledger's back must show. Each access is recorded with its leaf in the access
log's own RFC 9162 tree (`access_log_tiles`), in one transaction, one at a time
(the access log's lock); every signed checkpoint names that tree's size and root
in an extension line (`checkpoints.ACCESS_LOG`), so one signature covers both
trees and `ledger verify` checks the rows against it.
"""

from __future__ import annotations

import builtins
import json
from typing import Any

from application.privacy.access_log import FIELDS, Access, AccessLog
from application.storage.database import Database
from application.storage.unit_of_work import UnitOfWork
from application.transparency import merkle
from application.transparency.tiles import StoredLeaves, Tiles, TreeStateError

BUILD_CHUNK = 5000
PAGE = 2000

_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), sort_keys=True).encode


def access_leaf(access: Access) -> bytes:
    """A row's leaf: its fields, canonical JSON (keys sorted, ASCII, no spaces)."""
    return _encode(access.as_dict()).encode("ascii")


class AccessLogTree:
    """`AccessLog` with every row a leaf: what the ledger records accesses through."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.rows = AccessLog(database)
        self.tiles = Tiles("access_log_tiles")

    def create_tables(self) -> None:
        self.rows.create_table()
        with self.database.writing() as uow:
            self.tiles.create_table(uow)
        self.tiles.regroup(self.database, self._lock)
        self._build_older_rows()

    def _lock(self, uow: UnitOfWork) -> None:
        self.database.sql.lock_appends(uow.cursor, "access_log")

    def record(self, who: str, role: str, subject: str, what: str) -> None:
        with self.database.writing() as uow:
            self._lock(uow)
            size = self.size(uow)
            access = AccessLog.insert(uow, who, role, subject, what, size)
            self.tiles.append(uow, size, [merkle.leaf_hash(access_leaf(access))])

    def list(
        self, subject: str | None = None, after: int = 0, limit: int = 100
    ) -> builtins.list[Access]:
        return self.rows.list(subject, after, limit)

    def size(self, uow: UnitOfWork) -> int:
        """Leaves in the tree: rows get theirs in id order, so the newest row with one has the
        last (by the id's index, not a scan of the log)."""
        rows = uow.rows("SELECT leaf_index FROM access_log WHERE leaf_index IS NOT NULL"
                        " ORDER BY id DESC LIMIT 1")  # fmt: skip
        return int(rows[0]["leaf_index"]) + 1 if rows else 0

    def root(self, uow: UnitOfWork, size: int) -> bytes:
        return merkle.root_hash(self.tiles.nodes(uow), size)

    def consistency_proof(self, uow: UnitOfWork, first: int, second: int) -> builtins.list[bytes]:
        return merkle.consistency_proof(self.tiles.nodes(uow), first, second)

    def _build_older_rows(self) -> None:
        """Give the rows recorded before the tree their leaves, in id order, a chunk at a time."""
        with self.database.reading() as uow:  # built in id order: the newest row tells
            last = uow.rows("SELECT leaf_index FROM access_log ORDER BY id DESC LIMIT 1")
        if not last or last[0]["leaf_index"] is not None:
            return
        while True:
            with self.database.writing() as uow:
                self.database.sql.lock_appends(uow.cursor, "access_log")
                size = self.size(uow)
                rows = uow.rows("SELECT * FROM access_log WHERE leaf_index IS NULL ORDER BY id"
                                " LIMIT ?", BUILD_CHUNK)  # fmt: skip
                if not rows:
                    return
                accesses = [_access(row) for row in rows]
                uow.execute_many("UPDATE access_log SET leaf_index = ? WHERE id = ?",
                                 [(size + n, a.id) for n, a in enumerate(accesses)])  # fmt: skip
                self.tiles.append(uow, size, [merkle.leaf_hash(access_leaf(a)) for a in accesses])

    def check(self, signed: dict[int, bytes]) -> tuple[int | None, str] | None:
        """Recompute every row's leaf, and the roots at the sizes checkpoints `signed`: None if
        all are as signed, else (the first access id that is not, if known) and why."""
        tree, after = merkle.CompactRange(), -1
        leaves = StoredLeaves(self.tiles, self.database)
        while True:
            with self.database.reading() as uow:
                rows = uow.rows("SELECT * FROM access_log WHERE leaf_index > ?"
                                " ORDER BY leaf_index LIMIT ?", after, PAGE)  # fmt: skip
            for row in rows:
                index, access = tree.size, _access(row)
                if row["leaf_index"] != index:
                    return access.id, (f"access {access.id} is leaf {row['leaf_index']} where"
                                       f" leaf {index} was due: accesses were deleted")  # fmt: skip
                hashed = merkle.leaf_hash(access_leaf(access))
                if leaves.at(index) != hashed:
                    return access.id, f"access {access.id} was changed: it no longer gives its leaf"
                tree.append(hashed)
                if tree.size in signed and tree.root() != signed[tree.size]:
                    return None, (f"the access log's first {tree.size} rows no longer give the"
                                  " root a checkpoint signed")  # fmt: skip
            if len(rows) < PAGE:
                break
            after = rows[-1]["leaf_index"]
        if signed and max(signed) > tree.size:
            return None, (f"the access log has {tree.size} rows, fewer than the {max(signed)}"
                          " a checkpoint signed: accesses were deleted")  # fmt: skip
        if 0 in signed and signed[0] != merkle.EMPTY_ROOT:
            return None, "a checkpoint signed another root for the empty access log"
        with self.database.reading() as uow:
            try:
                stored = self.root(uow, tree.size)
            except TreeStateError as error:
                return None, f"the access log's tree is incomplete: {error}"
        if stored != tree.root():
            return None, "the access log's stored tree does not match its rows"
        return None


def _access(row: Any) -> Access:
    return Access(**{f: row[f] for f in FIELDS})
