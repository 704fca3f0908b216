"""`ledger`: serve the API, backfill deliveries, and read the ledger from a terminal (DESIGN §8)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import PersistenceError
from pydantic import ValidationError

from bootstrap.credentials import load_credentials
from bootstrap.settings import Settings
from cli import (
    audit,
    backfill,
    evidence,
    integrity,
    privacy,
    projections,
    quarantine,
    server,
    subjects,
)
from cli.errors import CliError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ledger", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(
        name: str, handler: Any, help_text: str, parent: Any = commands, *, secrets: bool = True
    ) -> argparse.ArgumentParser:
        """A subcommand; `secrets`: whether it needs credentials (generated if missing)."""
        sub: argparse.ArgumentParser = parent.add_parser(name, help=help_text)
        sub.set_defaults(handler=handler, needs_credentials=secrets)
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        return sub

    serve = command("serve", server.serve, "serve the HTTP API")
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
    command(
        "ingest", backfill.ingest, "backfill deliveries, one JSON payload per line"
    ).add_argument("file")
    for name, handler in (("timeline", subjects.timeline), ("status", subjects.status)):
        sub = command(name, handler, f"a subject's {name}")
        sub.add_argument("ref", help="the subject's external_ref")
        sub.add_argument("--as-of", help="a position or an ISO-8601 instant with offset")
    read_models = commands.add_parser("projections", help="read models").add_subparsers(
        dest="action", required=True
    )
    # Read models need no secret (`Services.for_projections`).
    command("status", projections.status, "each build's position, lag and state", read_models,
            secrets=False)  # fmt: skip
    command("run", projections.run, "keep the read models up to date here", read_models,
            secrets=False)  # fmt: skip
    retry = command("retry", projections.retry, "apply the rows read models set aside",
                    read_models, secrets=False)  # fmt: skip
    retry.add_argument("name", nargs="?", help="read model name (default: every one)")
    for name, handler, text in (
        ("rebuild", projections.rebuild, "rebuild a read model from position 0"),
        ("diff", projections.diff, "compare a read model's newest build with the previous"),
        ("drop", projections.drop, "drop a read model's retired builds"),
    ):
        command(name, handler, text, read_models, secrets=False).add_argument(
            "name", help="read model name"
        )
    held = commands.add_parser("quarantine", help="unreadable deliveries").add_subparsers(
        dest="action", required=True
    )
    command("list", quarantine.list_held, "held deliveries", held).add_argument(
        "--all", action="store_true", help="include released ones"
    )
    command("replay", quarantine.replay, "re-process held deliveries", held)
    command("demo", backfill.demo, "load a realistic sample history")
    erase = command("erase", privacy.erase, "erase personal data on request")
    target = erase.add_mutually_exclusive_group(required=True)
    target.add_argument("--session", help="a session id: its personal data and its documents'")
    target.add_argument("--subject", help="an external_ref: all of the subject's personal data")
    erase.add_argument("--reason", required=True, help="why; kept in the ledger")
    erase.add_argument("--by", help="who asked (default: your user name)")
    check = command("verify", integrity.verify,
                    "recompute every entry's digest and leaf, and every checkpoint's root;"
                    " exit 1 naming the first entry that no longer matches")  # fmt: skip
    check.add_argument("--since", metavar="CHECKPOINT_FILE",
                       help="also prove the log still extends this saved checkpoint (from"
                       " `ledger digest`; an older digest file works too)")  # fmt: skip
    check.add_argument(
        "--key",
        metavar="VERIFIER_KEY",
        help="check checkpoints with this verifier key (default: the ledger's)",
    )
    command("digest", integrity.digest, "export the latest signed checkpoint").add_argument(
        "--output", metavar="FILE", help="write it to FILE (default: print it)"
    )
    proofs = commands.add_parser("evidence", help="evidence bundles").add_subparsers(
        dest="action", required=True
    )
    exported = command("export", evidence.export, "a subject's status with the proof of each"
                       " entry under it, as of a point", proofs)  # fmt: skip
    exported.add_argument("ref", help="the subject's external_ref")
    exported.add_argument("--as-of", help="a position or an ISO-8601 instant with offset")
    exported.add_argument("--output", metavar="FILE", required=True)
    checked = command("verify", evidence.verify, "check a bundle offline: no database, no"
                      " server; exit 1 naming what fails", proofs, secrets=False)  # fmt: skip
    checked.add_argument("file")
    checked.add_argument(
        "--key",
        metavar="VERIFIER_KEY",
        help="the log's verifier key, as you got it from the ledger's owner",
    )
    monitor = command("audit", audit.audit, "an auditor's monitor: fetch the latest"
                      " checkpoint, check it extends the one accepted before, keep it",
                      secrets=False)  # fmt: skip
    monitor.add_argument("url", help="the ledger's base URL, e.g. https://ledger.example")
    monitor.add_argument(
        "--state",
        required=True,
        metavar="DIR",
        help="where the key and the last checkpoint accepted are kept",
    )
    monitor.add_argument("--key", metavar="VERIFIER_KEY", help="the log's verifier key")
    monitor.add_argument("--token", help="a token of the ledger (or LEDGER_AUDIT_TOKEN)")
    return parser


def announce_generated(settings: Settings) -> None:
    """Generate the credentials nobody configured yet, and show them once, on a terminal.

    Where stderr is not a terminal (a log file, a journal, a CI log), secrets would
    outlive the moment: then only the file that keeps them is named.
    """
    try:
        credentials = load_credentials(settings, generate=True)
    except ValueError as error:
        raise CliError(f"credentials: {error}") from None
    generated = credentials.generated
    if not generated:
        return
    kept = settings.data_dir / "credentials.json"
    backup = "back up the master key: without it personal data is lost"
    if not sys.stderr.isatty():
        print(f"Generated credentials, kept in {kept} (mode 600): read them there (they are"
              f" shown on a terminal only){'; ' + backup if 'master_key' in generated else ''}",
              file=sys.stderr)  # fmt: skip
        return
    print(f"Generated credentials, kept in {kept} (mode 600):", file=sys.stderr)
    for secret in generated.get("webhook_secrets", []):
        print("  webhook secret:", secret, file=sys.stderr)
    for token, role in generated.get("api_tokens", {}).items():
        print(f"  {role} token: {token}", file=sys.stderr)
    if "master_key" in generated:
        print("  master key: kept there too;", backup, file=sys.stderr)
    if credentials.signing_key and "signing_key" in generated:
        print("  log signing key: kept there too; its verifier key, for auditors:",
              credentials.signing_key.verifier, file=sys.stderr)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        if args.needs_credentials:
            announce_generated(settings)
        args.handler(settings, args)
    except (CliError, ValidationError) as error:
        print(f"ledger: error: {error}", file=sys.stderr)
        return 2
    except PersistenceError as error:  # each step commits whole or not at all: rerun to go on
        print(f"ledger: database error: {error}; run the command again", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `ledger timeline REF | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0
