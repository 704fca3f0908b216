"""Keeps the projections' builds up to date: catch up from their tracking positions, then follow.

Built on the library's projection support: tracking recorders keep each build's
position in the transaction that writes its rows (a position written twice is
the library's `IntegrityError`), and on PostgreSQL its subscription wakes the
runner (`NewEntries`). The library's own `ProjectionRunner` is not used: it runs
one transaction per event and per projection, cannot subscribe to SQLite, and
stops at the first error. Here the builds advance in batches, one transaction
per batch; builds at the same position advance together, so answers that combine
them reflect one prefix. A build that reaches the head while building is
promoted: reads switch to it and the build it replaces is retired.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from eventsourcing.persistence import IntegrityError

from application.ledger import Ledger
from application.storage.dialect import POSTGRES
from application.storage.planner_statistics import PlannerStatistics
from application.storage.schema import LINK_TABLES
from domain.entries import AsOf
from projections.models import AttentionModel
from projections.new_entries import NewEntries
from projections.read_model import Batch, Build, ReadModel, Row
from projections.store import ReadModelStore
from projections.subject_links import LinkIndex

log = logging.getLogger(__name__)

READ_THREADS = 4

Progress = Callable[[int, int], None]  # (position reached, head)
Computed = dict[tuple[ReadModel, str], Row | None]  # the rows of a batch, by (model, key)


class ProjectionRunner:
    """Advances every build of the links index and of the given read models to the head."""

    def __init__(
        self,
        ledger: Ledger,
        store: ReadModelStore,
        models: Sequence[ReadModel],
        batch_size: int = 10000,
        links: LinkIndex | None = None,
        gather_seconds: float = 0.5,
    ) -> None:
        self.ledger = ledger
        self.store = store
        self.models = list(models)
        self.batch_size = batch_size
        self.links = links
        # While following, how long new entries gather after a batch before the next one: a
        # row is computed once a batch however many of its entries the batch holds, so under
        # load a short wait saves most of the work, for read models that trail by ~a second.
        self.gather_seconds = gather_seconds
        # Threads computing a batch's rows: reads on PostgreSQL wait on the server, so several
        # overlap; SQLite reads are this process's own work, which threads cannot share out.
        self.read_threads = READ_THREADS if ledger.database.sql is POSTGRES else 1

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
        applied = 0
        if self.links and (only is None or only.name == self.links.name):
            applied += self._advance_links(progress)
        targets = self.targets()
        if only is not None:
            targets = {b: m for b, m in targets.items() if b == only}
        while targets:
            positions = {build: self.store.position(build) for build in targets}
            start = min(positions.values())
            with self.ledger.reading() as history:
                entries = history.feed.summaries(start, self.batch_size)
                if not entries:
                    break
                batch = Batch(entries, history.feed.link_changes(start, entries[-1].position))
            as_of = AsOf(batch.last_position, None)
            behind = [build for build in targets if positions[build] == start]
            # A full batch is a catch-up (a rebuild): worth one read transaction even on SQLite,
            # and several reading threads on PostgreSQL. While following, appends come first:
            # their write-ahead log's checkpoints (SQLite), the database server's CPU.
            catching_up = len(entries) == self.batch_size
            updates = self._updates({b: targets[b] for b in behind}, batch, as_of, catching_up)
            try:
                self.store.write(batch.last_position, updates)
            except IntegrityError:
                continue  # another runner got there first; its rows are as new or newer
            applied += len(entries)
            if progress:
                progress(batch.last_position, self.ledger.as_of().position)
        promoted = [build for build in targets if build.state == "building"]
        for build in promoted:
            self.store.promote(build)
        self._analyze([build.table for build in promoted])
        return applied

    def _advance_links(self, progress: Progress | None) -> int:
        """Build the links index's new build, if any, and cut over to it."""
        assert self.links is not None
        build = self.links.building()
        if build is None:
            return 0
        applied = self.links.catch_up(build, progress)
        live = self.store.serving(self.links.name)
        if self.links.promote(build):
            self._analyze(list(LINK_TABLES))
            if live and live.version != build.version:
                self.restart_read_models()
        return applied

    def _analyze(self, tables: list[str]) -> None:
        """After a cut-over the live tables are the build's, which PostgreSQL has never
        analyzed: without statistics, reads through them plan as scans (`PlannerStatistics`)."""
        if tables and self.ledger.database.sql is POSTGRES:
            PlannerStatistics(self.ledger.database.datastore).analyze(tables)

    def restart_read_models(self) -> None:
        """Build every read model afresh: its rows were computed through links now replaced."""
        for model in self.models:
            for build in self.store.builds(model.name):
                if build.state == "building":
                    self.store.retire(build)
            self.store.start_build(model)

    def position(self, build: Build) -> int:
        if self.links and build.name == self.links.name:
            return self.links.position(build)
        return self.store.position(build)

    def _updates(
        self, builds: dict[Build, ReadModel], batch: Batch, as_of: AsOf, catching_up: bool
    ) -> dict[Build, list[Row]]:
        """The rows of each build for the keys the batch touched, as of its last entry.

        Each row is computed once a batch, however many builds need it; the attention
        models compose theirs from the others'. Rows are reads of immutable entries up to
        one position, so they can be computed in any order: on PostgreSQL, when catching up,
        by several threads at once, each with a connection, so that their round trips overlap.
        """
        wanted = {(model, key) for model in builds.values() if not isinstance(model, AttentionModel)
                  for key in model.touched_keys(batch)}  # fmt: skip
        wanted_in_order = sorted(wanted, key=lambda mk: (mk[0].name, mk[1]))
        known: Computed = self._compute(wanted_in_order, as_of, catching_up)
        updates = {}
        with self.ledger.reading(pin_on_sqlite=catching_up) as history:
            for build, model in builds.items():
                rows = []
                for key in sorted(model.touched_keys(batch)):
                    if isinstance(model, AttentionModel):
                        row = model.compose(history, key, as_of, known)
                    else:
                        row = known[(model, key)]
                    if row is not None:
                        rows.append(row)
                updates[build] = rows
        return updates

    def _compute(
        self, wanted: list[tuple[ReadModel, str]], as_of: AsOf, catching_up: bool
    ) -> Computed:
        def compute(chunk: list[tuple[ReadModel, str]]) -> Computed:
            with self.ledger.reading(pin_on_sqlite=catching_up) as history:
                return {(m, key): m.compute(history, key, as_of) for m, key in chunk}

        threads = self.read_threads if catching_up and len(wanted) > 1 else 1
        if threads == 1:
            return compute(wanted)
        chunks = [wanted[i::threads] for i in range(threads)]
        with ThreadPoolExecutor(threads, thread_name_prefix="projection-read") as pool:
            return {k: row for rows in pool.map(compute, chunks) for k, row in rows.items()}

    def states(self) -> list[dict[str, object]]:
        """Every build: name, version, generation, position, lag to the head, and state."""
        states = []
        with self.ledger.reading() as history:
            for build in self.store.builds():
                position = self.position(build)
                states.append({
                    "name": build.name, "version": build.version, "generation": build.generation,
                    "position": position, "lag": history.feed.count_after(position),
                    "state": build.state,
                })  # fmt: skip
        return states

    def run(self, stop: threading.Event) -> None:
        """Follow the ledger until `stop` is set; errors are logged and retried, never fatal."""
        with NewEntries(self.ledger) as new_entries:
            while not stop.is_set():
                try:
                    if self.catch_up():
                        stop.wait(self.gather_seconds)
                except Exception:  # keep following: a transient database error must not stop reads
                    log.exception("projection update failed; retrying")
                    stop.wait(1.0)
                new_entries.wait(stop)
