"""`ledger timeline REF` and `ledger status REF`: a subject's history and status as of a point."""

from __future__ import annotations

import argparse

from application.ledger import Ledger
from application.reading.as_of import parse_point
from application.reading.views import entry_view
from bootstrap.services import Services
from bootstrap.settings import Settings
from cli.errors import CliError
from cli.output import print_json, print_table
from cli.privacy import record_cli_access
from domain.entries import AsOf


def _as_of(ledger: Ledger, text: str | None) -> AsOf:
    try:
        return ledger.as_of(parse_point(text))
    except ValueError as error:
        raise CliError(str(error)) from None


def timeline(settings: Settings, args: argparse.Namespace) -> None:
    with Services.open(settings) as services:
        ledger = services.ledger
        as_of = _as_of(ledger, args.as_of)
        entries = ledger.timeline(args.ref, as_of)
        if entries is None:
            raise CliError(f"no subject {args.ref!r} as of position {as_of.position}")
        if args.json:  # payloads as sent, so the read goes into the access log
            record_cli_access(ledger, args.ref, f"timeline as of {as_of.position}")
            events = [entry_view(e) for e in ledger.disclose(entries)]
            print_json({"subject": args.ref, "as_of": as_of.as_dict(), "events": events})
            return
        events = [entry_view(e) for e in entries]
        print(f"{args.ref} as of position {as_of.position} ({as_of.recorded_at})")
        print_table(
            ["position", "recorded_at", "event", "aggregate", "idempotency_key"],
            [
                [
                    e["position"],
                    e["recorded_at"],
                    e["event"],
                    f"{e['aggregate']['type']}/{e['aggregate']['id']}",
                    e["idempotency_key"],
                ]
                for e in events
            ],
        )


def status(settings: Settings, args: argparse.Namespace) -> None:
    with Services.open(settings) as services:
        ledger = services.ledger
        as_of = _as_of(ledger, args.as_of)
        doc = ledger.subject_status(args.ref, as_of)
        if doc is None:
            raise CliError(f"no subject {args.ref!r} as of position {as_of.position}")
        if args.json:
            print_json({**doc, "as_of": as_of.as_dict()})
            return
        verification, aml = doc["verification"], doc["aml"]
        print(f"{args.ref} as of position {as_of.position} ({as_of.recorded_at})")
        print_table(
            ["verification", "session", "decision_changed", "reason", "shared_identity_with"],
            [
                [
                    verification["status"],
                    verification["session_id"],
                    verification["decision_changed"],
                    verification["reason"],
                    ", ".join(verification["shared_identity_with"]),
                ]
            ],
        )
        print_table(
            ["aml", "restricted", "open_hits", "checks"],
            [
                [
                    aml["status"],
                    aml["restricted"],
                    aml["open_hit_count"],
                    ", ".join(f"{c['check_id']} ({c['status']})" for c in aml["checks"]),
                ]
            ],
        )
        if doc["sessions"]:
            print_table(
                ["session", "status", "decision_changed", "erased"],
                [
                    [s["session_id"], s["status"], s["decision_changed"], s["erased"]]
                    for s in doc["sessions"]
                ],
            )
        if doc["cases"]:
            print_table(
                ["case", "status", "decision"],
                [[c["case_id"], c["status"], c["decision"]] for c in doc["cases"]],
            )
