"""Rows carried from batch to batch: each row's fold kept as the last batch left it.

A read model's row is the fold of its history up to a position. Computed from
the ledger, that is several queries and every entry of the history decoded
again at each batch that touches the row. Kept instead, a fold is extended with
the batch's own entries, decoded once for every model (`ReadModel.carry`), and
only a row whose history changed behind it is read from the ledger again.

A fold kept is the row's fold as of the end of the last batch the runner
applied for its model: a batch that does not touch a row leaves its fold as it
was. So folds carry over only from that position; a batch after any other
(another runner went ahead) finds none. Every row starts from nothing at the
ledger's start, and while the runner has applied every batch since, so does a
row no batch touched. Memory stays bounded: the folds of the rows used last, a
few thousand per model, and a hash of each row whose fold was let go.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from projections.read_model import ReadModel

FOLDS_PER_MODEL = 4096


class Missing:
    """No fold kept for a row: it is read from the ledger."""


MISSING = Missing()


@dataclass
class _Kept:
    """One model's folds, all true as of `position`; `since_start` when every batch from the
    ledger's start was applied here, so that a row never folded had nothing to fold, unless
    its fold was dropped (`dropped` holds their keys' hashes: a collision only costs a read)."""

    position: int
    since_start: bool
    folds: OrderedDict[str, Any] = field(default_factory=OrderedDict)
    dropped: set[int] = field(default_factory=set)


class CarriedFolds:
    def __init__(self, limit: int = FOLDS_PER_MODEL) -> None:
        self.limit = limit
        self._kept: dict[ReadModel, _Kept] = {}

    def before(self, model: ReadModel, key: str, after: int) -> Any:
        """The row's fold at `after`: nothing at the ledger's start, else the one kept, else
        nothing if no batch since the start touched the row; else `MISSING`."""
        if after == 0:
            return None
        kept = self._kept.get(model)
        if kept is None or kept.position != after:
            return MISSING
        if (fold := kept.folds.get(key, MISSING)) is not MISSING:
            return fold
        return None if kept.since_start and hash(key) not in kept.dropped else MISSING

    def advance(self, model: ReadModel, after: int, upto: int, folds: dict[str, Any],
                lost: set[str]) -> None:  # fmt: skip
        """The batch from `after` to `upto` applied: keep its `folds` and drop the rows it
        could not fold (`lost`); every other fold kept is still true at `upto`."""
        kept = self._kept.get(model)
        if kept is None or kept.position != after:
            kept = self._kept[model] = _Kept(after, since_start=after == 0)
        for key in lost:
            kept.folds.pop(key, None)
            kept.dropped.add(hash(key))
        for key, fold in folds.items():
            kept.folds[key] = fold
            kept.folds.move_to_end(key)
        while len(kept.folds) > self.limit:
            key, _ = kept.folds.popitem(last=False)
            kept.dropped.add(hash(key))
        kept.position = upto
