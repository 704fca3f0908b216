"""Evidence bundles (DESIGN §7.2): an answer about a subject, with proof of every fact under it.

A bundle holds the subject's status as of a point, every entry of its timeline
up to that point as a leaf with its inclusion proof, and the signed checkpoint
the proofs lead to. `verify_bundle` needs nothing else (no database, no server):
it checks the signature with the verifier key, every proof, that no entry passes
the point and that each stream's versions run without a gap (no entry of a
stream withheld), then folds the leaves with the domain's rules and compares the
result with the status the bundle states. A regulator can check it years later.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from application.reading.history import History
from application.reading.views import Doc, subject_view
from application.storage.unit_of_work import UnitOfWork
from application.transparency.checkpoints import CheckpointError, VerifierKey
from application.transparency.leaves import read_leaf
from application.transparency.log import TransparencyLog
from application.transparency.merkle import ProofError, leaf_hash, verify_inclusion
from domain.entries import AsOf, LedgerEntry, StreamKey
from domain.subject import fold_subject

FORMAT = "compliance-ledger evidence bundle v1"


class EvidenceError(ValueError):
    """A bundle that does not prove what it states, with what fails."""


@dataclass(frozen=True)
class Proved:
    """What a bundle that verifies proves."""

    subject: str
    as_of: dict[str, Any]
    entries: int
    tree_size: int
    origin: str


class TooMuchEvidence(Exception):
    """More entries than one answer may prove (the CLI's export has no limit)."""


def subject_entries(
    history: History, subject: str, as_of: AsOf, limit: int | None = None
) -> tuple[Doc, list[int]] | None:
    """The subject's status as of the point and its timeline's positions (None: unknown);
    `TooMuchEvidence` past `limit` entries."""
    if not history.timelines.subject_is_known(subject, as_of):
        return None
    entries = history.timelines.subject_history(
        subject, as_of, limit=None if limit is None else limit + 1
    )
    if limit is not None and len(entries) > limit:
        raise TooMuchEvidence(f"the subject has over {limit} entries as of {as_of.position}")
    shared = history.links.shared_identity_with(subject, as_of)
    return subject_view(fold_subject(subject, entries, shared)), [e.position for e in entries]


def bundle(
    uow: UnitOfWork, log: TransparencyLog, subject: str, as_of: AsOf, status: Doc,
    positions: list[int], note: str, tree_size: int, verifier: VerifierKey,
) -> dict[str, Any]:  # fmt: skip
    """The bundle of a subject's status and entries, proved against the checkpoint `note`
    of `tree_size` leaves (one issued after the entries were read: it holds them all)."""
    found = log.leaves(uow, positions)
    leaves = [found[p] for p in positions]
    proofs = log.inclusion_proofs(uow, [leaf.leaf_index for leaf in leaves], tree_size)
    entries = [{"position": leaf.position, "leaf_index": leaf.leaf_index, "leaf": _b64(leaf.leaf),
                "hashes": [_b64(h) for h in hashes]}
               for leaf, hashes in zip(leaves, proofs, strict=True)]  # fmt: skip
    return {"format": FORMAT, "subject": subject, "as_of": as_of.as_dict(), "checkpoint": note,
            "verifier_key": str(verifier), "entries": entries, "status": status}  # fmt: skip


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _unb64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise EvidenceError(f"{what} is not base64") from None


def verify_bundle(data: Any, key: VerifierKey) -> Proved:
    """Check a bundle with nothing but the verifier key; raise `EvidenceError` naming the
    first thing that fails."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise EvidenceError(f"not an evidence bundle ({FORMAT!r})")
    try:
        subject, as_of, status = str(data["subject"]), data["as_of"], data["status"]
        point = int(as_of["position"])
        checkpoint = key.open(str(data["checkpoint"]))
        raw_entries = list(data["entries"])
    except CheckpointError as error:
        raise EvidenceError(f"the checkpoint: {error}") from None
    except (KeyError, TypeError, ValueError) as error:
        raise EvidenceError(f"the bundle lacks or garbles a field: {error}") from None
    entries, versions = [], defaultdict(list)
    last = 0
    for n, raw in enumerate(raw_entries):
        what = f"entry {n} (position {raw.get('position') if isinstance(raw, dict) else '?'})"
        try:
            position, index = int(raw["position"]), int(raw["leaf_index"])
            leaf = _unb64(raw["leaf"], f"{what}: its leaf")
            hashes = [_unb64(h, f"{what}: a hash") for h in raw["hashes"]]
            verify_inclusion(leaf_hash(leaf), index, checkpoint.size, hashes, checkpoint.root)
            fields = read_leaf(leaf)
        except ProofError as error:
            raise EvidenceError(f"{what}: its inclusion proof fails: {error}") from None
        except (KeyError, TypeError, ValueError) as error:
            raise EvidenceError(f"{what}: {error}") from None
        if fields["position"] != position:
            raise EvidenceError(f"{what}: its leaf is the entry at {fields['position']}")
        if position > point:
            raise EvidenceError(f"{what}: it comes after the point the bundle is as of")
        if position <= last:
            raise EvidenceError(f"{what}: entries are not in position order")
        last = position
        versions[fields["stream"]["id"]].append(fields["stream"]["version"])
        entries.append(_entry(fields))
    for stream, seen in versions.items():
        if seen != list(range(1, len(seen) + 1)):
            raise EvidenceError(f"stream {stream}: versions {seen} have gaps: entries withheld")
    shared = list(status.get("verification", {}).get("shared_identity_with", []))
    folded = subject_view(fold_subject(subject, entries, shared))
    stated = {k: v for k, v in status.items() if k != "as_of"}
    if folded != stated:
        differing = sorted(k for k in folded.keys() | stated.keys()
                           if folded.get(k) != stated.get(k))  # fmt: skip
        raise EvidenceError(f"the entries fold to another status: {', '.join(differing)} differ")
    return Proved(subject, as_of, len(entries), checkpoint.size, checkpoint.origin)


def _entry(fields: dict[str, Any]) -> LedgerEntry:
    """A leaf as the domain's fold reads an entry (personal data sealed, as stored)."""
    state = fields["stored"]["state"]
    return LedgerEntry(
        position=fields["position"],
        recorded_at=fields["recorded_at"],
        event_type=fields["event"],
        idempotency_key=fields["idempotency_key"],
        stream=StreamKey(fields["aggregate"]["type"], fields["aggregate"]["id"]),
        payload=json.loads(state["body"]),
        scope=state.get("scope"),
    )
