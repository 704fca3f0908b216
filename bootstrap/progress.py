"""Progress of long one-off work a process does as it opens the ledger, shown on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


def building_the_log(total: int) -> Callable[[int], None]:
    """A progress bar (a line per tenth when stderr is not a terminal) for building the
    transparency log's tree of a ledger recorded before it: interrupted, it resumes."""
    started, done, shown = time.monotonic(), 0, -1
    terminal = sys.stderr.isatty()
    print(f"building the transparency log's tree of {total:,} entries recorded before it"
          " (interrupt and rerun to resume)", file=sys.stderr, flush=True)  # fmt: skip

    def progress(added: int) -> None:
        nonlocal done, shown
        done += added
        rate = done / max(time.monotonic() - started, 1e-6)
        tenth = 10 * done // max(total, 1)
        if terminal:
            bar = "#" * (3 * tenth) + "." * (30 - 3 * tenth)
            print(f"\r[{bar}] {done:,}/{total:,} {rate:,.0f} entries/s", end="",
                  file=sys.stderr, flush=True)  # fmt: skip
        elif tenth != shown:
            print(f"  {done:,}/{total:,} entries, {rate:,.0f}/s", file=sys.stderr, flush=True)
        shown = tenth
        if done >= total and terminal:
            print(file=sys.stderr)

    return progress
