"""Settings from environment variables (and an optional `.env`), DESIGN §8."""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator configures."""

    model_config = SettingsConfigDict(env_prefix="LEDGER_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///var/ledger.db"
    webhook_secrets: str = ""
    api_tokens: str = ""
    master_key: str = ""  # wraps the data keys of personal data; keep it safe and backed up
    max_body_bytes: int = 1024 * 1024
    signature_tolerance_seconds: int = 300
    pool_size: int = 5
    pool_max_overflow: int = 10
    data_dir: Path = Path("var")

    @field_validator("database_url")
    @classmethod
    def _known_store(cls, url: str) -> str:
        if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            msg = "must be sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
            raise ValueError(msg)
        return url

    @field_validator("max_body_bytes", "signature_tolerance_seconds", "pool_size")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be a positive number")
        return value

    @model_validator(mode="after")
    def _pool_fits_postgres(self) -> Settings:
        if self.database_url.startswith("postgres") and self.pool_size + self.pool_max_overflow < 2:
            msg = "LEDGER_POOL_SIZE + LEDGER_POOL_MAX_OVERFLOW must be at least 2 on PostgreSQL"
            raise ValueError(msg)
        return self

    @field_validator("pool_max_overflow")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must not be negative")
        return value
