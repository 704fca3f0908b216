"""The Merkle tree's state in the database: tiles of 16 hashes (as C2SP tlog-tiles, smaller).

The tile at level L, index N holds the hashes of the tree's nodes at height 4L,
indices 16N to 16N + 15, concatenated: level 0 the leaf hashes, level 1 the
roots of each 16 leaves, and so on. A tile fills up from the left; once full it
never changes again. Any perfect subtree's hash is then at most 15 hashes away
from a stored one, so proofs and roots never rebuild the tree from its leaves,
and an append touches one tile per level at most: O(log n) work, in the append's
own unit of work, under the lock that orders positions. (C2SP's tiles hold 256
hashes, for a file server; in a database row, 16 make a proof hash at most 11
nodes per level instead of 247, and the tile an append rewrites 512 bytes.)

A process keeps the tiles it stored last: those not yet full at the tree's right
edge, as of the size they were committed at. The next append to a tree of that
size (nothing appended meanwhile by another process) starts from them instead of
reading them back: on PostgreSQL a round trip less per batch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from application.storage.database import Database
from application.storage.unit_of_work import UnitOfWork
from application.transparency.merkle import HASH_SIZE, Nodes, node_hash

TILE_HEIGHT = 4  # levels of the tree a tile spans
TILE_WIDTH = 1 << TILE_HEIGHT  # hashes in a full tile
FULL_TILE = TILE_WIDTH * HASH_SIZE
PLACES_PER_READ = 400  # tiles one query reads at most (its parameters stay few)
OLDER_WIDTH = 256  # the hashes a tile held before this version: such trees are regrouped
REGROUP_CHUNK = 40  # older tiles (10,240 leaves) regrouped per transaction

TILES_TABLE = """CREATE TABLE IF NOT EXISTS {table} (
    level INTEGER NOT NULL,
    tile BIGINT NOT NULL,
    hashes {blob} NOT NULL,
    PRIMARY KEY (level, tile))"""


class TreeStateError(RuntimeError):
    """The stored tiles do not hold what the ledger's entries say they should."""


def subtree_root(hashes: Sequence[bytes]) -> bytes:
    """The root over a power-of-two count of sibling hashes."""
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def split(tile: bytes) -> list[bytes]:
    return [tile[i : i + HASH_SIZE] for i in range(0, len(tile), HASH_SIZE)]


