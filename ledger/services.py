"""Everything a running ledger needs, built in one place for the server and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.application import Ledger
from ledger.settings import Credentials, Settings
from projections.models import READ_MODELS
from projections.read_model import ReadModelStore, SQLiteReadModelStore
from projections.runner import ProjectionRunner


@dataclass
class Services:
    settings: Settings
    ledger: Ledger
    read_models: ReadModelStore
    runner: ProjectionRunner
    credentials: Credentials = field(default_factory=Credentials)

    @classmethod
    def open(cls, settings: Settings, credentials: Credentials | None = None) -> Services:
        """The ledger in the configured database, with its read models."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        ledger = Ledger.at(settings.sqlite_path)
        read_models: ReadModelStore = SQLiteReadModelStore(ledger.datastore, READ_MODELS)
        return cls(settings, ledger, read_models, ProjectionRunner(ledger.history, read_models),
                   credentials or Credentials())  # fmt: skip

    def close(self) -> None:
        self.ledger.close()
