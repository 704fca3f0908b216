"""PostgreSQL keeps the plans of the ledger's reads cheap only while it has statistics of its
tables: the ledger analyzes them as they grow, even where autovacuum does not run."""

from __future__ import annotations

import json

import psycopg

from application.ledger import Ledger
from application.recording.delivery import read_delivery
from bootstrap.services import open_read_models
from projections.models import READ_MODELS
from projections.runner import ProjectionRunner
from projections.subject_links import SUBJECT_LINKS, LinkIndex
from tests.databases import empty_postgres_database
from tests.helpers import MASTER_KEY, seed_examples, wait_until


def analyzed_rows(url: str, table: str) -> float:
    """The table's size as its last ANALYZE counted it (-1: never analyzed)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT reltuples FROM pg_class WHERE relname=%s", (table,)).fetchone()
        assert row is not None
        return float(row[0])


def has_column_statistics(url: str, table: str) -> bool:
    """What the planner estimates rows from: only ANALYZE writes it."""
    with psycopg.connect(url) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_stats WHERE tablename=%s", (table,)).fetchone())


def changed_rows(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname=%s",
                           (table,)).fetchone()  # fmt: skip
        return int(row[0]) if row else 0


def approvals(count: int) -> list[bytes]:
    template = next(p for p in seed_examples() if p["event"] == "session.approved")
    return [json.dumps({**template, "session_id": f"s-{n}", "external_ref": f"u-{n}",
                        "idempotency_key": f"approved-{n}"}).encode()
            for n in range(count)]  # fmt: skip


def test_appends_keep_the_statistics_of_the_ledger_tables_current() -> None:
    url = empty_postgres_database()
    ledger = Ledger.open(url, master_key=MASTER_KEY)
    try:
        assert analyzed_rows(url, "ledger_entries") < 0
        ledger.record_all([read_delivery(body, None) for body in approvals(300)])

        def analyzed() -> bool:
            return analyzed_rows(url, "ledger_entries") > 0 and all(
                has_column_statistics(url, table) for table in ("ledger_entries", "stream_links")
            )

        # Analyzed in the background: no delivery waited for it.
        wait_until(analyzed, what="the ledger's tables analyzed")
    finally:
        ledger.close()


def test_a_ledger_opened_on_tables_never_analyzed_analyzes_them() -> None:
    url = empty_postgres_database()
    with psycopg.connect(url) as conn:  # rows written while nothing kept statistics
        conn.execute("CREATE TABLE ledger_entries_shadow (n INT)")
        conn.execute("INSERT INTO ledger_entries_shadow SELECT generate_series(1, 1000)")
    # The server counts changed rows a moment later.
    wait_until(lambda: changed_rows(url, "ledger_entries_shadow") >= 1000, what="rows counted")
    ledger = Ledger.open(url, master_key=MASTER_KEY)
    try:
        assert analyzed_rows(url, "ledger_entries_shadow") == 1000
    finally:
        ledger.close()


def test_tables_a_rebuild_puts_in_place_are_analyzed() -> None:
    url = empty_postgres_database()
    ledger = Ledger.open(url, master_key=MASTER_KEY)
    try:
        ledger.record_all([read_delivery(body, None) for body in approvals(100)])
        assert ledger.statistics is not None
        ledger.statistics.close()  # no analysis in the background from here on
        store = open_read_models(ledger, READ_MODELS)
        links = LinkIndex(ledger, store, SUBJECT_LINKS)
        links.prepare()
        links.start_build()
        ProjectionRunner(ledger, store, READ_MODELS, links=links).catch_up()
        assert has_column_statistics(url, "stream_links")  # the rebuilt links, now live
    finally:
        ledger.close()
