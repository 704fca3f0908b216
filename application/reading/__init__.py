"""Reading the ledger as of any point: histories, reconstructed answers, the served documents."""
