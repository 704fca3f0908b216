"""Evidence bundles (DESIGN §7.2): a subject's status with the proof of every fact under it,
checked with nothing but the verifier key, and refused when anything in it was changed."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from application.ledger import Ledger
from application.reading.evidence import FORMAT, EvidenceError, verify_bundle
from application.transparency.checkpoints import SigningKey
from application.transparency.leaves import read_leaf
from cli.main import main
from tests.databases import NewDatabase
from tests.helpers import (
    SIGNING_KEY,
    STORAGE_EXAMPLES,
    LedgerClient,
    Payload,
    deliver_all,
    fresh_ledger,
    run_json,
    seed_examples,
)
from tests.strategies import REFS, histories

KEY = SIGNING_KEY.verifier


def user_456_history() -> list[Payload]:
    """Verifa's examples for one customer: sessions, checks, a case and documents, with the
    personal data a session and a document carry."""
    return [{**p, "external_ref": "user_456"} if "external_ref" in p else p
            for p in seed_examples()]  # fmt: skip


def evidence(client: LedgerClient, ref: str = "user_456", **params: Any) -> Any:
    answer = client.read(f"/subjects/{ref}/evidence", **params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_bundle_proves_the_status_the_api_answers(client: LedgerClient) -> None:
    for payload in user_456_history():
        assert client.deliver(payload).status_code == 200
    bundle = evidence(client)
    proved = verify_bundle(bundle, KEY)
    status = client.read("/subjects/user_456/status", as_of=bundle["as_of"]["position"]).json()
    assert bundle["status"] == {k: v for k, v in status.items() if k != "as_of"}
    timeline = client.read("/subjects/user_456/timeline", limit=1000).json()["events"]
    assert [e["position"] for e in bundle["entries"]] == [e["position"] for e in timeline]
    assert proved.entries == len(timeline) > 5
    assert not personal_values_in(bundle)  # sealed: safe to give anyone


def personal_values_in(bundle: dict[str, Any]) -> list[str]:
    """Verifa's example's personal values found in plain text anywhere in a bundle: its
    status, or its leaves' fields (the sealed ciphertext aside: random base64 may hold any
    short word)."""
    readable = [json.dumps(bundle["status"])]
    for entry in bundle["entries"]:
        fields = read_leaf(base64.b64decode(entry["leaf"]))
        state = fields["stored"]["state"]
        state.pop("sealed", None)
        state["body"] = json.loads(state["body"])  # its values as values, not escaped text
        readable.append(json.dumps(fields))
    text = "".join(readable)
    return [v for v in ('"Jane"', '"Doe"', "1990-05-15", "AB1234567") if v in text]


def test_a_bundle_as_of_a_past_point_holds_nothing_after_it(client: LedgerClient) -> None:
    for payload in user_456_history():
        client.deliver(payload)
    point = evidence(client)["entries"][3]["position"]
    past = evidence(client, as_of=point)
    assert past["as_of"]["position"] == point
    assert [e["position"] for e in past["entries"]][-1] == point
    verify_bundle(past, KEY)


def changed(bundle: dict[str, Any], change: Any) -> dict[str, Any]:
    tampered = copy.deepcopy(bundle)
    change(tampered)
    return tampered


def flip_leaf(bundle: dict[str, Any]) -> None:
    leaf = bytearray(base64.b64decode(bundle["entries"][1]["leaf"]))
    leaf[10] ^= 1
    bundle["entries"][1]["leaf"] = base64.b64encode(leaf).decode()


CHANGES = {
    "the status stated": (lambda b: b["status"]["aml"].update(restricted=True), "fold"),
    "an entry withheld": (lambda b: b["entries"].pop(2), "gaps"),
    "a leaf changed": (flip_leaf, "inclusion proof"),
    "a hash dropped": (lambda b: b["entries"][0]["hashes"].pop(), "inclusion proof"),
    "the point moved back": (lambda b: b["as_of"].update(position=1), "after the point"),
    "entries reordered": (lambda b: b["entries"].reverse(), "order"),
    "another checkpoint": (
        lambda b: b.update(checkpoint=b["checkpoint"].replace("\n", "\n1", 1)),
        "checkpoint",
    ),
}


@pytest.mark.parametrize("change", CHANGES, ids=list(CHANGES))
def test_a_changed_bundle_is_refused_naming_what_fails(client: LedgerClient, change: str) -> None:
    for payload in user_456_history():
        client.deliver(payload)
    bundle = evidence(client)
    how, named = CHANGES[change]
    with pytest.raises(EvidenceError, match=named):
        verify_bundle(changed(bundle, how), KEY)


def test_a_bundle_signed_by_another_key_is_refused(client: LedgerClient) -> None:
    client.deliver(user_456_history()[0])
    with pytest.raises(EvidenceError, match="signature"):
        verify_bundle(evidence(client), SigningKey.generate("ledger.test/log").verifier)


def test_a_bundle_still_verifies_after_the_subjects_erasure(client: LedgerClient) -> None:
    for payload in user_456_history():
        client.deliver(payload)
    before = evidence(client)
    erasure = {"event": "session.redacted", "session_id": "session_abc123", "is_sandbox": False,
               "external_ref": "user_456", "idempotency_key": "idk_erase"}  # fmt: skip
    assert client.deliver(erasure).json()["status"] == "recorded"
    verify_bundle(before, KEY)  # erasure destroys a key, never a leaf
    verify_bundle(evidence(client), KEY)


def test_unknown_subjects_and_bad_points_are_refused(client: LedgerClient) -> None:
    assert client.read("/subjects/nobody/evidence").status_code == 404
    assert client.get("/subjects/nobody/evidence").status_code == 401


@pytest.mark.usefixtures("cli_ledger")
def test_export_and_verify_offline_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle_file = tmp_path / "user_alice.json"
    assert main(["evidence", "export", "user_alice", "--output", str(bundle_file)]) == 0
    key = run_json(capsys, "evidence", "verify", str(bundle_file))
    assert key["ok"] and key["subject"] == "user_alice" and not key["key_given"]
    verifier = json.loads(bundle_file.read_text())["verifier_key"]
    monkeypatch.setenv("LEDGER_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")  # no store
    capsys.readouterr()
    assert main(["evidence", "verify", str(bundle_file), "--key", verifier]) == 0
    assert capsys.readouterr().out.startswith("ok: the status of user_alice")
    tampered = json.loads(bundle_file.read_text())
    tampered["entries"].pop(0)
    bundle_file.write_text(json.dumps(tampered))
    with pytest.raises(SystemExit) as exit_info:
        main(["evidence", "verify", str(bundle_file), "--key", verifier])
    assert exit_info.value.code == 1
    assert capsys.readouterr().out.startswith("FAILED: ")


def test_a_file_that_is_not_a_bundle_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No database, no credentials: `evidence verify` refuses garbage by name, never a crash."""
    key, lacking = str(KEY), json.dumps({"format": FORMAT, "entries": "x"}).encode()
    for content, code in ((b"\xff\xfe not json", 2), (b"[1, 2]", 1), (b'{"format": 7}', 1),
                          (lacking, 1)):  # fmt: skip
        bundle_file = tmp_path / "garbage.json"
        bundle_file.write_bytes(content)
        try:
            exit_code = main(["evidence", "verify", str(bundle_file), "--key", key])
        except SystemExit as exit_info:
            exit_code = int(exit_info.code or 0)
        assert exit_code == code, content
        out = capsys.readouterr()
        assert "Traceback" not in out.err and (out.out.startswith("FAILED") or "error" in out.err)


@STORAGE_EXAMPLES
@given(history=histories())
def test_every_subjects_bundle_verifies_at_every_point(
    new_database: NewDatabase, history: list[Payload]
) -> None:
    """The offline fold of a bundle's leaves is the ledger's own answer, for any history."""
    with fresh_ledger(new_database) as ledger:
        deliver_all(ledger, history)
        head = ledger.as_of().position
        for point in sorted({1, head // 2, head} - {0}):
            for subject in [*REFS, "external_ref:session:s3"]:
                found = ledger.evidence(subject, point, SIGNING_KEY)
                if found is not None:
                    verify_bundle(found, KEY)
                    assert found["status"] == answer_of(ledger, subject, point)


def answer_of(ledger: Ledger, subject: str, point: int) -> Any:
    doc = ledger.subject_status(subject, ledger.as_of(point))
    return {k: v for k, v in (doc or {}).items() if k != "as_of"}
