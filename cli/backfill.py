"""`ledger ingest FILE` and `ledger demo`: many deliveries at once, through the group commit."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from bootstrap.services import Services
from bootstrap.settings import Settings
from cli.demo_history import demo_deliveries
from cli.errors import CliError
from cli.output import print_json, print_table


def ingest(settings: Settings, args: argparse.Namespace) -> None:
    """Backfill deliveries, one JSON payload per line, read as they are ingested."""
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    too_large: list[int] = []
    with path.open("rb") as lines:
        _load(settings, payload_lines(lines, settings.max_body_bytes, too_large),
              as_json=args.json, too_large=too_large)  # fmt: skip


def payload_lines(lines: BinaryIO, limit: int, too_large: list[int]) -> Iterator[bytes]:
    """Each non-blank line; a line longer than `limit` bytes (the webhook's own limit) is
    read no further, its number noted in `too_large`, and the rest go on."""
    number = 0
    while line := lines.readline(limit + 2):
        number += 1
        body = line.rstrip(b"\r\n")
        if len(body) > limit:
            too_large.append(number)
            while not line.endswith(b"\n") and (line := lines.readline(limit + 2)):
                pass  # the rest of the line, a bounded read at a time
        elif body.strip():
            yield body


def demo(settings: Settings, args: argparse.Namespace) -> None:
    """A realistic sample history, so a new user sees the ledger at work at once."""
    _load(settings, [json.dumps(p).encode() for p in demo_deliveries()], as_json=args.json)
    if not args.json:
        print("Try: ledger status user_bob   |   ledger timeline user_erin")


def _load(settings: Settings, bodies: Iterable[bytes], *, as_json: bool,
          too_large: list[int] | None = None) -> None:  # fmt: skip
    with Services.open(settings) as services:
        counts = Counter(outcome.status for outcome in services.ledger.ingest_stream(bodies))
        services.runner.catch_up()
        summary = {name: counts.get(name, 0) for name in ("recorded", "duplicate", "quarantined")}
        if too_large:
            summary["too_large"] = len(too_large)
            shown = ", ".join(map(str, too_large[:20])) + (", ..." if len(too_large) > 20 else "")
            print(f"not read: lines over {settings.max_body_bytes} bytes (LEDGER_MAX_BODY_BYTES):"
                  f" {shown}", file=sys.stderr)  # fmt: skip
        if as_json:
            print_json(summary)
        else:
            print_table(list(summary), [list(summary.values())])
