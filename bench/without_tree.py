"""`python -m bench.without_tree serve ...`: `ledger serve` with the transparency log's tree
switched off, only to measure what the tree costs an append (the same build, one run)."""

from __future__ import annotations

import sys

from application.recording import ledger_index
from application.transparency.log import TransparencyLog
from cli.main import main


def no_leaf(*args: object) -> bytes:
    return b""


if __name__ == "__main__":
    ledger_index.leaf_bytes = no_leaf  # type: ignore[assignment,attr-defined]  # no leaf
    TransparencyLog.append = lambda self, uow, size, hashes: None  # type: ignore[method-assign,assignment]
    sys.exit(main(sys.argv[1:]))
