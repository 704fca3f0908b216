"""The composition root: settings, credentials, and `Services`, wired once for every entry point."""
