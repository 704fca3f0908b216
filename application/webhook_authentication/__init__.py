"""Which deliveries are Verifa's: Standard Webhooks signatures under the configured secrets."""
