"""Webhook secrets, API tokens with their roles, the master key and the log's signing key
(DESIGN §8).

Configured ones come from the settings (`LEDGER_*` variables); with none
configured, the first `ledger` command generates them and keeps them in the data
directory, so a new user has a working, authenticated ledger at once. The file is
private from its first byte: written anew (mode 600, in a directory of mode 700
if it creates it) and then renamed into place, so no secret is ever written into
a file that was readable before, or that someone holds open.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from application.privacy.keyring import generate_master_key, parse_master_key
from application.transparency.checkpoints import SigningKey
from application.webhook_authentication.signature import WebhookSecret
from bootstrap.settings import Settings

ROLES = ("auditor", "officer", "admin")  # cumulative: each reads what the one before it does


@dataclass
class Credentials:
    """Webhook secrets (any one of them signs validly) and bearer tokens with their roles.

    Its repr names no secret: the secrets' own repr hides them, and the rest is left out.
    """

    webhook_secrets: list[WebhookSecret] = field(default_factory=list)
    api_tokens: dict[str, str] = field(default_factory=dict, repr=False)
    master_key: bytes | None = field(default=None, repr=False)
    signing_key: SigningKey | None = field(default=None, repr=False)  # signs checkpoints
    generated: dict[str, Any] = field(default_factory=dict, repr=False)  # what this start created


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
        if "signing_key" in kept:
            SigningKey.parse(kept["signing_key"])
    except (ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"{path} is not valid ({error}); fix or remove it") from None
    return kept


def load_credentials(settings: Settings, *, generate: bool) -> Credentials:
    """Configured credentials, else those kept in the data directory, else (if asked) new ones.

    Only what is neither configured nor kept is generated, and only that is kept anew.
    """
    path = settings.data_dir / "credentials.json"
    kept = _read_kept(path)
    master_text = settings.master_key.get_secret_value() or kept.get("master_key", "")
    creds = Credentials(
        parse_secrets(settings.webhook_secrets.get_secret_value())
        or parse_secrets(",".join(kept.get("webhook_secrets", []))),
        parse_tokens(settings.api_tokens.get_secret_value()) or dict(kept.get("api_tokens", {})),
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
    signing_text = settings.signing_key.get_secret_value() or kept.get("signing_key", "")
    creds.signing_key = SigningKey.parse(signing_text) if signing_text else None
    if generate and creds.signing_key is None:
        origin = settings.log_origin or f"compliance-ledger/{secrets.token_hex(4)}"
        creds.signing_key = SigningKey.generate(origin)
        creds.generated["signing_key"] = str(creds.signing_key)
    if creds.signing_key and settings.log_origin and creds.signing_key.name != settings.log_origin:
        msg = (
            f"LEDGER_LOG_ORIGIN is {settings.log_origin!r} but the signing key is the one of"
            f" {creds.signing_key.name!r}: a log keeps its origin (unset it, or use a new key)"
        )
        raise ValueError(msg)
    if creds.generated:
        keep_privately(path, {**kept, **creds.generated})
    return creds


def keep_privately(path: Path, content: dict[str, Any]) -> None:
    """Write `content` to a new file only its owner can read, then rename it to `path`."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, draft_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 600
    draft = Path(draft_name)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(content, out, indent=2)
            out.flush()
            os.fsync(out.fileno())
        os.replace(draft, path)
    except BaseException:
        draft.unlink(missing_ok=True)
        raise
