"""What the HTTP layer is given to work with: the ledger, its read models, and the settings."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.application import Ledger
from ledger.settings import Credentials, Settings
from projections.read_model import ReadModelStore
from projections.runner import ProjectionRunner


@dataclass
class Services:
    settings: Settings
    credentials: Credentials
    ledger: Ledger
    read_models: ReadModelStore
    runner: ProjectionRunner

    @classmethod
    def open(cls, settings: Settings, credentials: Credentials) -> Services:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        ledger = Ledger.at(settings.sqlite_path)
        read_models = ReadModelStore(ledger.datastore)
        return cls(
            settings,
            credentials,
            ledger,
            read_models,
            ProjectionRunner(ledger.history, read_models),
        )
