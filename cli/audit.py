"""`ledger audit URL --state DIR`: the monitor an auditor runs on their own machine (DESIGN §7.1).

Each run fetches the ledger's latest checkpoint, checks its signature with the
verifier key it trusts, proves it extends the last checkpoint it accepted, and
keeps it. It exits 1 on a bad signature, a fork (another history under the same
log) or a shrunken log; 2 if it cannot ask. It needs no database and trusts
nothing the server says that it cannot check.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, NoReturn

from application.transparency.checkpoints import Checkpoint, CheckpointError, VerifierKey
from application.transparency.merkle import ProofError, verify_consistency
from bootstrap.settings import Settings
from cli.errors import CliError

MAX_ANSWER_BYTES = 1024 * 1024


class Ledger:
    """The ledger's transparency routes, over HTTP with a bearer token."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url.rstrip("/"), token

    def get(self, path: str, **params: int) -> bytes:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        headers = {"Authorization": f"Bearer {self.token}"}
        request = urllib.request.Request(f"{self.url}{path}{query}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # the auditor's URL
                return bytes(answer.read(MAX_ANSWER_BYTES))
        except urllib.error.HTTPError as error:
            raise CliError(f"GET {path}: {error.code} {error.reason}") from None
        except (urllib.error.URLError, OSError) as error:
            raise CliError(f"cannot reach {self.url}: {error}") from None

    def consistency(self, first: int, second: int) -> list[bytes]:
        proof = self.get("/ledger/proof/consistency", **{"from": first, "to": second})
        answer: Any = json.loads(proof)
        return [base64.b64decode(h) for h in answer["hashes"]]


def _write(path: Path, text: str) -> None:
    draft = path.with_name(f".{path.name}.new")
    draft.write_text(text)
    os.replace(draft, path)


def _fail(message: str) -> NoReturn:
    print(f"FAILED: {message}")
    raise SystemExit(1)


def audit(settings: Settings, args: argparse.Namespace) -> None:
    token = args.token or os.environ.get("LEDGER_AUDIT_TOKEN", "")
    if not token:
        raise CliError("give a token of the ledger (--token or LEDGER_AUDIT_TOKEN)")
    state = Path(args.state)
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    ledger = Ledger(args.url, token)
    pinned_file, accepted_file = state / "verifier-key", state / "checkpoint"
    try:
        pinned = VerifierKey.parse(pinned_file.read_text()) if pinned_file.exists() else None
        given = VerifierKey.parse(args.key) if args.key else None
    except CheckpointError as error:
        raise CliError(f"the verifier key: {error}") from None
    if given and pinned and given != pinned:
        raise CliError(f"--key is not the key kept in {pinned_file}: a log keeps its key")
    key = given or pinned
    if key is None:
        try:
            key = VerifierKey.parse(ledger.get("/ledger/verifier-key").decode())
        except (CheckpointError, UnicodeDecodeError) as error:
            _fail(f"the ledger's verifier key: {error}")
        print(f"trusting the key the ledger gave, on first use: {key} (compare it with the one"
              " you were given, or pass --key)")  # fmt: skip
    if not pinned:
        _write(pinned_file, f"{key}\n")
    note = ledger.get("/ledger/checkpoint").decode("utf-8", "replace")
    try:
        latest = key.open(note)
    except CheckpointError as error:
        _fail(f"the latest checkpoint: {error}")
    try:
        earlier = key.open(accepted_file.read_text()) if accepted_file.exists() else None
    except CheckpointError as error:
        raise CliError(f"{accepted_file}: {error}") from None
    if earlier is not None:
        _check_extends(ledger, earlier, latest)
    _write(accepted_file, note)
    grew = f"grew from {earlier.size} to {latest.size}" if earlier else f"has {latest.size}"
    print(f"ok: the log {latest.origin} {grew} entries; checkpoint kept in {accepted_file}")


def _check_extends(ledger: Ledger, earlier: Checkpoint, latest: Checkpoint) -> None:
    if latest.size < earlier.size:
        _fail(f"the log shrank from {earlier.size} to {latest.size} entries")
    if latest.size == earlier.size:
        if latest.root != earlier.root:
            _fail(f"a fork: two different trees of {latest.size} entries were signed")
        return
    try:
        hashes = ledger.consistency(earlier.size, latest.size)
        verify_consistency(earlier.size, latest.size, hashes, earlier.root, latest.root)
    except (ProofError, ValueError, KeyError, TypeError) as error:
        _fail(f"a fork: the log of {latest.size} entries does not extend the one of"
              f" {earlier.size} accepted before ({error})")  # fmt: skip
