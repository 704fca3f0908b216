"""The ledger index's tables, beside the event store's (DESIGN §7: one transaction writes both).

The event store holds what Verifa said. The index holds what the ledger needs to
find it again without scanning: the position and clock of each entry, its
idempotency key (unique: the database decides duplicates, even under concurrent
retries), its place in the hash chain, and the links between streams, sessions
and subjects, each with the position at which it became known, so that as-of
reads can ignore later links.
"""

from __future__ import annotations

# The index row's fields an entry's digest and its leaf bind, in order.
INDEX_FIELDS = (
    "position", "recorded_at", "idempotency_key", "event_type", "session_event", "stream_type",
    "stream_key", "stream_id", "stream_version", "session_id", "webhook_id",
)  # fmt: skip

ENTRY_TABLES = [
    """CREATE TABLE IF NOT EXISTS ledger_entries (
        position BIGINT PRIMARY KEY,
        recorded_at TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        event_type TEXT NOT NULL,
        session_event INTEGER NOT NULL,
        stream_type TEXT NOT NULL,
        stream_key TEXT NOT NULL,
        stream_id TEXT NOT NULL,
        stream_version BIGINT NOT NULL,
        session_id TEXT,
        webhook_id TEXT,
        previous_position BIGINT NOT NULL,
        digest TEXT NOT NULL,
        leaf_index BIGINT)""",
    "CREATE INDEX IF NOT EXISTS ledger_entries_by_stream ON ledger_entries (stream_id, position)",
    "CREATE INDEX IF NOT EXISTS ledger_entries_by_session ON ledger_entries (session_id, position)",
    "CREATE INDEX IF NOT EXISTS ledger_entries_by_time ON ledger_entries (recorded_at, position)",
]

# The columns of an index row, as PostgreSQL names their types (for inserts of many rows).
ENTRY_TYPES = ("bigint", "text", "text", "text", "integer", "text", "text", "text", "bigint",
               "text", "text", "bigint", "text", "bigint")  # fmt: skip

# The links index (the `subject_links` projection). The live build has these
# names; a build beside it has the same tables with its suffix, e.g. `_v2_g1`.
LINK_TABLES = {
    "stream_links": "stream_id TEXT PRIMARY KEY, subject TEXT NOT NULL, position BIGINT NOT NULL",
    "session_ties": "session_id TEXT PRIMARY KEY, subject TEXT NOT NULL, position BIGINT NOT NULL",
    "session_mentions": "session_id TEXT NOT NULL, stream_id TEXT NOT NULL,"
    " position BIGINT NOT NULL, PRIMARY KEY (session_id, stream_id)",
    "identity_refs": "identity_id TEXT NOT NULL, subject TEXT NOT NULL,"
    " position BIGINT NOT NULL, PRIMARY KEY (identity_id, subject)",
}
# The columns of each of its tables, as PostgreSQL names their types.
LINK_TYPES = {table: ("text", "text", "bigint") for table in LINK_TABLES}
# Secondary indexes of the live build only: reads by subject, sealing's read of the sessions a
# stream mentioned, and the projections' read of the links a batch of entries revealed (by
# position: else every batch scans the tables whole). Builds learn by primary key.
LINK_INDEXES = {
    "stream_links_by_subject": "stream_links (subject, position)",
    "identity_refs_by_subject": "identity_refs (subject, position)",
    "session_mentions_by_stream": "session_mentions (stream_id)",
    "stream_links_by_position": "stream_links (position)",
    "session_ties_by_position": "session_ties (position)",
    "identity_refs_by_position": "identity_refs (position)",
}


def link_tables(suffix: str = "") -> list[str]:
    """The links index's tables; with a suffix, those of a build beside the live one."""
    statements = [f"CREATE TABLE IF NOT EXISTS {table}{suffix} ({columns})"
                  for table, columns in LINK_TABLES.items()]  # fmt: skip
    if not suffix:
        statements += [f"CREATE INDEX IF NOT EXISTS {name} ON {on}"
                       for name, on in LINK_INDEXES.items()]  # fmt: skip
    return statements


INDEX_TABLES = [*ENTRY_TABLES, *link_tables()]


def stream_column(alias: str, column: str) -> str:
    """SQL for a column (`stream_type`, `stream_key`) of the stream in a row of `alias` (a link
    table's), from the stream's first entry: one index probe per row whatever the planner's
    statistics say, where a join on stream_id can turn into a scan of the whole ledger."""
    return (f"(SELECT e.{column} FROM ledger_entries e WHERE e.stream_id = {alias}.stream_id"
            " ORDER BY e.position LIMIT 1)")  # fmt: skip
