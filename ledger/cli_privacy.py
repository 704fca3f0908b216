"""`ledger erase` (personal data erased on request) and the access log of CLI reads (DESIGN §7)."""

from __future__ import annotations

import argparse
import getpass
import json
import uuid

from domain.personal_data import ERASURE_REQUESTED
from ledger.application import Delivery, Ledger
from ledger.clock import utc_now_iso
from ledger.services import Services
from ledger.settings import Settings
from ledger.tables import print_json


def record_cli_access(ledger: Ledger, subject: str, what: str) -> None:
    """A disclosure of personal data on the command line, logged under the OS user."""
    ledger.access_log.record(f"cli:{getpass.getuser()}", "admin", subject, what)


class ErasureError(Exception):
    """A request that names nothing the ledger knows, printed without a traceback."""


def erase(settings: Settings, args: argparse.Namespace) -> None:
    """Record who asked and why as a ledger event; its append destroys the keys."""
    if not args.reason.strip():
        raise ErasureError("--reason must say why (it is kept in the ledger)")
    services = Services.open(settings)
    ledger = services.ledger
    head = ledger.as_of()
    if args.subject and not ledger.history.subject_is_known(args.subject, head):
        raise ErasureError(f"no subject {args.subject!r} in the ledger")
    if args.session and not ledger.history.session_is_known(args.session):
        raise ErasureError(f"no session {args.session!r} in the ledger")
    target = {"external_ref": args.subject} if args.subject else {"session_id": args.session}
    payload = {
        "event": ERASURE_REQUESTED,
        **target,
        "requested_by": args.by or getpass.getuser(),
        "reason": args.reason,
        "requested_at": utc_now_iso(),
        "idempotency_key": f"erasure_{uuid.uuid4().hex}",
    }
    recorded = ledger.record(Delivery(json.dumps(payload), payload, payload["idempotency_key"]))
    erased = [k["scope"] for k in ledger.keyring.erased()
              if k["erased_position"] == recorded.position]  # fmt: skip
    if args.json:
        print_json({"position": recorded.position, "erased": erased})
    else:
        print(f"erasure recorded at position {recorded.position};"
              f" keys destroyed: {', '.join(erased) or 'none'}")  # fmt: skip
