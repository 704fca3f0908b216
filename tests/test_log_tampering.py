"""What the transparency log catches that the hash chain cannot (DESIGN §7.1).

Someone with write access to the database can change an entry and recompute
the chain after it; they can even rebuild the whole tree from the changed
entries. Signed checkpoints cannot be recomputed without the signing key, and a
checkpoint an auditor saved cannot be deleted from the auditor's disk.
"""

from __future__ import annotations

from typing import Any

import pytest

from application.integrity.chain import GENESIS, entry_digest
from application.ledger import Ledger
from application.storage.schema import INDEX_FIELDS
from tests.databases import NewDatabase
from tests.helpers import MASTER_KEY, SIGNING_KEY, deliver_all, session_event
from tests.test_integrity import execute

pytestmark = pytest.mark.usefixtures("leaf_hashing")


def recorded(ledger: Ledger, start: int, count: int) -> None:
    deliver_all(ledger, [session_event(session_id=f"s{n}", ref=f"u{n % 4}", key=f"k{n}")
                         for n in range(start, start + count)])  # fmt: skip


def signed(ledger: Ledger) -> str:
    return ledger.checkpoints.issue(SIGNING_KEY).note


def verify(ledger: Ledger, saved: str | None = None) -> Any:
    return ledger.verify(SIGNING_KEY.verifier, saved=saved).chain


def rechain(ledger: Ledger) -> None:
    """Recompute every chain digest from the stored rows, as an attacker covering a change."""
    columns = ", ".join(f"e.{f}" for f in INDEX_FIELDS)
    rows = execute(ledger, f"SELECT s.originator_id, s.originator_version, s.topic, s.state,"
                   f" {columns} FROM {{events}} s JOIN ledger_entries e"
                   f" ON e.position = s.{{position}} ORDER BY e.position")  # fmt: skip
    previous = (0, GENESIS)
    for row in rows:
        values = [row[f] for f in INDEX_FIELDS]
        stored = (row["originator_id"], row["originator_version"], row["topic"], row["state"])
        digest = entry_digest(previous[1], previous[0], values, *stored[:3], bytes(stored[3]))
        execute(ledger, "UPDATE ledger_entries SET digest=? WHERE position=?", digest,
                row["position"])  # fmt: skip
        previous = (row["position"], digest)


def change_entry(ledger: Ledger, position: int) -> None:
    execute(ledger, "UPDATE {events} SET state=? WHERE {position}=?",
            b'{"body": "{\\"event\\": \\"session.approved\\"}"}', position)  # fmt: skip
    rechain(ledger)


def with_tree_rebuilt(ledger: Ledger, url: str) -> Ledger:
    """The tree dropped and the ledger opened again: it builds the tree of the changed rows."""
    execute(ledger, "UPDATE ledger_entries SET leaf_index = NULL")
    execute(ledger, "DELETE FROM log_tiles")
    ledger.close()
    return Ledger.open(url, master_key=MASTER_KEY)


def test_a_changed_entry_with_its_chain_recomputed_no_longer_gives_its_leaf(
    ledger: Ledger,
) -> None:
    recorded(ledger, 0, 10)
    change_entry(ledger, 4)
    result = verify(ledger)
    assert (result.ok, result.first_bad_position) == (False, 4)
    assert "no longer gives the leaf" in (result.problem or "")


def test_a_rebuilt_tree_is_caught_by_the_checkpoints_it_signed(
    new_database: NewDatabase,
) -> None:
    url = new_database()
    ledger = Ledger.open(url, master_key=MASTER_KEY)
    recorded(ledger, 0, 6)
    signed(ledger)
    recorded(ledger, 6, 6)
    signed(ledger)
    change_entry(ledger, 9)
    ledger = with_tree_rebuilt(ledger, url)
    try:
        result = verify(ledger)
        assert (result.ok, result.first_bad_position) == (False, 7)  # after the first checkpoint
        assert "size 12" in (result.problem or "") and "no longer give its root" in (
            result.problem or ""
        )
    finally:
        ledger.close()


