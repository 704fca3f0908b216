"""Rows a read model could not apply, set aside so that every other row keeps flowing.

A read model that fails on one row (its fold raises, its document cannot be
encoded, the database refuses it) must not stop: the build moves on without
that row and keeps a note of it here, in the same transaction as its tracking
position. `GET /projections` and `ledger projections status` report the notes;
`ledger projections retry` computes the rows again, as of the build's position;
and whenever a later batch touches the row and it applies, the note goes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from application.storage.unit_of_work import UnitOfWork

TABLE = """CREATE TABLE IF NOT EXISTS read_model_unapplied (
    build TEXT NOT NULL, key_digest TEXT NOT NULL, key TEXT NOT NULL,
    position BIGINT NOT NULL, entries TEXT NOT NULL, error TEXT NOT NULL,
    PRIMARY KEY (build, key_digest))"""

MAX_ERROR_LENGTH = 1000
MAX_REPORTED = 20  # notes a status report lists in full, per build


@dataclass(frozen=True)
class Unapplied:
    """A row of a build that could not be applied as of `position`, and why.

    `entries` are the positions of the batch's entries that touched the row.
    """

    key: str
    position: int
    entries: tuple[int, ...]
    error: str

    @staticmethod
    def of(key: str, position: int, entries: list[int], error: BaseException) -> Unapplied:
        reason = f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]
        return Unapplied(key, position, tuple(entries[:10]), reason)

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key[:200], "position": self.position,
                "entries": list(self.entries), "error": self.error}  # fmt: skip


def _digest(key: str) -> str:
    """The note's key: a key too long for an index (one reason to be here) still fits."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class UnappliedNotes:
    """The notes of every build, written in the units of work that write the builds' rows."""

    def note(self, uow: UnitOfWork, label: str, unapplied: list[Unapplied]) -> None:
        for u in unapplied:
            uow.execute("DELETE FROM read_model_unapplied WHERE build=? AND key_digest=?",
                        (label, _digest(u.key)))  # fmt: skip
            uow.execute("INSERT INTO read_model_unapplied VALUES (?,?,?,?,?,?)",
                        (label, _digest(u.key), u.key, u.position,
                         ",".join(map(str, u.entries)), u.error))  # fmt: skip

    def clear(self, uow: UnitOfWork, label: str, applied: set[str]) -> None:
        """Forget the notes of rows now applied (one query when, as usual, there are none)."""
        query = "SELECT key_digest FROM read_model_unapplied WHERE build=?"
        noted = {r["key_digest"] for r in uow.rows(query, label)}
        if not noted:
            return
        for key in applied:
            if (digest := _digest(key)) in noted:
                uow.execute("DELETE FROM read_model_unapplied WHERE build=? AND key_digest=?",
                            (label, digest))  # fmt: skip

    def forget_build(self, uow: UnitOfWork, label: str) -> None:
        uow.execute("DELETE FROM read_model_unapplied WHERE build=?", (label,))

    def listed(self, uow: UnitOfWork, label: str, limit: int | None = None) -> list[Unapplied]:
        query = "SELECT * FROM read_model_unapplied WHERE build=? ORDER BY position, key_digest"
        rows = uow.rows(query + (f" LIMIT {int(limit)}" if limit else ""), label)
        return [Unapplied(r["key"], r["position"],
                          tuple(int(p) for p in r["entries"].split(",") if p), r["error"])
                for r in rows]  # fmt: skip

    def count(self, uow: UnitOfWork, label: str) -> int:
        rows = uow.rows("SELECT COUNT(*) AS n FROM read_model_unapplied WHERE build=?", label)
        return int(rows[0]["n"])
