"""Keeps the read models up to date: catch up from their tracking positions, then follow.

SQLite has no push notifications, so the runner polls the ledger's head; each
read model advances in batches, each batch one transaction with its tracking.
"""

from __future__ import annotations

import logging
import threading

from eventsourcing.persistence import IntegrityError

from ledger.history import AsOf, History
from projections.read_model import Batch, ReadModel, ReadModelStore, Row

log = logging.getLogger(__name__)


class ProjectionRunner:
    """Advances every read model to the ledger's head, together, batch by batch."""

    def __init__(self, history: History, store: ReadModelStore, batch_size: int = 500) -> None:
        self.history = history
        self.store = store
        self.models = store.models
        self.batch_size = batch_size

    def catch_up(self) -> int:
        """Process everything recorded so far; returns how many entries were applied."""
        applied = 0
        while True:
            positions = {model: self.store.position(model) for model in self.models}
            start = min(positions.values())
            entries = self.history.summaries(start, self.batch_size)
            if not entries:
                return applied
            batch = Batch(entries, self.history.link_changes(start, entries[-1].position))
            as_of = AsOf(batch.last_position, None)
            behind = [model for model in self.models if positions[model] == start]
            updates = {model: self._rows(model, batch, as_of) for model in behind}
            try:
                self.store.write(batch.last_position, updates)
            except IntegrityError:
                continue  # another runner got there first; its rows are as new or newer
            applied += len(entries)

    def _rows(self, model: ReadModel, batch: Batch, as_of: AsOf) -> list[Row]:
        keys = sorted(model.touched_keys(batch))
        return [row for key in keys if (row := model.compute(self.history, key, as_of))]

    def states(self) -> list[dict[str, object]]:
        """Name, version, position and lag (entries not yet applied) of every read model."""
        states = []
        for model in self.models:
            position = self.store.position(model)
            lag = self.history.count_after(position)
            states.append(
                {
                    "name": model.name,
                    "version": model.version,
                    "position": position,
                    "lag": lag,
                    "state": "live" if lag == 0 else "catching_up",
                }
            )
        return states

    def run(self, stop: threading.Event, interval: float = 0.05) -> None:
        """Follow the ledger until `stop` is set; errors are logged and retried, never fatal."""
        while not stop.is_set():
            try:
                self.catch_up()
            except Exception:  # keep following: a transient database error must not stop reads
                log.exception("projection update failed; retrying")
                stop.wait(1.0)
            stop.wait(interval)