def test_a_checkpoint_the_auditor_saved_catches_what_the_ledger_forgot(
    new_database: NewDatabase,
) -> None:
    url = new_database()
    ledger = Ledger.open(url, master_key=MASTER_KEY)
    recorded(ledger, 0, 8)
    saved = signed(ledger)  # the auditor keeps this one
    change_entry(ledger, 2)
    execute(ledger, "DELETE FROM log_checkpoints")  # every trace the ledger kept
    ledger = with_tree_rebuilt(ledger, url)
    try:
        assert verify(ledger).ok  # consistent with itself...
        result = verify(ledger, saved)  # ...not with what it signed before
        assert not result.ok and "the saved checkpoint" in (result.problem or "")
    finally:
        ledger.close()


def test_a_shrunken_log_and_a_changed_tile_are_named(ledger: Ledger) -> None:
    recorded(ledger, 0, 5)
    signed(ledger)
    execute(ledger, "DELETE FROM {events} WHERE {position}=5")
    execute(ledger, "DELETE FROM ledger_entries WHERE position=5")
    result = verify(ledger)
    assert not result.ok and "more than the ledger" in (result.problem or "")
    execute(ledger, "DELETE FROM log_checkpoints")
    tile = execute(ledger, "SELECT hashes FROM log_tiles WHERE level=0 AND tile=0")[0]["hashes"]
    execute(ledger, "UPDATE log_tiles SET hashes=? WHERE level=0 AND tile=0",
            bytes(tile[:32]) + bytes(32) + bytes(tile[64:]))  # fmt: skip
    result = verify(ledger)
    assert (result.ok, result.first_bad_position) == (False, 2)


def test_a_forged_signature_is_refused(ledger: Ledger) -> None:
    recorded(ledger, 0, 3)
    note = signed(ledger)
    execute(ledger, "UPDATE log_checkpoints SET note=?", note.replace("\n3\n", "\n2\n"))
    result = verify(ledger)
    assert not result.ok and "signature" in (result.problem or "")


@pytest.mark.parametrize("count", [0, 1, 15, 16, 17, 255, 256, 257, 600])
def test_an_intact_ledger_verifies_at_every_tile_boundary(ledger: Ledger, count: int) -> None:
    recorded(ledger, 0, count)
    signed(ledger)
    whole = ledger.verify(SIGNING_KEY.verifier)
    assert whole.ok and whole.tree_size == count and whole.checkpoints_checked == 1


def read_by_officers(ledger: Ledger, count: int) -> None:
    for n in range(count):
        ledger.access_log.record(f"officer:{n}", "officer", f"u{n % 4}", "timeline as of 3")


def test_the_access_log_is_tamper_evident_too(ledger: Ledger) -> None:
    recorded(ledger, 0, 3)
    read_by_officers(ledger, 5)
    note = signed(ledger)
    assert SIGNING_KEY.verifier.open(note).access_log is not None
    assert verify(ledger).ok
    execute(
        ledger, "UPDATE access_log SET who='nobody' WHERE id=(SELECT min(id) + 2 FROM access_log)"
    )
    result = verify(ledger)
    assert not result.ok and "was changed" in (result.problem or "")


def test_deleting_an_access_or_rebuilding_its_tree_is_caught(ledger: Ledger) -> None:
    recorded(ledger, 0, 2)
    read_by_officers(ledger, 4)
    signed(ledger)
    execute(ledger, "DELETE FROM access_log WHERE id=(SELECT max(id) FROM access_log)")
    result = verify(ledger)
    assert not result.ok and "accesses were deleted" in (result.problem or "")
    execute(ledger, "DELETE FROM access_log")  # every row, and its tree rebuilt empty
    execute(ledger, "DELETE FROM access_log_tiles")
    result = verify(ledger)
    assert not result.ok and "fewer than the 4" in (result.problem or "")


def test_an_older_access_log_gets_its_tree_once(new_database: NewDatabase) -> None:
    url = new_database()
    ledger = Ledger.open(url, master_key=MASTER_KEY)
    read_by_officers(ledger, 7)
    execute(ledger, "UPDATE access_log SET leaf_index = NULL")
    execute(ledger, "DELETE FROM access_log_tiles")
    ledger.close()
    ledger = Ledger.open(url, master_key=MASTER_KEY)
    try:
        signed(ledger)
        assert SIGNING_KEY.verifier.open(signed(ledger)).access_log[0] == 7  # type: ignore[index]
        assert verify(ledger).ok
    finally:
        ledger.close()
