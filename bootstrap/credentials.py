"""Webhook secrets, API tokens with their roles, and the master key (DESIGN §8).

Configured ones come from the settings (`LEDGER_*` variables); with none
configured, the first `ledger` command generates them and keeps them in the data
directory (mode 600), so a new user has a working, authenticated ledger at once.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from application.privacy.keyring import generate_master_key, parse_master_key
from application.webhook_authentication.signature import WebhookSecret
from bootstrap.settings import Settings

ROLES = ("auditor", "officer", "admin")  # cumulative: each reads what the one before it does


@dataclass
class Credentials:
    """Webhook secrets (any one of them signs validly) and bearer tokens with their roles."""

    webhook_secrets: list[WebhookSecret] = field(default_factory=list)
    api_tokens: dict[str, str] = field(default_factory=dict)
    master_key: bytes | None = None
    generated: dict[str, Any] = field(default_factory=dict)  # what this start created


def parse_secrets(text: str) -> list[WebhookSecret]:
    return [WebhookSecret.parse(part) for part in text.split(",") if part.strip()]


def parse_tokens(text: str) -> dict[str, str]:
    tokens: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        token, _, role = part.rpartition(":")
        if not token or role not in ROLES:
            msg = f"LEDGER_API_TOKENS entries are token:role with role one of {', '.join(ROLES)}"
            raise ValueError(msg)
        tokens[token] = role
    return tokens


def _read_kept(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        kept = json.loads(path.read_text())
        if not isinstance(kept, dict):
            raise ValueError("not a JSON object")
        parse_secrets(",".join(kept.get("webhook_secrets", [])))
        parse_tokens(",".join(f"{t}:{r}" for t, r in kept.get("api_tokens", {}).items()))
        if "master_key" in kept:
            parse_master_key(kept["master_key"])
    except (ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"{path} is not valid ({error}); fix or remove it") from None
    return kept


def load_credentials(settings: Settings, *, generate: bool) -> Credentials:
    """Configured credentials, else those kept in the data directory, else (if asked) new ones.

    Only what is neither configured nor kept is generated, and only that is kept anew.
    """
    path = settings.data_dir / "credentials.json"
    kept = _read_kept(path)
    master_text = settings.master_key or kept.get("master_key", "")
    creds = Credentials(
        parse_secrets(settings.webhook_secrets)
        or parse_secrets(",".join(kept.get("webhook_secrets", []))),
        parse_tokens(settings.api_tokens) or dict(kept.get("api_tokens", {})),
        parse_master_key(master_text) if master_text else None,
    )
    if generate and not creds.webhook_secrets:
        creds.webhook_secrets = [WebhookSecret.generate()]
        creds.generated["webhook_secrets"] = [str(s) for s in creds.webhook_secrets]
    if generate and not creds.api_tokens:
        creds.api_tokens = {secrets.token_urlsafe(24): role for role in ROLES}
        creds.generated["api_tokens"] = dict(creds.api_tokens)
    if generate and creds.master_key is None:
        text = generate_master_key()
        creds.master_key = parse_master_key(text)
        creds.generated["master_key"] = text
    if creds.generated:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({**kept, **creds.generated}, out, indent=2)
        path.chmod(0o600)
    return creds
