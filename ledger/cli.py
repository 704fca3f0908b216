"""`ledger`: serve the API, backfill deliveries, and read the ledger from a terminal (DESIGN §8)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventsourcing.persistence import PersistenceError
from pydantic import ValidationError

from ledger import cli_integrity, cli_privacy, cli_projections, cli_quarantine
from ledger.application import Ledger
from ledger.cli_integrity import DigestFileError
from ledger.cli_privacy import ErasureError, record_cli_access
from ledger.cli_projections import ProjectionError
from ledger.demo import demo_deliveries
from ledger.history import AsOf, parse_point
from ledger.ingestion import ingest_all
from ledger.projection_worker import ProjectionWorker
from ledger.services import Services
from ledger.settings import Settings, load_credentials
from ledger.tables import print_json, print_table
from ledger.views import entry_view


class CliError(Exception):
    """A user error: printed without a traceback, exit status 2."""


def _as_of(ledger: Ledger, text: str | None) -> AsOf:
    try:
        return ledger.as_of(parse_point(text))
    except ValueError as error:
        raise CliError(str(error)) from None


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    if args.workers < 1:
        raise CliError("--workers must be at least 1")
    credentials = load_credentials(settings, generate=False)  # `main` generated what was missing
    kept = settings.data_dir / "credentials.json"
    print(f"Credentials: LEDGER_* environment variables, else {kept}.")
    # Every process builds its app from the environment: hand them the credentials. The read
    # models are the projections worker's job (or, with --no-projections, `projections run`'s).
    os.environ["LEDGER_WEBHOOK_SECRETS"] = ",".join(str(s) for s in credentials.webhook_secrets)
    os.environ["LEDGER_API_TOKENS"] = ",".join(
        f"{t}:{r}" for t, r in credentials.api_tokens.items()
    )
    with contextlib.ExitStack() as background:
        if not args.no_projections:
            background.enter_context(ProjectionWorker())
        uvicorn.run("api.app:app_from_environment", factory=True, workers=args.workers,
                    host=args.host, port=args.port, log_level="info",
                    access_log=args.access_log)  # fmt: skip


def _count_outcomes(ledger: Ledger, bodies: Sequence[bytes]) -> Counter[str]:
    return Counter(outcome.status for outcome in ingest_all(ledger, bodies))


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> None:
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    bodies = [line.rstrip(b"\r\n") for line in path.read_bytes().splitlines() if line.strip()]
    services = Services.open(settings)
    counts = _count_outcomes(services.ledger, bodies)
    services.runner.catch_up()
    _report_counts(counts, args.json)


def _report_counts(counts: Counter[str], as_json: bool) -> None:
    summary = {name: counts.get(name, 0) for name in ("recorded", "duplicate", "quarantined")}
    if as_json:
        print_json(summary)
    else:
        print_table(["recorded", "duplicate", "quarantined"], [list(summary.values())])


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    services = Services.open(settings)
    counts = _count_outcomes(services.ledger, [json.dumps(p).encode() for p in demo_deliveries()])
    services.runner.catch_up()
    _report_counts(counts, args.json)
    if not args.json:
        print("Try: ledger status user_bob   |   ledger timeline user_erin")


def cmd_timeline(settings: Settings, args: argparse.Namespace) -> None:
    services = Services.open(settings)
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


def cmd_status(settings: Settings, args: argparse.Namespace) -> None:
    services = Services.open(settings)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ledger", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(
        name: str, handler: Any, help_text: str, parent: Any = commands
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(name, help=help_text)
        sub.set_defaults(handler=handler)
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        return sub

    serve = command("serve", cmd_serve, "serve the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="API processes (one database)")
    serve.add_argument(
        "--no-projections",
        action="store_true",
        help="leave the read models to `ledger projections run`",
    )
    serve.add_argument("--access-log", action="store_true",
                       help="log every request (deliveries are in the ledger already; reads"
                            " of personal data in its access log)")  # fmt: skip
    command("ingest", cmd_ingest, "backfill deliveries, one JSON payload per line").add_argument(
        "file"
    )
    for name, handler in (("timeline", cmd_timeline), ("status", cmd_status)):
        sub = command(name, handler, f"a subject's {name}")
        sub.add_argument("ref", help="the subject's external_ref")
        sub.add_argument("--as-of", help="a position or an ISO-8601 instant with offset")
    projections = commands.add_parser("projections", help="read models").add_subparsers(
        dest="action", required=True
    )
    command("status", cli_projections.status, "each build's position, lag and state", projections)
    command("run", cli_projections.run, "keep the read models up to date here", projections)
    for name, handler, text in (
        ("rebuild", cli_projections.rebuild, "rebuild a read model from position 0"),
        ("diff", cli_projections.diff, "compare a read model's newest build with the previous"),
        ("drop", cli_projections.drop, "drop a read model's retired builds"),
    ):
        command(name, handler, text, projections).add_argument("name", help="read model name")
    quarantine = commands.add_parser("quarantine", help="unreadable deliveries").add_subparsers(
        dest="action", required=True
    )
    command("list", cli_quarantine.list_held, "held deliveries", quarantine).add_argument(
        "--all", action="store_true", help="include released ones"
    )
    command("replay", cli_quarantine.replay, "re-process held deliveries", quarantine)
    command("demo", cmd_demo, "load a realistic sample history")
    erase = command("erase", cli_privacy.erase, "erase personal data on request")
    target = erase.add_mutually_exclusive_group(required=True)
    target.add_argument("--session", help="a session id: its personal data and its documents'")
    target.add_argument("--subject", help="an external_ref: all of the subject's personal data")
    erase.add_argument("--reason", required=True, help="why; kept in the ledger")
    erase.add_argument("--by", help="who asked (default: your user name)")
    check = command("verify", cli_integrity.verify, "recompute the hash chain; exit 1 if broken")
    check.add_argument("--since", metavar="DIGEST_FILE",
                       help="also prove the ledger still extends this exported digest")  # fmt: skip
    command("digest", cli_integrity.digest, "export the hash chain's head").add_argument(
        "--output", metavar="FILE", help="write it to FILE (default: print it)"
    )
    return parser


def announce_generated(settings: Settings) -> None:
    """Generate the credentials nobody configured yet, and show them once."""
    try:
        credentials = load_credentials(settings, generate=True)
    except ValueError as error:
        raise CliError(f"credentials: {error}") from None
    generated = credentials.generated
    if not generated:
        return
    kept = settings.data_dir / "credentials.json"
    print(f"Generated credentials, kept in {kept} (mode 600):", file=sys.stderr)
    for secret in generated.get("webhook_secrets", []):
        print("  webhook secret:", secret, file=sys.stderr)
    for token, role in generated.get("api_tokens", {}).items():
        print(f"  {role} token: {token}", file=sys.stderr)
    if "master_key" in generated:
        print("  master key: kept there too; back it up: without it personal data is lost",
              file=sys.stderr)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        announce_generated(settings)
        args.handler(settings, args)
    except (CliError, ProjectionError, DigestFileError, ErasureError, ValidationError) as error:
        print(f"ledger: error: {error}", file=sys.stderr)
        return 2
    except PersistenceError as error:  # each step commits whole or not at all: rerun to go on
        print(f"ledger: database error: {error}; run the command again", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `ledger timeline REF | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
