"""The `subject_links` projection: which subject each stream, session and identity belongs to.

Every as-of read (timelines, statuses, the other read models) finds a subject's
entries through these links, each stored with the position at which it became
known. The live build is written inside each append's own transaction, because
routing a delivery needs the links learned before it. Like any read model it is
versioned and rebuilt from the ledger: a new build fills tables of its own
beside the live ones, tracking its position with the library's tracking
recorder, and cuts over with one transaction that holds the append lock,
applies the last entries and renames its tables into place.

A new version means new rules for linking, so it also restarts the builds of the
read models, which were computed through the old links.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from eventsourcing.persistence import IntegrityError

from application.ledger import Ledger
from application.reading.history import History
from application.storage.dialect import POSTGRES
from application.storage.link_book import StoredLinkBook
from application.storage.schema import LINK_INDEXES, LINK_TABLES, link_tables
from application.storage.unit_of_work import UnitOfWork
from domain.entries import LedgerEntry, StreamKey
from domain.routing import LinkBook, learn_links
from projections.diff import RowChange, changes_between
from projections.read_model import Build
from projections.store import ReadModelStore

Progress = Callable[[int, int], None]  # (position reached, head)


class SubjectLinks:
    """The rules of one version of the links index: the domain's `learn_links`."""

    name = "subject_links"
    version = 2  # 2: an external_ref that reads like a generated key is escaped (DESIGN §5.1)

    def learn(self, book: LinkBook, stream: StreamKey, payload: Mapping[str, Any]) -> None:
        learn_links(book, stream, payload)


SUBJECT_LINKS = SubjectLinks()


def suffix(build: Build) -> str:
    """How a build's tables are named: the live build has the plain names."""
    return "" if build.state == "live" else f"_v{build.version}_g{build.generation}"


class LinkIndex:
    """The builds of `subject_links`: catch-up, cut-over, diff and drop."""

    def __init__(
        self, ledger: Ledger, store: ReadModelStore, links: SubjectLinks, batch_size: int = 1000
    ) -> None:
        self.ledger = ledger
        self.store = store
        self.links = links
        self.batch_size = batch_size

    @property
    def name(self) -> str:
        return self.links.name

    def prepare(self) -> None:
        """Register the live build the appends write; start one of the code's version if new."""
        builds = self.store.builds(self.name)
        if not builds:
            self.store.register_build(self.name, self.links.version, "live")
        elif not any(b.version == self.links.version and b.state != "retired" for b in builds):
            self.start_build()

    def start_build(self) -> Build:
        """An empty build of the code's rules beside the live one, or the one already building."""
        build = self.store.register_build(self.name, self.links.version)
        with self.ledger.database.writing() as uow:
            for statement in link_tables(suffix(build)):
                uow.execute(statement)
        return build

    def building(self) -> Build | None:
        builds = [b for b in self.store.builds(self.name) if b.state == "building"]
        return builds[-1] if builds else None

    def position(self, build: Build) -> int:
        """The live build is written with each append: it is always at the head."""
        if build.state == "live":
            return self.ledger.as_of().position
        return self.store.position(build)

    def tables(self, build: Build) -> list[str]:
        return [f"{table}{suffix(build)}" for table in LINK_TABLES]

    # Building and cutting over.

    def _apply(self, uow: UnitOfWork, build: Build, after: int) -> list[LedgerEntry]:
        """Learn the links of the next entries after `after` into the build, and track them."""
        entries = History(uow, self.ledger.mapper).feed.entries_after(after, self.batch_size)
        book = StoredLinkBook(uow, suffix(build))
        sessions = filter(None, (entry.text("session_id") for entry in entries))
        book.prefetch((entry.stream.id for entry in entries), sessions)
        with uow.sql.pipeline(uow.cursor):
            for entry in entries:
                self.links.learn(book.at(entry.position), entry.stream, entry.payload)
            book.write()
        if entries:
            self.store.track(uow, build, entries[-1].position)
        return entries

    @contextmanager
    def _writing(self, *, lock_appends: bool = False) -> Iterator[UnitOfWork]:
        """A unit of work that reads what it writes from (on SQLite it holds the write lock
        from its start); with `lock_appends`, on PostgreSQL, the lock every append takes."""
        with self.ledger.database.writing() as uow:
            if lock_appends and uow.sql is POSTGRES:
                uow.execute(f"LOCK TABLE {uow.sql.events_table} IN EXCLUSIVE MODE")
            yield uow

    def catch_up(self, build: Build, progress: Progress | None = None) -> int:
        """Bring a building build to the head, batch by batch; returns the entries applied."""
        applied = 0
        while True:
            try:
                with self._writing() as uow:
                    entries = self._apply(uow, build, self.store.position(build, uow))
            except IntegrityError:
                continue  # another process applied this batch first
            if not entries:
                return applied
            applied += len(entries)
            if progress:
                progress(entries[-1].position, self.ledger.as_of().position)

    def promote(self, build: Build) -> bool:
        """Cut over: the last entries, the table swap and the catalog, under the append lock.

        Returns False when another process promoted it first.
        """
        with self._writing(lock_appends=True) as uow:
            builds = self.store.builds(self.name, uow)
            if build not in builds:  # compares the state too: still building?
                return False
            while self._apply(uow, build, self.store.position(build, uow)):
                continue  # the last batches: appends wait for this transaction's lock
            position = self.store.position(build, uow)
            for index in LINK_INDEXES:
                uow.execute(f"DROP INDEX IF EXISTS {index}")
            for old in builds:
                if old.state == "live":  # kept as it stands at the cut-over, until dropped
                    retired = replace(old, state="retired")
                    if self.store.position(retired, uow) < position:
                        self.store.track(uow, retired, position)
                    for table in LINK_TABLES:
                        uow.execute(f"ALTER TABLE {table} RENAME TO {table}{suffix(retired)}")
            for table in LINK_TABLES:
                uow.execute(f"ALTER TABLE {table}{suffix(build)} RENAME TO {table}")
            for statement in link_tables():
                uow.execute(statement)
            self.store.promote(build, uow)
        return True

    # Before cut-over: what would change.

    def _links_by_subject(self, build: Build) -> dict[str, dict[str, set[str]]]:
        found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        end = suffix(build)
        queries = {
            "streams": f"SELECT subject, stream_id AS link FROM stream_links{end}",
            "sessions": f"SELECT subject, session_id AS link FROM session_ties{end}",
            "identities": f"SELECT subject, identity_id AS link FROM identity_refs{end}",
        }
        with self.ledger.database.reading() as uow:
            for kind, query in queries.items():
                for row in uow.rows(query):
                    found[row["subject"]][kind].add(row["link"])
        return found

    def diff(self, old: Build, new: Build) -> list[RowChange]:
        """Subjects whose linked streams, sessions or identities differ between two builds."""
        return changes_between(self._links_by_subject(old), self._links_by_subject(new))

    def drop(self, build: Build) -> None:
        self.store.drop(build, self.tables(build))
