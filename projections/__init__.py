"""Read models fed from the ledger in position order, each with its tracking position."""
