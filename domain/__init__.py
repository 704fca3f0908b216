"""The compliance ledger's pure domain model: Verifa payloads, routing and the rules of state.

Nothing in this package does I/O: it is what the ledger knows about Verifa's world.
"""
