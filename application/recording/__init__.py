"""Recording a delivery: from an authentic body to an immutable, deduplicated ledger event."""
