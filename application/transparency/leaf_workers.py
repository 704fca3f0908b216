"""Leaf hashes for `ledger verify`, computed by worker processes beside the check.

Recomputing every leaf from its stored rows is most of a verification's work,
and each leaf depends on its own rows alone. So for a large log, worker
processes read spans of positions themselves (read-only connections of their
own) and send back, for each entry, only what the check needs: its position, its
leaf index, whether its event is there, and its leaf hash (None when a value is
of another type than the ledger stores). The check itself (`TreeCheck`) still
takes the entries one by one, in position order, in one process. A few spans
are in flight at a time, so memory stays flat however large the log.

Each worker is `python -m application.transparency.leaf_workers`, a fresh
interpreter (nothing of this process's connections, threads or main module),
told what to read over its standard input and answering on its standard output.
"""

from __future__ import annotations

import pickle
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO

from application.transparency.leaves import leaf_bytes
from application.transparency.merkle import leaf_hash

WORKERS = 2
SPAN = 2000  # positions a worker reads and hashes at a time
AHEAD = 2  # spans in flight per worker
MIN_ENTRIES = 50_000  # below this, starting the workers costs more than they save

Hashed = tuple[int, Any, bool, bytes | None]  # position, leaf index, event there, leaf hash


def hash_rows(rows: list[tuple[Any, ...]]) -> list[Hashed]:
    """Each of `TransparencyLog.page`'s rows as the check takes it."""
    hashed: list[Hashed] = []
    for row in rows:
        if row[4] is None:  # the entry's event is gone
            hashed.append((row[5], row[0], False, None))
            continue
        try:
            leaf: bytes | None = leaf_hash(leaf_bytes(row[5:], *row[1:5]))
        except (TypeError, ValueError, UnicodeDecodeError):
            leaf = None
        hashed.append((row[5], row[0], True, leaf))
    return hashed


class WorkerFailed(RuntimeError):
    """A worker process stopped before answering."""


def hashed_entries(connect: tuple[str, str], query: str, head: int) -> Iterator[Hashed]:
    """Every entry up to `head`, in position order, with its leaf hash. `connect` is
    ("sqlite", path) or ("postgres", conninfo); `query` selects `TransparencyLog.page`'s
    columns for positions after its first parameter (twice) up to its third."""
    workers = [subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE) for _ in range(WORKERS)]  # fmt: skip
    try:
        for worker in workers:
            _send(worker, (connect, query))
        spans = list(range(0, head, SPAN))
        sent = 0

        def send_next() -> None:
            nonlocal sent
            if sent < len(spans):
                after = spans[sent]
                _send(workers[sent % WORKERS], (after, min(after + SPAN, head)))
                sent += 1

        for _ in range(WORKERS * AHEAD):
            send_next()
        for n in range(len(spans)):
            worker = workers[n % WORKERS]
            try:
                done: list[Hashed] = pickle.load(worker.stdout)  # type: ignore[arg-type]
            except EOFError:
                raise WorkerFailed(f"a leaf worker stopped (exit {worker.wait()})") from None
            send_next()
            yield from done
        for worker in workers:
            _send(worker, None)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait()
            for pipe in (worker.stdin, worker.stdout):
                if pipe:
                    pipe.close()


def _send(worker: subprocess.Popen[bytes], message: Any) -> None:
    stdin: BinaryIO = worker.stdin  # type: ignore[assignment]
    pickle.dump(message, stdin)
    stdin.flush()


def _work(tasks: BinaryIO, answers: BinaryIO) -> None:
    """A worker: read spans until told to stop, answering each with its entries' hashes."""
    (kind, target), query = pickle.load(tasks)
    if kind == "sqlite":
        connection: Any = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    else:
        import psycopg  # here: a worker for SQLite is spared its memory

        connection = psycopg.connect(target, autocommit=True)
    while (span := pickle.load(tasks)) is not None:
        after, upto = span
        rows = connection.execute(query, (after, after, upto)).fetchall()
        pickle.dump(hash_rows(rows), answers)
        answers.flush()


if __name__ == "__main__":
    _work(sys.stdin.buffer, sys.stdout.buffer)
