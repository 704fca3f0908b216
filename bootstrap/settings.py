"""Settings from environment variables (and an optional `.env`), DESIGN §8.

Secrets (the database password included) are held in types that never print: a
repr, a log line or an error message shows them masked, and validation errors
never echo what was given (DESIGN §7).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseUrl(SecretStr):
    """A database URL that prints with its password masked: `postgresql://ann:***@db/ledger`."""

    def _display(self) -> str:
        url = self.get_secret_value()
        head, at, host = url.rpartition("@")
        if not at:
            return url
        scheme, slashes, userinfo = head.partition("//")
        if not slashes:  # not a URL as documented: mask all that could be a password
            scheme, userinfo = "", head
        user, colon, _ = userinfo.partition(":")
        return f"{scheme}{slashes}{user}{colon and ':***'}@{host}"


class Settings(BaseSettings):
    """Everything an operator configures."""

    model_config = SettingsConfigDict(
        env_prefix="LEDGER_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    database_url: DatabaseUrl = DatabaseUrl("sqlite:///var/ledger.db")
    webhook_secrets: SecretStr = SecretStr("")
    api_tokens: SecretStr = SecretStr("")
    master_key: SecretStr = SecretStr("")  # wraps the data keys of personal data; back it up
    signing_key: SecretStr = SecretStr("")  # signs the transparency log's checkpoints
    log_origin: str = Field("", max_length=256)  # the log's name in its checkpoints
    max_body_bytes: int = 1024 * 1024
    signature_tolerance_seconds: int = 300
    pool_size: int = 5
    pool_max_overflow: int = 10
    data_dir: Path = Path("var")
    # Slow and greedy clients (`api.connection_limits`), per API process.
    header_timeout_seconds: float = Field(10.0, gt=0, le=300)
    body_timeout_seconds: float = Field(30.0, gt=0, le=600)
    max_connections: int = Field(256, ge=1, le=65536)

    @field_validator("database_url")
    @classmethod
    def _known_store(cls, url: DatabaseUrl) -> DatabaseUrl:
        if not url.get_secret_value().startswith(("sqlite:///", "postgresql://", "postgres://")):
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
        postgres = self.database_url.get_secret_value().startswith("postgres")
        if postgres and self.pool_size + self.pool_max_overflow < 2:
            msg = "LEDGER_POOL_SIZE + LEDGER_POOL_MAX_OVERFLOW must be at least 2 on PostgreSQL"
            raise ValueError(msg)
        return self

    @field_validator("pool_max_overflow")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must not be negative")
        return value


# The variables that hold secrets: handed to no process that does not need them.
SECRET_VARIABLES = frozenset(
    f"LEDGER_{name.upper()}"
    for name, field in Settings.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, SecretStr)
)
