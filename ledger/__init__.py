"""The application layer: wires the event store, the domain and the projections; holds the CLI."""
