"""`ledger verify` and `ledger digest`: prove the ledger was not changed behind its back."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from application.integrity.verification import Digest
from bootstrap.services import Services
from bootstrap.settings import Settings
from cli.errors import CliError
from cli.output import print_json


def verify(settings: Settings, args: argparse.Namespace) -> None:
    """Recompute the chain; exit 1 if it is broken, naming the first position that is."""
    try:
        since = Digest.load(Path(args.since)) if args.since else None
    except ValueError as error:
        raise CliError(str(error)) from None
    with Services.open(settings) as services:
        result = services.ledger.chain.verify(since)
        if args.json:
            print_json(result.as_dict())
        elif result.ok:
            extends = f"; extends the digest at position {since.position}" if since else ""
            print(f"ok: {result.checked} entries checked, head position {result.head.position}"
                  f" digest {result.head.digest}{extends}")  # fmt: skip
        else:
            print(f"FAILED at position {result.first_bad_position}: {result.problem}"
                  f" (earlier entries intact: {result.checked})")  # fmt: skip
        if not result.ok:
            raise SystemExit(1)


def digest(settings: Settings, args: argparse.Namespace) -> None:
    """The chain's head, as a small JSON file for `verify --since` later; only from a chain
    that verifies (a digest of a ledger changed behind its back would prove nothing)."""
    with Services.open(settings) as services:
        result = services.ledger.chain.verify()
        if not result.ok:
            print(f"FAILED at position {result.first_bad_position}: {result.problem};"
                  " no digest exported")  # fmt: skip
            raise SystemExit(1)
        text = json.dumps(result.head.as_dict())
        if args.output:
            Path(args.output).write_text(text + "\n")
            print(f"wrote {args.output}: position {result.head.position}")
        else:
            print(text)
