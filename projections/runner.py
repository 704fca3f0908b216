"""Keeps the read models' builds up to date: catch up from their tracking positions, then follow.

SQLite has no push notifications, so the runner polls the ledger's head. The
builds of the code's read models advance in batches, each batch one transaction
with its tracking positions; builds at the same position advance together, so
answers that combine them reflect one prefix. A build that reaches the head while
building is promoted: reads switch to it and the build it replaces is retired.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from eventsourcing.persistence import IntegrityError

from ledger.history import AsOf, History
from projections.read_model import Batch, Build, ReadModel, Row
from projections.store import ReadModelStore

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (position reached, head)


class ProjectionRunner:
    """Advances every build of the given read models to the ledger's head."""

    def __init__(
        self,
        history: History,
        store: ReadModelStore,
        models: Sequence[ReadModel],
        batch_size: int = 500,
    ) -> None:
        self.history = history
        self.store = store
        self.models = list(models)
        self.batch_size = batch_size

    def targets(self) -> dict[Build, ReadModel]:
        """Builds this code can advance: those of its models' versions that are not retired."""
        return {
            build: model
            for model in self.models
            for build in self.store.builds(model.name)
            if build.builds(model) and build.state != "retired"
        }

    def catch_up(self, only: Build | None = None, progress: Progress | None = None) -> int:
        """Process everything recorded so far; returns how many entries were applied."""
        targets = self.targets()
        if only is not None:
            targets = {b: m for b, m in targets.items() if b == only}
        applied = 0
        while targets:
            positions = {build: self.store.position(build) for build in targets}
            start = min(positions.values())
            entries = self.history.summaries(start, self.batch_size)
            if not entries:
                break
            batch = Batch(entries, self.history.link_changes(start, entries[-1].position))
            as_of = AsOf(batch.last_position, None)
            behind = [build for build in targets if positions[build] == start]
            updates = {build: self._rows(targets[build], batch, as_of) for build in behind}
            try:
                self.store.write(batch.last_position, updates)
            except IntegrityError:
                continue  # another runner got there first; its rows are as new or newer
            applied += len(entries)
            if progress:
                progress(batch.last_position, self.history.head().position)
        for build in targets:
            if build.state == "building":
                self.store.promote(build)
        return applied

    def _rows(self, model: ReadModel, batch: Batch, as_of: AsOf) -> list[Row]:
        keys = sorted(model.touched_keys(batch))
        return [row for key in keys if (row := model.compute(self.history, key, as_of))]

    def states(self) -> list[dict[str, object]]:
        """Every build: name, version, generation, position, lag to the head, and state."""
        states = []
        for build in self.store.builds():
            position = self.store.position(build)
            states.append({
                "name": build.name, "version": build.version, "generation": build.generation,
                "position": position, "lag": self.history.count_after(position),
                "state": build.state,
            })  # fmt: skip
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
