"""`ledger evidence export|verify`: a subject's status with the proof of every fact under it.

`verify` opens no database and needs no server or credentials: a regulator runs
it on their own machine with the bundle and the verifier key.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from application.reading.as_of import parse_point
from application.reading.evidence import EvidenceError, verify_bundle
from application.transparency.checkpoints import CheckpointError, VerifierKey
from bootstrap.services import Services
from bootstrap.settings import Settings
from cli.errors import CliError
from cli.output import print_json


def export(settings: Settings, args: argparse.Namespace) -> None:
    try:
        point = parse_point(args.as_of)
    except ValueError as error:
        raise CliError(str(error)) from None
    with Services.open(settings) as services:
        found = services.ledger.evidence(args.ref, point, services.signing_key)
    if found is None:
        raise CliError(f"no subject {args.ref!r} as of that point")
    Path(args.output).write_text(json.dumps(found, indent=1) + "\n")
    print(f"wrote {args.output}: {len(found['entries'])} entries of {args.ref} as of position"
          f" {found['as_of']['position']}, proved against a checkpoint of"
          f" {found['checkpoint'].split(chr(10))[1]} entries")  # fmt: skip


def verify(settings: Settings, args: argparse.Namespace) -> None:
    """Exit 0 if the bundle proves its status, else 1 naming what fails."""
    try:
        data = json.loads(Path(args.file).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise CliError(f"cannot read {args.file} as JSON: {error}") from None
    trusted = args.key is not None
    try:
        key_text = args.key or (data.get("verifier_key") if isinstance(data, dict) else None)
        key = VerifierKey.parse(str(key_text))
    except CheckpointError as error:
        raise CliError(f"the verifier key: {error}") from None
    try:
        proved = verify_bundle(data, key)
    except EvidenceError as error:
        if args.json:
            print_json({"ok": False, "problem": str(error)})
        else:
            print(f"FAILED: {error}")
        raise SystemExit(1) from None
    if args.json:
        print_json({"ok": True, "subject": proved.subject, "as_of": proved.as_of,
                    "entries": proved.entries, "tree_size": proved.tree_size,
                    "log": proved.origin, "key_given": trusted})  # fmt: skip
        return
    print(f"ok: the status of {proved.subject} as of position {proved.as_of['position']} follows"
          f" from its {proved.entries} entries, each proved in the log {proved.origin} of"
          f" {proved.tree_size} entries")  # fmt: skip
    if not trusted:
        print("note: checked with the key the bundle names; pass --key with the verifier key"
              " you hold to know the ledger signed it")  # fmt: skip
