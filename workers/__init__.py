"""Background processes beside the API: the projections worker."""
