"""`ledger erase`: personal data erased on request; and the access log of CLI reads (DESIGN §7)."""

from __future__ import annotations

import argparse
import getpass

from application.ledger import Ledger, NothingToErase
from bootstrap.services import Services
from bootstrap.settings import Settings
from cli.errors import CliError
from cli.output import print_json


def record_cli_access(ledger: Ledger, subject: str, what: str) -> None:
    """A disclosure of personal data on the command line, logged under the OS user."""
    ledger.access_log.record(f"cli:{getpass.getuser()}", "admin", subject, what)


def erase(settings: Settings, args: argparse.Namespace) -> None:
    """Record who asked and why as a ledger event; its append destroys the keys."""
    if not args.reason.strip():
        raise CliError("--reason must say why (it is kept in the ledger)")
    with Services.open(settings) as services:
        try:
            done = services.ledger.request_erasure(
                reason=args.reason, requested_by=args.by or getpass.getuser(),
                subject=args.subject, session=args.session,
            )  # fmt: skip
        except NothingToErase as error:
            raise CliError(str(error)) from None
        if args.json:
            print_json({"position": done.position, "erased": done.erased_scopes})
        else:
            print(f"erasure recorded at position {done.position};"
                  f" keys destroyed: {', '.join(done.erased_scopes) or 'none'}")  # fmt: skip
