"""Signed checkpoints and proofs (DESIGN §7.1), as an auditor who trusts only the verifier key
checks them: the signed note's bytes as C2SP writes them, and RFC 9162 proofs."""

from __future__ import annotations

import base64
import hashlib
import itertools
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from application.ledger import Ledger
from application.transparency.checkpoints import (
    Checkpoint,
    CheckpointError,
    SigningKey,
    VerifierKey,
)
from application.transparency.merkle import (
    EMPTY_ROOT,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from bootstrap.services import Services
from tests.databases import NewDatabase
from tests.helpers import MASTER_KEY, SIGNING_KEY, LedgerClient, session_event


def test_a_note_is_signed_as_c2sp_says() -> None:
    """Checked by hand, with the Ed25519 primitive only: the key id, the note's layout and
    the signature over the checkpoint's body."""
    note = SIGNING_KEY.sign(Checkpoint("ledger.test/log", 3, b"\x07" * 32))
    body, signature_line = note.split("\n\n")
    assert body + "\n" == "ledger.test/log\n3\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"
    dash, name, encoded = signature_line.rstrip("\n").split(" ")
    assert (dash, name) == ("\u2014", "ledger.test/log")
    signed = base64.b64decode(encoded)
    name_, key_id, key = str(SIGNING_KEY.verifier).split("+", 2)
    public = base64.b64decode(key)[1:]
    assert name_ == "ledger.test/log"
    assert signed[:4] == bytes.fromhex(key_id)
    assert signed[:4] == hashlib.sha256(b"ledger.test/log\n\x01" + public).digest()[:4]
    Ed25519PublicKey.from_public_bytes(public).verify(signed[4:], (body + "\n").encode())
    assert SIGNING_KEY.verifier.open(note) == Checkpoint("ledger.test/log", 3, b"\x07" * 32)


def test_a_note_that_was_changed_or_signed_by_another_key_is_refused() -> None:
    note = SIGNING_KEY.sign(Checkpoint("ledger.test/log", 3, b"\x07" * 32))
    verifier = SIGNING_KEY.verifier
    for changed in (note.replace("\n3\n", "\n4\n"), note.replace("Bwc", "Bwd", 1),
                    note.replace("\n\n", "\n"), note[:-3] + "AA\n", ""):  # fmt: skip
        with pytest.raises(CheckpointError):
            verifier.open(changed)
    impostor = SigningKey.generate("ledger.test/log")
    with pytest.raises(CheckpointError, match="signature"):
        verifier.open(impostor.sign(Checkpoint("ledger.test/log", 3, b"\x07" * 32)))
    with pytest.raises(CheckpointError):
        VerifierKey.parse(str(verifier).replace("+26bbe801+", "+26bbe802+"))


def test_a_malformed_note_is_a_clear_error_never_a_crash() -> None:
    verifier = SIGNING_KEY.verifier
    huge = SIGNING_KEY.sign(Checkpoint("ledger.test/log", 3, b"\x07" * 32)).replace(
        "\n3\n", "\n" + "9" * 5000 + "\n"
    )
    for note in (huge, "\x00" * 10, "a\n\n\u2014 x y\n", "x" * 100_000, "\n\n\n"):
        with pytest.raises(CheckpointError):
            verifier.open(note)
    with pytest.raises(CheckpointError):
        Checkpoint.parse("ledger.test/log\n" + "1" * 20 + "\nAAAA\n")


def test_keys_round_trip_and_never_print() -> None:
    assert str(SigningKey.parse(str(SIGNING_KEY))) == str(SIGNING_KEY)
    assert VerifierKey.parse(str(SIGNING_KEY.verifier)) == SIGNING_KEY.verifier
    assert str(SIGNING_KEY).rsplit("+", 1)[1] not in repr(SIGNING_KEY)
    with pytest.raises(CheckpointError):
        SigningKey.generate("has a space")


def deliver(client: LedgerClient, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        body = session_event(session_id=f"s{n}", ref=f"u{n % 3}", key=f"k{n}")
        assert client.deliver(body).json()["status"] == "recorded"


def consistency(client: LedgerClient, first: int, second: int) -> Any:
    return client.get("/ledger/proof/consistency", params={"from": first, "to": second},
                      headers={"Authorization": "Bearer auditor-token"})  # fmt: skip


def checkpoint(client: LedgerClient) -> Checkpoint:
    verifier = VerifierKey.parse(client.read("/ledger/verifier-key").text)
    return verifier.open(client.read("/ledger/checkpoint").text)


def test_a_checkpoint_covers_every_acknowledged_entry_and_each_is_proved_in_it(
    client: LedgerClient,
) -> None:
    deliver(client, 5)
    signed = checkpoint(client)
    assert (signed.origin, signed.size, signed.access_log) == (
        "ledger.test/log",
        5,
        (0, EMPTY_ROOT),
    )
    for position in range(1, 6):
        proof = client.read("/ledger/proof/inclusion", position=position).json()
        assert proof["tree_size"] == 5 and proof["position"] == position
        leaf = base64.b64decode(proof["leaf"])
        assert f'"position":{position},'.encode() in leaf
        hashes = [base64.b64decode(h) for h in proof["hashes"]]
        verify_inclusion(leaf_hash(leaf), proof["leaf_index"], 5, hashes, signed.root)


def test_a_later_checkpoint_is_proved_to_extend_an_earlier_one(client: LedgerClient) -> None:
    deliver(client, 3)
    first = checkpoint(client)
    assert checkpoint(client) == first  # nothing new: the same checkpoint, not another
    deliver(client, 4, start=3)
    second = checkpoint(client)
    assert second.size == 7
    proof = consistency(client, 3, 7).json()
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    verify_consistency(3, 7, hashes, first.root, second.root)
    listed = client.read("/ledger/checkpoints").json()["checkpoints"]
    assert [c["tree_size"] for c in listed] == [3, 7]
    after_first = client.read("/ledger/checkpoints", after=listed[0]["id"]).json()["checkpoints"]
    assert [c["tree_size"] for c in after_first] == [7]


def test_proofs_refuse_what_the_log_does_not_hold(client: LedgerClient) -> None:
    deliver(client, 2)
    assert client.read("/ledger/proof/inclusion", position=9).status_code == 404
    assert client.read("/ledger/proof/inclusion", position=1, tree_size=9).status_code == 404
    assert client.read("/ledger/proof/inclusion", position=2, tree_size=1).status_code == 404
    assert consistency(client, 3, 2).status_code == 404
    assert client.get("/ledger/checkpoint").status_code == 401


def test_checkpoints_asked_for_at_once_are_all_consistent(client: LedgerClient) -> None:
    services: Services = client.services
    deliver(client, 2)

    def sign_after_delivering(n: int) -> int:
        deliver(client, 1, start=100 + n)
        return services.ledger.checkpoints.issue(services.signing_key).tree_size

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(sign_after_delivering, range(16)))
    issued = services.ledger.checkpoints.list()
    verifier = SIGNING_KEY.verifier
    opened = [verifier.open(c.note) for c in issued]
    for earlier, later in itertools.pairwise(opened):
        proof = consistency(client, earlier.size, later.size).json()
        hashes = [base64.b64decode(h) for h in proof["hashes"]]
        verify_consistency(earlier.size, later.size, hashes, earlier.root, later.root)
    assert opened[-1].size == 18


GOLDEN_NOTE = (
    "ledger.test/log\n3\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    "access-log 2 ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\n\n"
    "\u2014 ledger.test/log JrvoATwpz7mnBIxLeu79RUDSzTM6XsCKbs56JUK1ZDD89j6LvDLXgxztNCUpmj1Y7sfD"
    "/z1xMIlmQ9TAL9FgAcI/mgA=\n"
)


def test_the_golden_checkpoint_is_signed_byte_for_byte() -> None:
    """Ed25519 signs deterministically: the test key's note of this checkpoint never changes,
    and one kept from an earlier version still opens with the verifier key."""
    checkpoint = Checkpoint.with_access_log("ledger.test/log", 3, bytes(range(32)),
                                            (2, bytes(range(32, 64))))  # fmt: skip
    assert SIGNING_KEY.sign(checkpoint) == GOLDEN_NOTE
    assert str(SIGNING_KEY.verifier) == (
        "ledger.test/log+26bbe801+AVDowQ5jdVyp/i6+UaSc1j/01Ws19f/kbH7lTzK/0yEL"
    )
    opened = SIGNING_KEY.verifier.open(GOLDEN_NOTE)
    assert opened == checkpoint and opened.access_log == (2, bytes(range(32, 64)))


def test_processes_signing_at_once_never_sign_two_that_disagree(
    new_database: NewDatabase,
) -> None:
    """Four processes, each appending and signing in turn as fast as it can."""
    url = new_database()
    Ledger.open(url, master_key=MASTER_KEY).close()  # the tables, once
    script = (
        "import json, sys\n"
        "from application.ledger import Ledger\n"
        "from tests.helpers import MASTER_KEY, SIGNING_KEY, session_event\n"
        "ledger = Ledger.open(sys.argv[1], master_key=MASTER_KEY)\n"
        "for n in range(15):\n"
        "    name = f'{sys.argv[2]}_{n}'\n"
        "    body = session_event(session_id=f's{name}', ref='u1', key=f'k{name}')\n"
        "    ledger.ingest(json.dumps(body).encode(), None)\n"
        "    ledger.checkpoints.issue(SIGNING_KEY)\n"
        "ledger.close()\n"
    )
    runs = [subprocess.Popen([sys.executable, "-c", script, url, str(n)], stderr=subprocess.PIPE)
            for n in range(4)]  # fmt: skip
    errors = [run.communicate(timeout=120)[1].decode() for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, errors
    ledger = Ledger.open(url, master_key=MASTER_KEY)
    try:
        opened = [SIGNING_KEY.verifier.open(c.note) for c in ledger.checkpoints.list(limit=100)]
        with ledger.database.reading() as uow:
            for earlier, later in itertools.pairwise(opened):
                assert earlier.size <= later.size
                proof = ledger.transparency.consistency_proof(uow, earlier.size, later.size)
                verify_consistency(earlier.size, later.size, proof, earlier.root, later.root)
        assert opened[-1].size == 60
        assert ledger.verify(SIGNING_KEY.verifier).ok
    finally:
        ledger.close()
