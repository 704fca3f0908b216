"""`ledger quarantine list | replay`: authentic deliveries that could not be read."""

from __future__ import annotations

import argparse

from ledger.cli_privacy import record_cli_access
from ledger.ingestion import replay_quarantine
from ledger.services import Services
from ledger.settings import Settings
from ledger.tables import print_json, print_table


def list_held(settings: Settings, args: argparse.Namespace) -> None:
    """The held deliveries; with `--json` their previews, so the read is logged."""
    services = Services.open(settings)
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
    services = Services.open(settings)
    replay = replay_quarantine(services.ledger)
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
