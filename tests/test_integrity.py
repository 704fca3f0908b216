"""Tamper evidence (DESIGN §7): changes made behind the ledger's back are found and named."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from application.integrity.chain import GENESIS, entry_digest
from application.integrity.verification import Digest
from application.ledger import Ledger
from application.storage.schema import INDEX_FIELDS
from cli.main import main
from tests.helpers import MASTER_KEY, MASTER_KEY_TEXT, LedgerClient, deliver_all, session_event

pytestmark = pytest.mark.usefixtures("leaf_hashing")


def session_created(n: int) -> dict[str, Any]:
    return session_event(session_id=f"s{n}", ref=f"u{n % 4}", key=f"k{n}")


@pytest.fixture
def recorded(ledger: Ledger) -> Ledger:
    deliver_all(ledger, [session_created(n) for n in range(12)])
    return ledger


GOLDEN_ROW = (7, "2026-11-29T12:00:00.000001+00:00", 'idk_ünï "q" \\ 1', "session.approved",
              1, "applicant", "user_☃", "0123456789abcdef0123456789abcdef", 2, "sess_1",
              None)  # fmt: skip
GOLDEN_STATE = b'{"body":"x"}'


def test_the_chain_hashes_the_byte_format_it_always_has() -> None:
    """Digests already stored must keep verifying: the bytes hashed never change. They are an
    8-byte big-endian length, compact ASCII-only JSON of the header, then the state as stored."""
    originator = UUID("12345678-1234-5678-1234-567812345678")
    header = (
        '["' + "ab" * 32 + '",6,7,"2026-11-29T12:00:00.000001+00:00",'
        '"idk_\\u00fcn\\u00ef \\"q\\" \\\\ 1","session.approved",1,"applicant",'
        '"user_\\u2603","0123456789abcdef0123456789abcdef",2,"sess_1",null,'
        '"12345678123456781234567812345678",2,"verifa-ledger:Applicant.Recorded"]'
    ).encode()
    hashed = len(header).to_bytes(8, "big") + header + GOLDEN_STATE
    digest = entry_digest("ab" * 32, 6, GOLDEN_ROW, originator, 2,
                          "verifa-ledger:Applicant.Recorded", GOLDEN_STATE)  # fmt: skip
    assert digest == hashlib.sha256(hashed).hexdigest()
    assert digest == "5ca16dbeddfa3bc9c5287cbb766c39a0c492ba11945f42c57dc7306bdef44913"
    assert entry_digest("ab" * 32, 6, GOLDEN_ROW, str(originator).upper(), 2,
                        "verifa-ledger:Applicant.Recorded", GOLDEN_STATE) == digest  # fmt: skip


def execute(ledger: Ledger, statement: str, *params: Any) -> list[Any]:
    """Change the database directly, as someone with access to its files could."""
    sql = ledger.database.sql
    statement = statement.format(events=sql.events_table, position=sql.position_column)
    with ledger.database.datastore.transaction(commit=True) as c:
        c.execute(sql(statement), params)
        return list(c.fetchall()) if statement.startswith("SELECT") else []


def stored_state(ledger: Ledger, position: int) -> bytes:
    [row] = execute(ledger, "SELECT state FROM {events} WHERE {position}=?", position)
    return bytes(row["state"])


def test_an_untouched_ledger_verifies(recorded: Ledger) -> None:
    result = recorded.chain.verify()
    assert (result.ok, result.checked, result.head) == (True, 12, recorded.chain.head())
    assert result.head.position == 12 and result.head.digest != GENESIS


def test_a_flipped_byte_in_a_stored_event_is_named(recorded: Ledger) -> None:
    state = bytearray(stored_state(recorded, 5))
    state[len(state) // 2] ^= 0x01
    execute(recorded, "UPDATE {events} SET state=? WHERE {position}=?", bytes(state), 5)
    result = recorded.chain.verify()
    assert (result.ok, result.first_bad_position, result.checked) == (False, 5, 4)
    assert result.problem == "the stored entry was changed"


def test_a_changed_index_row_is_named(recorded: Ledger) -> None:
    execute(recorded, "UPDATE ledger_entries SET recorded_at=? WHERE position=?", "2020-01-01", 8)
    assert recorded.chain.verify().first_bad_position == 8


@pytest.mark.parametrize("tables", [("events", "index"), ("events",), ("index",)])
def test_a_deleted_row_is_named(recorded: Ledger, tables: tuple[str, ...]) -> None:
    if "events" in tables:
        execute(recorded, "DELETE FROM {events} WHERE {position}=?", 7)
    if "index" in tables:
        execute(recorded, "DELETE FROM ledger_entries WHERE position=?", 7)
    result = recorded.chain.verify()
    assert (result.ok, result.first_bad_position) == (False, 7)
    assert result.problem is not None and "deleted" in result.problem


def test_two_swapped_rows_are_named(recorded: Ledger) -> None:
    columns = "originator_id, originator_version, topic, state"
    [three] = execute(recorded, f"SELECT {columns} FROM {{events}} WHERE {{position}}=?", 3)
    [nine] = execute(recorded, f"SELECT {columns} FROM {{events}} WHERE {{position}}=?", 9)
    swap = ("UPDATE {events} SET originator_id=?, originator_version=?, topic=?, state=?"
            " WHERE {position}=?")  # fmt: skip
    execute(recorded, "UPDATE {events} SET originator_version=-1 WHERE {position}=?", 3)
    execute(recorded, swap, *[three[c.strip()] for c in columns.split(",")], 9)
    execute(recorded, swap, *[nine[c.strip()] for c in columns.split(",")], 3)
    result = recorded.chain.verify()
    assert (result.ok, result.first_bad_position) == (False, 3)


def rewrite_chain(ledger: Ledger) -> None:
    """What someone covering their tracks would do: recompute every digest after a change."""
    rows = execute(ledger, "SELECT s.originator_id, s.originator_version, s.topic, s.state, e.*"
                   " FROM {events} s JOIN ledger_entries e ON e.position = s.{position}"
                   " ORDER BY e.position")  # fmt: skip
    previous = Digest(0, GENESIS)
    for row in rows:
        digest = entry_digest(previous.digest, previous.position,
                              [row[f] for f in INDEX_FIELDS], row["originator_id"],
                              row["originator_version"], row["topic"], row["state"])  # fmt: skip
        execute(ledger, "UPDATE ledger_entries SET digest=? WHERE position=?",
                digest, row["position"])  # fmt: skip
        previous = Digest(row["position"], digest)


def test_a_rewritten_chain_no_longer_extends_an_exported_digest(recorded: Ledger) -> None:
    exported = recorded.chain.head()
    deliver_all(recorded, [session_created(n) for n in range(12, 15)])
    assert recorded.chain.verify(since=exported).ok  # history only grew
    state = stored_state(recorded, 6).replace(b"session.created", b"session.approvd")
    execute(recorded, "UPDATE {events} SET state=? WHERE {position}=?", state, 6)
    assert recorded.chain.verify().first_bad_position == 6
    rewrite_chain(recorded)
    assert recorded.chain.verify().ok  # the chain alone cannot tell...
    result = recorded.chain.verify(since=exported)  # ...the exported digest can
    assert (result.ok, result.first_bad_position) == (False, 12)


def test_a_ledger_cut_short_no_longer_reaches_an_exported_digest(recorded: Ledger) -> None:
    exported = recorded.chain.head()
    execute(recorded, "DELETE FROM {events} WHERE {position}=?", 12)
    execute(recorded, "DELETE FROM ledger_entries WHERE position=?", 12)
    assert recorded.chain.verify().ok
    result = recorded.chain.verify(since=exported)
    assert (result.ok, result.first_bad_position) == (False, 12)


def test_verification_over_http_names_the_position(client: LedgerClient) -> None:
    for n in range(5):
        assert client.deliver(session_created(n)).status_code == 200
    assert client.get("/ledger/verify").status_code == 401
    assert client.read("/ledger/verify").status_code == 403  # it reads the whole ledger: admins
    answer = client.read("/ledger/verify", role="admin").json()
    assert (answer["ok"], answer["checked"], answer["head"]["position"]) == (True, 5, 5)
    head = answer["head"]
    since = {"since_position": head["position"], "since_digest": head["digest"]}
    assert client.read("/ledger/verify", role="admin", **since).json()["ok"]
    assert client.read("/ledger/verify", role="admin", since_position=5).status_code == 422
    assert client.read("/ledger/verify", role="admin", since_position=5,
                       since_digest="zz").status_code == 422  # fmt: skip
    ledger = client.services.ledger
    execute(ledger, "DELETE FROM {events} WHERE {position}=?", 2)
    answer = client.read("/ledger/verify", role="admin").json()
    assert (answer["ok"], answer["first_bad_position"]) == (False, 2)


def test_verify_and_digest_from_the_command_line(
    new_database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    url = new_database()
    monkeypatch.setenv("LEDGER_DATABASE_URL", url)
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LEDGER_MASTER_KEY", MASTER_KEY_TEXT)
    assert main(["demo"]) == 0
    checkpoint_file = tmp_path / "checkpoint.txt"
    assert main(["digest", "--output", str(checkpoint_file)]) == 0
    size = int(checkpoint_file.read_text().split("\n")[1])
    capsys.readouterr()
    assert main(["verify", "--since", str(checkpoint_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ok: {size} entries checked") and "extends the saved checkpoint" in out
    ledger = Ledger.open(url, master_key=MASTER_KEY)
    digest_file = tmp_path / "head.json"  # a digest exported before the transparency log
    digest_file.write_text(json.dumps(ledger.chain.head().as_dict()))
    assert main(["verify", "--since", str(digest_file)]) == 0
    assert "extends the digest at position" in capsys.readouterr().out
    try:
        execute(ledger, "DELETE FROM ledger_entries WHERE position=?", 4)
    finally:
        ledger.close()
    for command in (["verify"], ["digest"]):  # no digest of a broken chain either
        with pytest.raises(SystemExit) as exit_info:
            main(command)
        assert exit_info.value.code == 1
        assert "FAILED at position 4" in capsys.readouterr().out
    digest_file.write_text("{not json")
    assert main(["verify", "--since", str(digest_file)]) == 2
    assert "is not a digest file" in capsys.readouterr().err


def test_a_value_of_the_wrong_type_is_named_not_a_crash(tmp_path: Path) -> None:
    """SQLite's columns take any type: a changed row may not even be bytes any more."""
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'typed.db'}", master_key=MASTER_KEY)
    try:
        deliver_all(ledger, [session_created(n) for n in range(4)])
        execute(ledger, "UPDATE stored_events SET state=CAST(state AS TEXT) WHERE rowid=2")
        result = ledger.chain.verify()
        assert (result.ok, result.first_bad_position) == (False, 2)
        assert result.problem is not None and "wrong type" in result.problem
    finally:
        ledger.close()


def test_a_digest_of_position_0_must_be_the_genesis(recorded: Ledger) -> None:
    assert recorded.chain.verify(since=Digest(0, GENESIS)).ok
    assert not recorded.chain.verify(since=Digest(0, "f" * 64)).ok
