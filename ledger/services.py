"""Everything a running ledger needs, built in one place for the server and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ledger.application import Ledger
from ledger.dialect import POSTGRES
from ledger.settings import Credentials, Settings, load_credentials
from projections.models import READ_MODELS
from projections.read_model import ReadModel
from projections.runner import ProjectionRunner
from projections.store import PostgresReadModelStore, ReadModelStore, SQLiteReadModelStore
from projections.subject_links import SUBJECT_LINKS, LinkIndex, SubjectLinks


@dataclass
class Services:
    settings: Settings
    ledger: Ledger
    read_models: ReadModelStore
    runner: ProjectionRunner
    credentials: Credentials = field(default_factory=Credentials)

    @classmethod
    def open(
        cls,
        settings: Settings,
        credentials: Credentials | None = None,
        *,
        models: Sequence[ReadModel] = READ_MODELS,
        links: SubjectLinks = SUBJECT_LINKS,
    ) -> Services:
        """The ledger in the configured database, with its projections (the code's versions)."""
        if settings.database_url.startswith("sqlite:///"):
            Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        credentials = credentials or load_credentials(settings, generate=False)
        if credentials.master_key is None:
            msg = "no master key: set LEDGER_MASTER_KEY, or run a `ledger` command to generate one"
            raise ValueError(msg)
        ledger = Ledger.open(
            settings.database_url,
            master_key=credentials.master_key,
            pool_size=settings.pool_size,
            max_overflow=settings.pool_max_overflow,
            link_rules=links.learn,
        )
        read_models = read_model_store(ledger, models)
        link_index = LinkIndex(ledger.history, read_models, links)
        with ledger.schema_lock():
            link_index.prepare()
        runner = ProjectionRunner(
            ledger.history, read_models, models, links=link_index, recorder=ledger.recorder
        )
        return cls(settings, ledger, read_models, runner, credentials)

    def close(self) -> None:
        self.ledger.close()


def read_model_store(ledger: Ledger, models: Sequence[ReadModel]) -> ReadModelStore:
    """The read models' store in the ledger's own database, with a build for every model."""
    store: ReadModelStore
    if ledger.sql is POSTGRES:
        store = PostgresReadModelStore(ledger.datastore)
    else:
        store = SQLiteReadModelStore(ledger.datastore)
    with ledger.schema_lock():
        store.create_table()
        store.prepare(models)
    return store
