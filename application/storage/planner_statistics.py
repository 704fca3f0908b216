"""PostgreSQL's planner statistics of the ledger's tables, refreshed as they grow.

The ledger's reads are index lookups only while the planner knows how many rows
a table holds and how they spread. Without statistics (tables never analyzed,
autovacuum off) it guesses, and at a million events it guessed that a subject's
timeline should scan every position: 270 ms instead of 0.4 ms. So the ledger
analyzes its tables as autovacuum would: at start-up those with more rows changed
since their last ANALYZE than 50 plus 10% of their size, and, in the background,
all of them each time its own appends have grown the ledger by as much. Where
autovacuum runs this repeats a little of its work; where it does not, it is
what keeps reads fast.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from psycopg.sql import SQL, Identifier

log = logging.getLogger(__name__)

# Autovacuum's defaults: autovacuum_analyze_threshold and autovacuum_analyze_scale_factor.
THRESHOLD_ROWS = 50
SCALE_FACTOR = 0.1

_TABLES = "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema()"
_STALE = f"""{_TABLES} AND n_mod_since_analyze > %s + %s * greatest(
    (SELECT reltuples FROM pg_class WHERE oid = relid), 0)"""


class PlannerStatistics:
    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore
        self._grown = 0  # events this process appended since its last ANALYZE
        self._due = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh_stale(self) -> list[str]:
        """Analyze the tables whose statistics autovacuum would call stale; their names."""
        tables = self._tables(_STALE, (THRESHOLD_ROWS, SCALE_FACTOR))
        self.analyze(tables)
        return tables

    def analyze(self, tables: Iterable[str]) -> None:
        """Analyze these tables now: e.g. a rebuild's new ones, just put in place."""
        with self.datastore.get_connection() as conn:  # autocommit: each ANALYZE on its own
            for table in sorted(tables):
                if self._stop.is_set():
                    return
                conn.execute(SQL("ANALYZE {0}").format(Identifier(table)))

    def appended(self, events: int, ledger_size: int) -> None:
        """Count appended events; once they are 50 plus 10% of the ledger, analyze every
        table in a background thread, so that no delivery waits for it."""
        self._grown += events
        if self._grown <= THRESHOLD_ROWS + SCALE_FACTOR * ledger_size:
            return
        self._grown = 0
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="statistics", daemon=True)
            self._thread.start()
        self._due.set()

    def close(self) -> None:
        self._stop.set()
        self._due.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while self._due.wait() and not self._stop.is_set():
            self._due.clear()
            try:
                self.analyze(self._tables(_TABLES, ()))
            except Exception:  # statistics are an optimisation, never a reason to stop
                log.exception("refreshing planner statistics failed; trying again later")

    def _tables(self, query: str, params: tuple[Any, ...]) -> list[str]:
        with self.datastore.get_connection() as conn:
            return [row["relname"] for row in conn.execute(query, params).fetchall()]
