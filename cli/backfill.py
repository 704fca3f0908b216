"""`ledger ingest FILE` and `ledger demo`: many deliveries at once, through the group commit."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bootstrap.services import Services
from bootstrap.settings import Settings
from cli.demo_history import demo_deliveries
from cli.errors import CliError
from cli.output import print_json, print_table


def ingest(settings: Settings, args: argparse.Namespace) -> None:
    """Backfill deliveries, one JSON payload per line."""
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    bodies = [line.rstrip(b"\r\n") for line in path.read_bytes().splitlines() if line.strip()]
    _load(settings, bodies, as_json=args.json)


def demo(settings: Settings, args: argparse.Namespace) -> None:
    """A realistic sample history, so a new user sees the ledger at work at once."""
    _load(settings, [json.dumps(p).encode() for p in demo_deliveries()], as_json=args.json)
    if not args.json:
        print("Try: ledger status user_bob   |   ledger timeline user_erin")


def _load(settings: Settings, bodies: Sequence[bytes], *, as_json: bool) -> None:
    with Services.open(settings) as services:
        counts = Counter(outcome.status for outcome in services.ledger.ingest_all(bodies))
        services.runner.catch_up()
        summary = {name: counts.get(name, 0) for name in ("recorded", "duplicate", "quarantined")}
        if as_json:
            print_json(summary)
        else:
            print_table(list(summary), [list(summary.values())])
