"""`ledger verify` and `ledger digest`: prove the ledger was not changed behind its back."""

from __future__ import annotations

import argparse
from pathlib import Path

from application.integrity.verification import Digest
from application.transparency.checkpoints import CheckpointError, VerifierKey
from bootstrap.services import Services
from bootstrap.settings import Settings
from cli.errors import CliError
from cli.output import print_json


def _saved(path: str | None) -> tuple[Digest | None, str | None]:
    """What `--since` names: a checkpoint (a signed note) or an older chain digest (JSON)."""
    if path is None:
        return None, None
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"cannot read {path}: {error}") from None
    if text.lstrip().startswith("{"):
        try:
            return Digest.load(Path(path)), None
        except ValueError as error:
            raise CliError(str(error)) from None
    return None, text


def verify(settings: Settings, args: argparse.Namespace) -> None:
    """Recompute the chain and the tree; exit 1 if either is broken, naming where."""
    since, saved = _saved(args.since)
    with Services.open(settings) as services:
        try:
            verifier = VerifierKey.parse(args.key) if args.key else services.signing_key.verifier
        except CheckpointError as error:
            raise CliError(f"--key: {error}") from None
        result = services.ledger.verify(verifier, since, saved)
        chain = result.chain
        if args.json:
            print_json(result.as_dict())
        elif result.ok:
            extends = (f"; extends the digest at position {since.position}" if since
                       else "; extends the saved checkpoint" if saved else "")  # fmt: skip
            print(f"ok: {chain.checked} entries checked, head position {chain.head.position};"
                  f" tree of {result.tree_size} leaves, {result.checkpoints_checked} signed"
                  f" checkpoints checked{extends}")  # fmt: skip
        else:
            print(f"FAILED at position {chain.first_bad_position}: {chain.problem}"
                  f" (earlier entries intact: {chain.checked})")  # fmt: skip
        if not result.ok:
            raise SystemExit(1)


def digest(settings: Settings, args: argparse.Namespace) -> None:
    """The latest signed checkpoint, for `verify --since` or an auditor; only from a ledger
    that verifies (a checkpoint of a ledger changed behind its back would prove nothing)."""
    with Services.open(settings) as services:
        result = services.ledger.verify(services.signing_key.verifier)
        if not result.ok:
            print(f"FAILED at position {result.chain.first_bad_position}: {result.chain.problem};"
                  " no checkpoint exported")  # fmt: skip
            raise SystemExit(1)
        issued = services.ledger.checkpoints.issue(services.signing_key)
        if args.output:
            Path(args.output).write_text(issued.note)
            print(f"wrote {args.output}: the checkpoint of {issued.tree_size} entries")
        else:
            print(issued.note, end="")