class Tiles:
    """Reads and appends the tiles of one tree (the ledger's, in `log_tiles`; the access
    log's, in `access_log_tiles`). Full tiles, which never change, are kept in memory once
    read (at most `cached` of them)."""

    def __init__(self, table: str = "log_tiles", cached: int = 16384) -> None:
        self.table = table
        self._full: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._cached = cached
        self._lock = threading.Lock()
        # The partial tiles this process committed last, and the tree's size then: the
        # only tree of that size a log that only grows ever has.
        self._edge: tuple[int, dict[tuple[int, int], bytes]] = (-1, {})

    def create_table(self, uow: UnitOfWork) -> None:
        uow.execute(TILES_TABLE.format(table=self.table, blob=uow.sql.blob))

    def regroup(self, database: Database, lock: Callable[[UnitOfWork], None]) -> int:
        """Store again, in tiles of 16, a tree an earlier version stored in tiles of 256: its
        leaf hashes appended anew, in order, from the older tiles (kept aside meanwhile as
        `<table>_256`), a chunk per transaction under the tree's append lock (`lock`), so an
        interrupted regroup goes on where it stopped. The tree, its roots and its proofs are
        the same; nothing else is touched. Returns the leaves regrouped."""
        older, regrouped = f"{self.table}_{OLDER_WIDTH}", 0
        with database.writing() as uow:
            lock(uow)
            first = uow.rows(f"SELECT hashes FROM {self.table} WHERE level = 0 AND tile = 0")
            if first and len(first[0]["hashes"]) > FULL_TILE:
                uow.execute(f"ALTER TABLE {self.table} RENAME TO {older}")
                if uow.sql.name == "postgres":  # its key's index keeps its name otherwise
                    uow.execute(f"ALTER INDEX {self.table}_pkey RENAME TO {older}_pkey")
                self.create_table(uow)
            if not uow.rows(uow.sql.table_exists(older))[0]["found"]:
                return 0
        while True:
            with database.writing() as uow:
                lock(uow)
                size = self._leaves_stored(uow)
                first_tile = size // OLDER_WIDTH
                rows = uow.rows(f"SELECT tile, hashes FROM {older} WHERE level = 0 AND tile >= ?"
                                " ORDER BY tile LIMIT ?", first_tile, REGROUP_CHUNK)  # fmt: skip
                if [row["tile"] for row in rows] != list(range(first_tile, first_tile + len(rows))):
                    raise TreeStateError(f"the older tiles of {older} have a gap after leaf {size}")
                hashes = b"".join(bytes(row["hashes"]) for row in rows)
                hashes = hashes[(size % OLDER_WIDTH) * HASH_SIZE :]
                if not hashes:
                    uow.execute(f"DROP TABLE {older}")
                    return regrouped
                self.append(uow, size, split(hashes))
                regrouped += len(hashes) // HASH_SIZE

    def _leaves_stored(self, uow: UnitOfWork) -> int:
        rows = uow.rows(f"SELECT tile, hashes FROM {self.table} WHERE level = 0"
                        " ORDER BY tile DESC LIMIT 1")  # fmt: skip
        return rows[0]["tile"] * TILE_WIDTH + len(rows[0]["hashes"]) // HASH_SIZE if rows else 0

    def tile(self, uow: UnitOfWork, level: int, index: int) -> bytes:
        """The stored hashes of one tile (empty if none yet)."""
        with self._lock:
            if (found := self._full.get((level, index))) is not None:
                self._full.move_to_end((level, index))
                return found
        rows = uow.rows(f"SELECT hashes FROM {self.table} WHERE level = ? AND tile = ?",
                        level, index)  # fmt: skip
        hashes = bytes(rows[0]["hashes"]) if rows else b""
        if len(hashes) == FULL_TILE:
            self._keep_full(level, index, hashes)
        return hashes

    def read(self, uow: UnitOfWork, places: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored tiles at these places (level, index), in one query (those stored)."""
        if uow.sql.name == "postgres":  # the places as two arrays: one plan, any count
            levels, indexes = [level for level, _ in places], [tile for _, tile in places]
            rows = uow.rows(f"SELECT t.level, t.tile, t.hashes FROM {self.table} t JOIN"
                            " unnest(?::int[], ?::bigint[]) AS p(level, tile)"
                            " ON t.level = p.level AND t.tile = p.tile",
                            levels, indexes)  # fmt: skip
        else:
            rows = []
            for start in range(0, len(places), PLACES_PER_READ):
                some = places[start : start + PLACES_PER_READ]
                values = ",".join(["(?, ?)"] * len(some))
                # Joined from the places, each a probe of the primary key: SQLite answers
                # `(level, tile) IN (VALUES ...)` by scanning the whole table.
                rows += uow.rows(f"WITH p(level, tile) AS (VALUES {values}) SELECT t.level,"
                                 f" t.tile, t.hashes FROM p CROSS JOIN {self.table} t"
                                 " ON t.level = p.level AND t.tile = p.tile",
                                 *[n for place in some for n in place])  # fmt: skip
        return {(row["level"], row["tile"]): bytes(row["hashes"]) for row in rows}

    def level_tiles(self, uow: UnitOfWork, level: int, first: int, count: int) -> dict[int, bytes]:
        """The stored tiles of one level from index `first`, up to `count` of them, in one
        read (for a pass over every leaf)."""
        rows = uow.rows(f"SELECT tile, hashes FROM {self.table} WHERE level = ? AND tile >= ?"
                        " AND tile < ?", level, first, first + count)  # fmt: skip
        return {int(row["tile"]): bytes(row["hashes"]) for row in rows}

    def _keep_full(self, level: int, index: int, hashes: bytes) -> None:
        with self._lock:
            self._full[(level, index)] = hashes
            while len(self._full) > self._cached:
                self._full.popitem(last=False)

    def nodes(self, uow: UnitOfWork) -> StoredNodes:
        """The tree's perfect subtrees, read through `uow`."""
        return StoredNodes(self, uow)

    def append(self, uow: UnitOfWork, size: int, leaf_hashes: Sequence[bytes]) -> None:
        """Add leaf hashes to a tree of `size` leaves: each into its level-0 tile and, as a tile
        fills, its root into the level above. Every changed tile is written once."""
        changed: dict[tuple[int, int], bytearray] = {}
        with self._lock:
            edge_size, edge = self._edge
        if edge_size == size:
            known = edge
        else:  # another process appended since this one's last append: the edge, in one read
            places = _edge_places(size, len(leaf_hashes))
            known = self.read(uow, places) if places else {}

        def add(level: int, index: int, value: bytes) -> None:
            place = (level, index // TILE_WIDTH)
            if place not in changed:
                stored = known.get(place)
                if stored is None:  # a tile's first node starts it; else it is stored
                    stored = self.tile(uow, *place) if index % TILE_WIDTH else b""
                changed[place] = bytearray(stored)
            tile = changed[place]
            if len(tile) != (index % TILE_WIDTH) * HASH_SIZE:
                raise TreeStateError(
                    f"tile {place} holds {len(tile) // HASH_SIZE} hashes where node {index}"
                    f" of level {level * TILE_HEIGHT} goes: the stored tree is not this ledger's"
                )
            tile += value
            if len(tile) == FULL_TILE:  # complete: its root is a node of the level above
                add(level + 1, index // TILE_WIDTH, subtree_root(split(bytes(tile))))

        for n, value in enumerate(leaf_hashes):
            add(0, size + n, value)
        uow.execute_many(
            f"INSERT INTO {self.table} (level, tile, hashes) VALUES (?, ?, ?)"
            " ON CONFLICT (level, tile) DO UPDATE SET hashes = excluded.hashes",
            [(level, index, bytes(tile)) for (level, index), tile in changed.items()],
        )
        uow.after_commit(lambda: self._stored(size + len(leaf_hashes), known, changed))

    def _stored(self, size: int, known: dict[tuple[int, int], bytes],
                changed: dict[tuple[int, int], bytearray]) -> None:  # fmt: skip
        """Keep what an append committed: its full tiles, and the partial ones as the edge of
        the tree of `size` (unless another append of this process committed a larger one)."""
        edge = dict(known)
        for (level, index), tile in changed.items():
            if len(tile) == FULL_TILE:
                edge.pop((level, index), None)
                self._keep_full(level, index, bytes(tile))
            else:
                edge[(level, index)] = bytes(tile)
        with self._lock:
            if size > self._edge[0]:
                self._edge = (size, edge)


class StoredNodes:
    """Perfect-subtree hashes from stored tiles (`merkle.Nodes`), for one read: each tile and
    each node it computes is kept while it lasts (a tile's hashes only ever grow at its end,
    so what was read stays true)."""

    def __init__(self, tiles: Tiles, uow: UnitOfWork) -> None:
        self.tiles, self.uow = tiles, uow
        self._tiles: dict[tuple[int, int], bytes] = {}
        self._nodes: dict[tuple[int, int], bytes] = {}

    def prefetch(self, plan: Callable[[Nodes], object]) -> None:
        """Read in one query every tile that `plan` (a proof, or several) will need: a proof
        needs a tile or two at each stored level, read one by one they would be as many
        round trips to the database."""
        needed = _Needed()
        plan(needed)
        places = sorted({_place(level, index) for level, index in needed.asked} - set(self._tiles))
        if places:
            self._tiles.update(self.tiles.read(self.uow, places))

    def perfect(self, level: int, index: int) -> bytes:
        """The root of the 2**level leaves from index * 2**level: from the tile of the nearest
        stored level below, hashing up at most 15 nodes."""
        if (found := self._nodes.get((level, index))) is not None:
            return found
        height = level % TILE_HEIGHT
        first = index << height  # the first node of the stored level it spans
        count = 1 << height
        place = _place(level, index)
        tile = self._tiles.get(place)
        if tile is None or len(tile) < ((first % TILE_WIDTH) + count) * HASH_SIZE:
            tile = self._tiles[place] = self.tiles.tile(self.uow, *place)
        start = (first % TILE_WIDTH) * HASH_SIZE
        hashes = tile[start : start + count * HASH_SIZE]
        if len(hashes) != count * HASH_SIZE:
            raise TreeStateError(f"the tree has no complete node {index} at height {level}")
        node = self._nodes[(level, index)] = subtree_root(split(hashes))
        return node


class StoredLeaves:
    """The leaf hashes a tree stored, for a pass that compares every leaf with its row: read
    in order, many tiles per query, kept as one run of hashes."""

    def __init__(self, tiles: Tiles, database: Database, ahead: int = 128) -> None:
        self.tiles, self.database, self.ahead = tiles, database, ahead
        self._first = 0  # the index of the first leaf in `_hashes`
        self._hashes = b""

    def at(self, index: int) -> bytes:
        """The stored hash of leaf `index` (empty if the tree has none)."""
        start = (index - self._first) * HASH_SIZE
        if not 0 <= start <= len(self._hashes) - HASH_SIZE:  # not read yet, or grown since
            self._read_from(index // TILE_WIDTH)
            start = (index - self._first) * HASH_SIZE
        return self._hashes[start : start + HASH_SIZE]

    def _read_from(self, first: int) -> None:
        with self.database.reading() as uow:
            found = self.tiles.level_tiles(uow, 0, first, self.ahead)
        run = []
        for index in range(first, first + self.ahead):  # up to a missing or partial tile
            if (hashes := found.get(index)) is None:
                break
            run.append(hashes)
            if len(hashes) < FULL_TILE:
                break
        self._first, self._hashes = first * TILE_WIDTH, b"".join(run)


def _edge_places(size: int, count: int) -> list[tuple[int, int]]:
    """The stored partial tiles that appending `count` leaves to a tree of `size` adds to: at
    each level, the first tile it adds a node to, unless that tile starts with the node."""
    places, first, last, level = [], size, size + count - 1, 0
    while first <= last:
        if first % TILE_WIDTH:
            places.append((level, first // TILE_WIDTH))
        # The nodes of the level above: the tiles that this append fills.
        first, last, level = first // TILE_WIDTH, (last + 1) // TILE_WIDTH - 1, level + 1
    return places


def _place(level: int, index: int) -> tuple[int, int]:
    """The tile that holds what the node at (level, index) is computed from."""
    tile_level, height = divmod(level, TILE_HEIGHT)
    return tile_level, (index << height) // TILE_WIDTH


class _Needed:
    """Nodes that answer with a placeholder and remember what was asked: what a proof needs."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, int]] = []

    def perfect(self, level: int, index: int) -> bytes:
        self.asked.append((level, index))
        return bytes(HASH_SIZE)
