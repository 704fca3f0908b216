"""The transparency log (DESIGN §7.1): every entry a leaf of one RFC 9162 Merkle tree.

An entry's leaf index is the number of entries before it (positions may have
gaps on PostgreSQL; leaf indexes never do), kept in its index row. The append
writes leaves into the tree's tiles in its own unit of work; proofs and roots
read tiles, never every leaf. A ledger recorded before the log existed builds its
tree once from its entries (`build`), a chunk per transaction, so an interrupted
build goes on from where it stopped; nothing recorded is changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from application.storage.database import Database
from application.storage.schema import INDEX_FIELDS
from application.storage.unit_of_work import UnitOfWork
from application.transparency import merkle
from application.transparency.leaves import leaf_bytes
from application.transparency.tiles import Tiles, TreeStateError

# Told, when an older ledger's tree is to be built, how many entries it lacks; what it gives
# back hears how many each chunk added.
BuildProgress = Callable[[int], Callable[[int], None]]

BUILD_CHUNK = 5000  # entries per transaction while building the tree of an older ledger


@dataclass(frozen=True)
class Leaf:
    """One entry as the tree holds it."""

    position: int
    leaf_index: int
    leaf: bytes


class TransparencyLog:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.tiles = Tiles()
        sql = database.sql
        position = sql.position_column
        columns = ", ".join(f"e.{field}" for field in INDEX_FIELDS)
        self._select = (f"SELECT e.leaf_index, s.originator_id, s.originator_version, s.topic,"
                        f" s.state, {columns}")  # fmt: skip
        self._entries_sql = (f"{self._select} FROM ledger_entries e JOIN {sql.events_table} s"
                             f" ON s.{position} = e.position")  # fmt: skip

    def create_tables(self) -> None:
        """The tiles' table; in a ledger older than the log, the leaf index of each entry; a
        tree stored in the older, larger tiles is regrouped."""
        with self.database.writing() as uow:
            self.tiles.create_table(uow)
            uow.add_column("ledger_entries", "leaf_index BIGINT")
        self.tiles.regroup(self.database, lambda uow: self.database.sql.lock_appends(uow.cursor))

    @staticmethod
    def size_after(last_entry: Any | None) -> int:
        """The tree's size given the ledger's last index row (None: the ledger is empty)."""
        if last_entry is None:
            return 0
        if last_entry["leaf_index"] is None:
            raise TreeStateError("this ledger's Merkle tree is not built yet: open it once with"
                                 " this version (`ledger verify` does) to build it")  # fmt: skip
        return int(last_entry["leaf_index"]) + 1

    def size(self, uow: UnitOfWork) -> int:
        """Leaves in the tree: every entry committed before the unit of work began."""
        rows = uow.rows("SELECT position, leaf_index FROM ledger_entries"
                        " ORDER BY position DESC LIMIT 1")  # fmt: skip
        return self.size_after(rows[0] if rows else None)

    def append(self, uow: UnitOfWork, size: int, leaf_hashes: list[bytes]) -> None:
        if leaf_hashes:
            self.tiles.append(uow, size, leaf_hashes)

    def root(self, uow: UnitOfWork, size: int) -> bytes:
        return merkle.root_hash(self.tiles.nodes(uow), size)

    def inclusion_proofs(self, uow: UnitOfWork, leaf_indexes: list[int], size: int
                         ) -> list[list[bytes]]:  # fmt: skip
        """The inclusion proof of each leaf in the tree of `size`, the tiles read at once."""
        nodes = self.tiles.nodes(uow)
        nodes.prefetch(lambda n: [merkle.inclusion_proof(n, i, size) for i in leaf_indexes])
        return [merkle.inclusion_proof(nodes, i, size) for i in leaf_indexes]

    def inclusion_proof(self, uow: UnitOfWork, leaf_index: int, size: int) -> list[bytes]:
        return self.inclusion_proofs(uow, [leaf_index], size)[0]

    def consistency_proof(self, uow: UnitOfWork, first: int, second: int) -> list[bytes]:
        nodes = self.tiles.nodes(uow)
        nodes.prefetch(lambda n: merkle.consistency_proof(n, first, second))
        return merkle.consistency_proof(nodes, first, second)

    def leaf_hash_at(self, uow: UnitOfWork, leaf_index: int) -> bytes:
        return self.tiles.nodes(uow).perfect(0, leaf_index)

    def leaves(self, uow: UnitOfWork, positions: list[int]) -> dict[int, Leaf]:
        """The leaves of the entries at these positions (those that exist)."""
        if not positions:
            return {}
        marks = ",".join("?" * len(positions))
        rows = self._rows(uow, f" WHERE e.position IN ({marks})", *positions)
        return {leaf.position: leaf for leaf in map(_leaf_of, rows)}

    def _rows(self, uow: UnitOfWork, where: str, *params: Any) -> list[tuple[Any, ...]]:
        """Entries as tuples: leaf index, the stored event's four columns, the index row."""
        return [tuple(row[c] for c in _COLUMNS)
                for row in uow.rows(self._entries_sql + where, *params)]  # fmt: skip

    # Building the tree of a ledger recorded before the log.

    def unbuilt(self) -> int:
        """Entries the tree does not hold yet (only a ledger older than the log has any). The
        tree is built in position order, so the last entry tells whether any lacks its leaf:
        one lookup on every start, the count only when there is a tree to build."""
        with self.database.reading() as uow:
            last = uow.rows("SELECT leaf_index FROM ledger_entries ORDER BY position DESC LIMIT 1")
            if not last or last[0]["leaf_index"] is not None:
                return 0
            rows = uow.rows("SELECT count(*) AS n FROM ledger_entries WHERE leaf_index IS NULL")
        return int(rows[0]["n"])

    def build(self, progress: Callable[[int], None] = lambda done: None) -> int:
        """Give every entry without one its leaf, in position order, a chunk per transaction
        (holding the append lock, so nothing is appended meanwhile); returns how many.
        `progress` hears how many entries each chunk added."""
        built = 0
        while done := self._build_chunk():
            built += done
            progress(done)
        return built

    def _build_chunk(self) -> int:
        with self.database.writing() as uow:
            self.database.sql.lock_appends(uow.cursor)
            last = uow.rows("SELECT position, leaf_index FROM ledger_entries WHERE leaf_index"
                            " IS NOT NULL ORDER BY position DESC LIMIT 1")  # fmt: skip
            size = self.size_after(last[0] if last else None)
            after = last[0]["position"] if last else 0
            rows = self._rows(uow, " WHERE e.position > ? AND e.leaf_index IS NULL"
                              " ORDER BY e.position LIMIT ?", after, BUILD_CHUNK)  # fmt: skip
            if not rows:
                return 0
            hashes, indexes = [], []
            for n, row in enumerate(rows):
                leaf = leaf_bytes(row[5:], *row[1:5])
                hashes.append(merkle.leaf_hash(leaf))
                indexes.append((size + n, row[5]))
            uow.execute_many("UPDATE ledger_entries SET leaf_index = ? WHERE position = ?", indexes)
            self.tiles.append(uow, size, hashes)
            return len(rows)

    def page(self, after: int, limit: int) -> list[tuple[Any, ...]]:
        """The entries after a position, in order, up to `limit`, as `_rows` gives them (an
        entry whose event is gone has None in its place): in one read of its own, rows as
        plain tuples (the cheapest, for reading the whole log)."""
        sql = self.database.sql
        query = (f"{self._select} FROM ledger_entries e LEFT JOIN {sql.events_table} s"
                 f" ON s.{sql.position_column} = e.position AND s.{sql.position_column} > ?"
                 " WHERE e.position > ? ORDER BY e.position LIMIT ?")  # fmt: skip
        with self.database.datastore.transaction(commit=False) as cursor:
            sql.tuple_rows(cursor)
            cursor.execute(sql(query), (after, after, limit))  # both sides bounded
            return list(cursor.fetchall())

    def head(self) -> int:
        """The position of the newest entry (0 for an empty ledger)."""
        with self.database.reading() as uow:
            rows = uow.rows("SELECT max(position) AS p FROM ledger_entries")
        return int(rows[0]["p"] or 0)

    def span_query(self) -> str:
        """`page`'s query for the entries after a position (its first two parameters) up to
        another (its third), in the database's own placeholders: for `leaf_workers`."""
        sql = self.database.sql
        return sql(f"{self._select} FROM ledger_entries e LEFT JOIN {sql.events_table} s"
                   f" ON s.{sql.position_column} = e.position AND s.{sql.position_column} > ?"
                   " WHERE e.position > ? AND e.position <= ? ORDER BY e.position")  # fmt: skip

    def event_without_entry(self, after: int, before: int) -> int | None:
        """The first position between two whose event has no index row (it was deleted)."""
        sql = self.database.sql
        position = f"s.{sql.position_column}"
        with self.database.reading() as uow:
            query = (f"SELECT min({position}) AS p FROM {sql.events_table} s LEFT JOIN"
                     f" ledger_entries e ON e.position = {position} WHERE e.position IS NULL"
                     f" AND {position} > ? AND {position} < ?")  # fmt: skip
            rows = uow.rows(query, after, before)
        return rows[0]["p"] if rows else None


_COLUMNS = ("leaf_index", "originator_id", "originator_version", "topic", "state", *INDEX_FIELDS)


def _leaf_of(row: tuple[Any, ...]) -> Leaf:
    return Leaf(row[5], row[0], leaf_bytes(row[5:], *row[1:5]))
