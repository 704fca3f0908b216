"""`ledger quarantine list | replay`: authentic deliveries that could not be read."""

from __future__ import annotations

import argparse

from bootstrap.services import Services
from bootstrap.settings import Settings
from cli.output import print_json, print_table
from cli.privacy import record_cli_access


def list_held(settings: Settings, args: argparse.Namespace) -> None:
    """The held deliveries; with `--json` their previews, so the read is logged."""
    with Services.open(settings) as services:
        ledger = services.ledger
        entries = [e.as_dict() for e in ledger.quarantine.list(include_released=args.all)]
        if args.json:  # with the bodies' previews, which may hold personal data
            record_cli_access(ledger, "(quarantine)", "quarantine list")
            print_json({"entries": entries})
        else:
            print_table(
                ["id", "received_at", "reason", "size", "released_position"],
                [
                    [e["id"], e["received_at"], e["reason"], e["size"], e["released_position"]]
                    for e in entries
                ],
            )


def replay(settings: Settings, args: argparse.Namespace) -> None:
    """Re-process the held deliveries with the current rules."""
    with Services.open(settings) as services:
        replay = services.ledger.replay_quarantine()
        services.runner.catch_up()
        if args.json:
            print_json(
                {
                    "released": [{"id": i, "position": p} for i, p in replay.released],
                    "still_held": replay.still_held,
                }
            )
        else:
            print(f"released {len(replay.released)}, still held {len(replay.still_held)}")
            for entry_id, position in replay.released:
                print(f"  {entry_id} -> position {position}")
