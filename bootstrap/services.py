"""The composition root: everything a running ledger needs, wired once, for every entry point.

The HTTP app, the CLI and the projections worker all start here: the ledger on
the configured database, the read models' store beside it, the links index and
the projections runner, each given what it needs. Nothing below this package
reads settings or decides how the parts fit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from application.ledger import Ledger
from application.transparency.checkpoints import SigningKey
from bootstrap.credentials import Credentials, load_credentials
from bootstrap.progress import building_the_log
from bootstrap.settings import Settings
from projections.models import READ_MODELS
from projections.read_model import ReadModel
from projections.runner import ProjectionRunner
from projections.store import ReadModelStore
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
        credentials = credentials or load_credentials(settings, generate=False)
        if credentials.master_key is None:
            msg = "no master key: set LEDGER_MASTER_KEY, or run a `ledger` command to generate one"
            raise ValueError(msg)
        if credentials.signing_key is None:
            msg = ("no signing key for the log's checkpoints: set LEDGER_SIGNING_KEY, or run a"
                   " `ledger` command to generate one")  # fmt: skip
            raise ValueError(msg)
        return cls._open(settings, credentials, models, links)

    @classmethod
    def for_projections(
        cls,
        settings: Settings,
        *,
        models: Sequence[ReadModel] = READ_MODELS,
        links: SubjectLinks = SUBJECT_LINKS,
    ) -> Services:
        """The ledger and its projections, for keeping or inspecting the read models only.

        Read models are built from the public part of entries: this needs no webhook
        secret, token or master key, and is given none (DESIGN §7).
        """
        return cls._open(settings, Credentials(), models, links)

    @classmethod
    def _open(
        cls,
        settings: Settings,
        credentials: Credentials,
        models: Sequence[ReadModel],
        links: SubjectLinks,
    ) -> Services:
        database_url = settings.database_url.get_secret_value()
        if database_url.startswith("sqlite:///"):
            Path(database_url.removeprefix("sqlite:///")).parent.mkdir(
                mode=0o700, parents=True, exist_ok=True
            )
        ledger = Ledger.open(
            database_url,
            master_key=credentials.master_key,
            pool_size=settings.pool_size,
            max_overflow=settings.pool_max_overflow,
            link_rules=links.learn,
            build_progress=building_the_log,
        )
        read_models = open_read_models(ledger, models)
        link_index = LinkIndex(ledger, read_models, links)
        with ledger.database.schema_lock():
            link_index.prepare()
        runner = ProjectionRunner(ledger, read_models, models, links=link_index)
        return cls(settings, ledger, read_models, runner, credentials)

    @property
    def signing_key(self) -> SigningKey:
        """The key that signs the log's checkpoints (every API process has one: `open`)."""
        if self.credentials.signing_key is None:
            raise RuntimeError("these services were opened without a signing key")
        return self.credentials.signing_key

    def close(self) -> None:
        self.ledger.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_read_models(ledger: Ledger, models: Sequence[ReadModel]) -> ReadModelStore:
    """The read models' store in the ledger's own database, with a build for every model."""
    store = ReadModelStore.for_database(ledger.database)
    with ledger.database.schema_lock():
        store.create_table()  # the library's tracking table
        store.prepare(models)
    return store
