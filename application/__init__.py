"""The application layer: the product's use cases, and the adapters that store them.

- `ledger.Ledger`: the facade, one method per use case.
- `recording/`: an authentic delivery to a ledger event: reading it, planning
  a batch, appending it in one unit of work, the group commit, the quarantine.
- `reading/`: the ledger as of any point, and the documents the API serves.
- `privacy/`: data keys, sealing and disclosure, erasure, the access log.
- `integrity/`: the hash chain and its verification.
- `webhook_authentication/`: Standard Webhooks signatures.
- `storage/`: the event store and the ledger index on SQLite or PostgreSQL:
  units of work, tables, recorders, and the queries of each role.

Imports point one way: `ledger` → `recording`, `reading` → `privacy`,
`integrity`, `webhook_authentication` → `storage` → `domain`
(checked by `lint-imports`, run by `make test`).
"""
