"""The `ledger` command (DESIGN §8): serve the API, backfill, read, and run operations."""
