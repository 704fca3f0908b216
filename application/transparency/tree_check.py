"""Verifying the transparency log (DESIGN §7.1) from the stored rows, in one pass, flat memory.

Fed every entry in position order (by the chain's verification, which reads them
anyway), it recomputes each leaf and compares it with the leaf hash the tree
stored for it, so the first entry whose rows no longer give their leaf is named;
it folds the leaves into the roots of the tree as it grows (a compact range: one
hash per set bit of the size) and, at the size of each checkpoint the ledger
signed or the auditor saved, compares the root and checks the signature. At the
end, the root the stored tiles give must be the one the entries give.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from application.integrity.verification import Chain, Digest, Verification
from application.storage.dialect import POSTGRES
from application.transparency import leaf_workers
from application.transparency.access_log_tree import AccessLogTree
from application.transparency.checkpoints import Checkpoint, CheckpointError, VerifierKey
from application.transparency.issued_checkpoints import IssuedCheckpoints
from application.transparency.leaves import leaf_bytes
from application.transparency.log import TransparencyLog
from application.transparency.merkle import CompactRange, leaf_hash
from application.transparency.tiles import StoredLeaves, TreeStateError

KEPT_PAGE = 1000  # kept checkpoints read at a time: memory stays flat however many were signed


@dataclass
class Failure:
    position: int
    problem: str


@dataclass
class TreeCheck:
    """One pass of `ledger verify` over the log: `entry` for each row, then `finish`."""

    log: TransparencyLog
    verifier: VerifierKey
    kept: IssuedCheckpoints  # every checkpoint the ledger signed, read a page at a time
    # Checkpoints to find on the way (the ledger's own and any an auditor saved), by size.
    expected: dict[int, list[tuple[str, Checkpoint]]] = field(default_factory=dict)
    tree: CompactRange = field(default_factory=CompactRange)
    checked_checkpoints: int = 0
    _stored: StoredLeaves = field(init=False)
    _last_good: int = 0  # the position of the last leaf a checkpoint covered
    _kept_after: int = 0  # the id of the last kept checkpoint read so far
    _kept_size: int = -1  # and its tree size
    _kept_done: bool = False
    # The access log's tree: its size and root as the latest checkpoints sign them.
    access_signed: dict[int, bytes] = field(default_factory=dict)
    _saved: set[int] = field(default_factory=set)

    def _read_kept(self) -> Failure | None:
        """The next page of kept checkpoints, once the tree reaches the last one read."""
        if self._kept_done or self.tree.size < self._kept_size:
            return None
        page = self.kept.list(self._kept_after, KEPT_PAGE)
        self._kept_done = len(page) < KEPT_PAGE
        for issued in page:
            what = f"the checkpoint signed at {issued.issued_at}"
            if failure := self.expect(what, issued.note):
                return failure
            signed = self.expected[issued.tree_size][-1][1]
            stored = (issued.root, (issued.access_size, issued.access_root))
            if (signed.root, signed.access_log) != stored:
                return Failure(0, f"{what}: its stored roots are not the ones it signed")
            self._kept_after, self._kept_size = issued.id, issued.tree_size
        return None

    def expect(self, what: str, note: str, saved: bool = False) -> Failure | None:
        """Check at its size the checkpoint in `note` (`what` names it in a failure)."""
        try:
            checkpoint = self.verifier.open(note)
            access = checkpoint.access_log
        except CheckpointError as error:
            return Failure(0, f"{what}: {error}")
        self.expected.setdefault(checkpoint.size, []).append((what, checkpoint))
        if access and (saved or access[0] >= max(self.access_signed, default=0)):
            # The latest signed (and any saved) is enough: each extends the one before.
            self.access_signed = {n: r for n, r in self.access_signed.items() if n in self._saved}
            self.access_signed[access[0]] = access[1]
            if saved:
                self._saved.add(access[0])
        return None

    def entry(self, row: tuple[Any, ...], leaf_index: int | None) -> Failure | None:
        """Check one entry (`row`: the stored event's four columns then the index row)."""
        position = row[4]
        try:
            hashed: bytes | None = leaf_hash(leaf_bytes(row[4:], *row[:4]))
        except (TypeError, ValueError, UnicodeDecodeError):
            hashed = None
        return self.hashed(position, leaf_index, hashed)

    def hashed(self, position: int, leaf_index: int | None, hashed: bytes | None
               ) -> Failure | None:  # fmt: skip
        """Check one entry by its leaf index and its leaf hash, computed here or by a worker
        (`leaf_workers`; None: a value of the wrong type)."""
        index = self.tree.size
        if index == 0 and (failure := self._at_size(0)):  # a checkpoint of the empty log
            return failure
        if leaf_index != index:
            return Failure(position, f"its leaf index is {leaf_index}, where leaf {index} was"
                           " due: entries were deleted, inserted or reordered")  # fmt: skip
        if hashed is None:
            return Failure(position, "the stored entry was changed (a value of the wrong type)")
        if hashed != self._stored.at(index):
            return Failure(position, "the stored entry no longer gives the leaf the tree holds")
        self.tree.append(hashed)
        if self.tree.size in self.expected or self.tree.size >= self._kept_size:
            return self._at_size(position)  # a checkpoint to check here, or more to read
        return None

    def __post_init__(self) -> None:
        self._stored = StoredLeaves(self.log.tiles, self.log.database)

    def _at_size(self, position: int) -> Failure | None:
        if failure := self._read_kept():
            return failure
        for what, checkpoint in self.expected.pop(self.tree.size, []):
            if checkpoint.root != self.tree.root():
                return Failure(self._last_good + 1, f"{what} of size {checkpoint.size}: the"
                               " entries since the one before no longer give its root")  # fmt: skip
            self.checked_checkpoints += 1
            self._last_good = position
        return None

    def finish(self, last_position: int) -> Failure | None:
        if failure := self._at_size(last_position):  # the empty tree's, or the kept left
            return failure
        if not self._kept_done and (failure := self._read_kept()):
            return failure
        if self.expected:
            size = min(self.expected)
            what = self.expected[size][0][0]
            return Failure(last_position, f"{what} has {size} leaves, more than the ledger:"
                           " entries were deleted")  # fmt: skip
        with self.log.database.reading() as uow:
            try:
                stored = self.log.root(uow, self.tree.size)
            except TreeStateError as error:
                return Failure(last_position, f"the stored tree is incomplete: {error}")
        if stored != self.tree.root():
            return Failure(last_position, "the stored tree's upper levels do not match its leaves")
        return None


@dataclass(frozen=True)
class LogVerification:
    """What `ledger verify` found: the chain's verdict, and the tree the entries give."""

    chain: Verification
    tree_size: int
    root: bytes
    checkpoints_checked: int

    @property
    def ok(self) -> bool:
        return self.chain.ok

    def as_dict(self) -> dict[str, Any]:
        tree = {"size": self.tree_size, "root": base64.b64encode(self.root).decode(),
                "checkpoints_checked": self.checkpoints_checked}  # fmt: skip
        return {**self.chain.as_dict(), "tree": tree}


def verify_tree(check: TreeCheck, page: int = 2000) -> tuple[Failure | None, int]:
    """Every entry through `check`, in position order; the first failure, and the last
    position checked."""
    log, last = check.log, 0
    for position, leaf_index, present, hashed in _hashed_entries(log, page):
        if not present:
            return Failure(position, "the entry's event was deleted"), last
        if leaf_index != check.tree.size and (gone := log.event_without_entry(last, position)):
            return Failure(gone, "the event has no index row: it was deleted"), last
        if failure := check.hashed(position, leaf_index, hashed):
            return failure, last
        last = position
    return check.finish(last), last


def _hashed_entries(log: TransparencyLog, page: int) -> Iterator[leaf_workers.Hashed]:
    """Every entry with its leaf hash: from worker processes for a large log, else a page at
    a time here (on PostgreSQL the next page read in another thread while this one is
    hashed)."""
    target = log.database.connection_target()
    head = log.head()
    if target is not None and head >= leaf_workers.MIN_ENTRIES:
        yield from leaf_workers.hashed_entries(target, log.span_query(), head)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="log-read") as reader:
        ahead = log.database.sql is POSTGRES
        pending = reader.submit(log.page, 0, page) if ahead else None
        last = 0
        while True:
            rows = pending.result() if pending else log.page(last, page)
            if ahead and len(rows) == page:
                pending = reader.submit(log.page, rows[-1][5], page)
            yield from leaf_workers.hash_rows(rows)
            if len(rows) < page:
                return
            last = rows[-1][5]


def verify_ledger(
    chain: Chain, check: TreeCheck, access: AccessLogTree, since: Digest | None = None,
    saved: str | None = None,
) -> LogVerification:  # fmt: skip
    """Recompute the chain and the tree in one pass, then the access log's tree; with `since`
    (an exported chain digest) or `saved` (a checkpoint an auditor kept), also that the
    ledger still extends it."""
    failure = check.expect("the saved checkpoint", saved, saved=True) if saved else None
    if failure:
        verdict = Verification(False, 0, chain.head(), failure.position or None, failure.problem)
    elif since is not None:  # a digest exported before the log: the chain proves it
        verdict = chain.verify(since, also=check)
    else:  # the tree binds every column the chain does: the chain need not be recomputed
        failure, _ = verify_tree(check)
        head = chain.head()
        verdict = (Verification(True, check.tree.size, head) if failure is None
                   else Verification(False, check.tree.size, head, failure.position or None,
                                     failure.problem))  # fmt: skip
    if verdict.ok and (found := access.check(check.access_signed)):
        verdict = replace(verdict, ok=False, problem=found[1])
    return LogVerification(verdict, check.tree.size, check.tree.root(), check.checked_checkpoints)
