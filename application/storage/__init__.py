"""The event store and the ledger index, on SQLite or PostgreSQL: units of work, tables,
recorders, and the queries of each role."""
