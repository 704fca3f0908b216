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

A row that cannot be applied (its fold raises, its document cannot be encoded,
the database refuses it) is set aside with a note (`unapplied.py`) and the build
goes on: one bad entry never stops a read model. Only the store's own failures
stop a batch, which is then tried again, later and later while they last.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from eventsourcing.persistence import IntegrityError, PersistenceError

from application.ledger import Ledger
from application.storage.availability import is_store_error, refused_for_its_data
from application.storage.dialect import POSTGRES
from application.storage.entry_feed import LinkChanges
from application.storage.planner_statistics import PlannerStatistics
from application.storage.schema import LINK_TABLES
from domain.entries import AsOf
from projections.carried import MISSING, CarriedFolds
from projections.models import AttentionModel
from projections.new_entries import NewEntries
from projections.read_model import NOT_CARRIED, Batch, Build, ReadModel, Row
from projections.store import BuildUpdate, ReadModelStore
from projections.subject_links import LinkIndex
from projections.unapplied import MAX_REPORTED, Unapplied

log = logging.getLogger(__name__)

READ_THREADS = 4
MAX_RETRY_SECONDS = 60.0  # while the store keeps failing, the longest wait between tries

Progress = Callable[[int, int], None]  # (position reached, head)
Computed = dict[tuple[ReadModel, str], Row | None]  # the rows of a batch, by (model, key)
Failed = dict[tuple[ReadModel, str], Exception]  # rows of a batch that could not be computed


BATCH_SIZE = 10_000  # entries a batch reads: a row is computed once a batch


class ProjectionRunner:
    """Advances every build of the links index and of the given read models to the head."""

    def __init__(
        self,
        ledger: Ledger,
        store: ReadModelStore,
        models: Sequence[ReadModel],
        batch_size: int = BATCH_SIZE,
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
        self.folds = CarriedFolds()  # each row's fold as the last batch left it

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
            behind = [build for build in targets if positions[build] == start]
            batch = self._batch(start)
            if batch is None:
                break
            as_of = AsOf(batch.last_position, None)
            # A full batch is a catch-up (a rebuild): worth one read transaction even on SQLite,
            # and several reading threads on PostgreSQL. While following, appends come first:
            # their write-ahead log's checkpoints (SQLite), the database server's CPU.
            catching_up = len(batch.entries) == self.batch_size
            builds = {b: targets[b] for b in behind}
            updates = self._updates(builds, batch, as_of, catching_up)
            try:
                self._write(batch, builds, updates)
            except IntegrityError:
                continue  # another runner got there first; its rows are as new or newer
            applied += len(batch.entries)
            if progress:
                progress(batch.last_position, self.ledger.as_of().position)
        promoted = [build for build in targets if build.state == "building"]
        for build in promoted:
            self.store.promote(build)
        self._analyze([build.table for build in promoted])
        return applied

    def _batch(self, after: int) -> Batch | None:
        """The next entries after a position, with what the models need to carry their rows
        over them: the entries as stored, and the subjects whose history changed behind them."""
        with self.ledger.reading() as history:
            entries = history.feed.summaries(after, self.batch_size)
            if not entries:
                return None
            links = history.feed.link_changes(after, entries[-1].position)
            stored = history.feed.stored_after(after, len(entries))
            behind = history.feed.with_entries_upto([s for s, _ in links.stream_subjects], after)
            rejoined = frozenset(subject for stream, subject in links.stream_subjects
                                 if stream in behind)  # fmt: skip
            shared = history.links.shared_identities(links.identity_subjects,
                                                     AsOf(entries[-1].position, None))  # fmt: skip
            return Batch(entries, links, after, stored, rejoined, shared)

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
    ) -> dict[Build, BuildUpdate]:
        """The rows of each build for the keys the batch touched, as of its last entry: to
        write, gone, or set aside because they could not be computed or encoded.

        Each row is computed once a batch, however many builds need it; the attention
        models compose theirs from the others'. Rows are folds of immutable entries up to
        one position, so they can be computed in any order.
        """
        folded = _folded(list(builds.values()))
        wanted = sorted({(model, key) for model in folded for key in model.touched_keys(batch)},
                        key=lambda mk: (mk[0].name, mk[1]))  # fmt: skip
        known, failed = self._compute(folded, wanted, batch, as_of, catching_up)
        updates: dict[Build, BuildUpdate] = {}
        with self.ledger.reading(pin_on_sqlite=catching_up) as history:
            for build, model in builds.items():
                update = updates[build] = BuildUpdate()
                for key in sorted(model.touched_keys(batch)):
                    try:
                        if (model, key) in failed:
                            raise failed[(model, key)]
                        if isinstance(model, AttentionModel):
                            row = model.compose(history, key, as_of, known)
                        else:
                            row = known[(model, key)]
                        if row is None:
                            update.gone.append(key)
                        else:
                            update.rows.append(self.store.encode(row, as_of.position))
                    except Exception as error:
                        if is_store_error(error):
                            raise
                        update.set_aside.append(_note(model, key, batch, error))
        return updates

    def _compute(
        self, models: list[ReadModel], wanted: list[tuple[ReadModel, str]], batch: Batch,
        as_of: AsOf, catching_up: bool,
    ) -> tuple[Computed, Failed]:  # fmt: skip
        """Each wanted row of the models: its fold carried over the batch where it can be,
        else read from the ledger; the folds are kept for the next batch (`CarriedFolds`)."""
        known: Computed = {}
        failed: Failed = {}
        folds: dict[ReadModel, dict[str, Any]] = {model: {} for model in models}
        from_ledger: list[tuple[ReadModel, str]] = []
        entries = {model: batch.entries_by_key(model) for model in folds}
        for model, key in wanted:
            before = self.folds.before(model, key, batch.after)
            try:
                fold = NOT_CARRIED if before is MISSING else model.carry(
                    key, before, entries[model].get(key, []), batch)  # fmt: skip
                if fold is NOT_CARRIED:
                    from_ledger.append((model, key))
                else:
                    known[(model, key)] = model.row(key, fold)
                    folds[model][key] = fold
            except Exception as error:
                failed[(model, key)] = error
        read, unread = self._read_folds(from_ledger, as_of, catching_up)
        for (model, key), fold in read.items():
            try:
                known[(model, key)] = model.row(key, fold)
                folds[model][key] = fold
            except Exception as error:
                failed[(model, key)] = error
        failed.update(unread)
        for model, kept in folds.items():
            lost = {key for m, key in failed if m is model}
            self.folds.advance(model, batch.after, batch.last_position, kept, lost)
        return known, failed

    def _read_folds(
        self, wanted: list[tuple[ReadModel, str]], as_of: AsOf, catching_up: bool
    ) -> tuple[dict[tuple[ReadModel, str], Any], Failed]:
        """Folds read from the ledger at the prefix: on PostgreSQL, when catching up, by
        several threads at once, each with a connection, so that their round trips overlap."""

        def read(chunk: list[tuple[ReadModel, str]]) -> tuple[dict[tuple[ReadModel, str], Any],
                                                               Failed]:  # fmt: skip
            folds: dict[tuple[ReadModel, str], Any] = {}
            failed: Failed = {}
            with self.ledger.reading(pin_on_sqlite=catching_up) as history:
                for m, key in chunk:
                    try:
                        folds[(m, key)] = m.fold(history, key, as_of)
                    except Exception as error:
                        if is_store_error(error):
                            raise
                        failed[(m, key)] = error
            return folds, failed

        threads = self.read_threads if catching_up and len(wanted) > 1 else 1
        if threads == 1:
            return read(wanted)
        chunks = [wanted[i::threads] for i in range(threads)]
        folds: dict[tuple[ReadModel, str], Any] = {}
        failed: Failed = {}
        with ThreadPoolExecutor(threads, thread_name_prefix="projection-read") as pool:
            for some, errors in pool.map(read, chunks):
                folds.update(some)
                failed.update(errors)
        return folds, failed

    def _write(
        self, batch: Batch, builds: dict[Build, ReadModel], updates: dict[Build, BuildUpdate]
    ) -> None:
        """Write the batch's rows; if the database refuses one, write them one by one and set
        aside those it refuses."""
        try:
            self.store.write(batch.last_position, updates)
        except PersistenceError as error:
            if isinstance(error, IntegrityError) or not refused_for_its_data(error):
                raise

            def refused(build: Build, key: str, error: Exception) -> Unapplied:
                return _note(builds[build], key, batch, error)

            self.store.write(batch.last_position, updates, refused=refused)

    def states(self) -> list[dict[str, object]]:
        """Every build: name, version, generation, position, lag to the head, state, and the
        rows it set aside (how many, and the first few)."""
        states = []
        for build in self.store.builds():  # each read in a unit of its own, never two at once
            position = self.position(build)
            count, first = self.store.unapplied(build, MAX_REPORTED)
            states.append({
                "name": build.name, "version": build.version, "generation": build.generation,
                "position": position, "state": build.state, "unapplied": count,
                "unapplied_rows": [u.as_dict() for u in first],
            })  # fmt: skip
        with self.ledger.reading() as history:
            for state in states:
                state["lag"] = history.feed.count_after(int(state["position"]))  # type: ignore[call-overload]
        return states

    def retry_unapplied(self, build: Build) -> tuple[int, int]:
        """Compute the build's set-aside rows again, as of its position: those that now apply
        are written and their notes go. Returns (applied, still set aside)."""
        model = next(m for b, m in self.targets().items() if b == build)
        position = self.store.position(build)
        _, notes = self.store.unapplied(build)
        if not notes:
            return 0, 0
        as_of = AsOf(position, None)
        rows, still = [], []
        with self.ledger.reading() as history:
            for note in notes:
                try:
                    row = model.compute(history, note.key, as_of)
                    if row is not None:
                        rows.append(self.store.encode(row, position))
                except Exception as error:
                    if is_store_error(error):
                        raise
                    still.append(Unapplied.of(note.key, position, list(note.entries), error))
        self.store.rewrite(build, rows, still, {n.key for n in notes})
        return len(notes) - len(still), len(still)

    def run(self, stop: threading.Event) -> None:
        """Follow the ledger until `stop` is set. A failing store is retried, never fatal:
        after 1 s, then ever longer up to a minute while it keeps failing the same way, each
        new failure logged once."""
        failures, last_error = 0, ""
        with NewEntries(self.ledger) as new_entries:
            while not stop.is_set():
                try:
                    if self.catch_up():
                        stop.wait(self.gather_seconds)
                    failures, last_error = 0, ""
                except Exception as error:  # keep following: the store may come back
                    failures += 1
                    delay = min(MAX_RETRY_SECONDS, 2.0 ** (failures - 1))
                    if str(error) != last_error:
                        log.exception("projection update failed; retrying in %.0f s", delay)
                    else:
                        log.warning("projection update failed again (%s); retrying in %.0f s",
                                    type(error).__name__, delay)  # fmt: skip
                    last_error = str(error)
                    stop.wait(delay)
                    continue
                new_entries.wait(stop)


def _folded(models: list[ReadModel]) -> list[ReadModel]:
    """The models whose rows a batch folds: each model itself, or for an attention model the
    models its rows come from."""
    parts = [[m for m, _ in model.parts.values()] if isinstance(model, AttentionModel) else [model]
             for model in models]  # fmt: skip
    return list(dict.fromkeys(part for some in parts for part in some))


def _note(model: ReadModel, key: str, batch: Batch, error: Exception) -> Unapplied:
    """The note of a row set aside: the entries of the batch that touched it, and why."""
    alone = LinkChanges([], [], [])  # an entry's own keys; a key touched by links names none
    touching = [e.position for e in batch.entries
                if key in model.touched_keys(Batch([e], alone))][:10]  # fmt: skip
    log.error("%s: row %.200r set aside as of position %d: %s",
              model.name, key, batch.last_position, error)  # fmt: skip
    return Unapplied.of(key, batch.last_position, touching, error)
