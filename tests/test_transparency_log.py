"""The transparency log's tree (DESIGN §7.1): every entry a leaf, built as entries are appended.

The tree kept in tiles must be the RFC 9162 tree of the entries' leaves, whatever
the batches and processes that appended them; an older ledger builds it once.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree

from application.ledger import Ledger
from application.recording.delivery import Delivery, read_delivery
from application.recording.ledger_index import LedgerIndex
from application.storage.schema import INDEX_FIELDS
from application.transparency import log as transparency_log
from application.transparency import tiles
from application.transparency.leaves import leaf_bytes, read_leaf
from application.transparency.merkle import (
    LeafHashes,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from tests.databases import NewDatabase
from tests.helpers import MASTER_KEY, SIGNING_KEY, Payload, deliver_all, seed_examples


def history(count: int) -> list[Payload]:
    """`count` deliveries of every type Verifa sends, for a few subjects."""
    seeds = seed_examples()
    return [{**seeds[n % len(seeds)], "idempotency_key": f"k{n}",
             "external_ref": f"user_{n % 7}"} for n in range(count)]  # fmt: skip


def deliveries(payloads: list[Payload]) -> list[Delivery]:
    return [read_delivery(json.dumps(p).encode(), None) for p in payloads]


def leaves_of(ledger: Ledger) -> list[bytes]:
    rows = ledger.transparency.page(0, 10**6)
    return [leaf_bytes(row[5:], *row[1:5]) for row in rows]


def tree_root(ledger: Ledger) -> tuple[int, bytes]:
    with ledger.database.reading() as uow:
        size = ledger.transparency.size(uow)
        return size, ledger.transparency.root(uow, size)


def test_a_leaf_is_the_stored_entry_with_personal_data_sealed() -> None:
    """Golden vector: these bytes and this hash are what signed roots rest on."""
    row = (3, "2026-12-01T10:00:00.000000+00:00", "idk_1", "session.approved", 1, "applicant",
           "user_456", "8ae7ee065dae59e3bbc68bb32a4e5844", 2, "sess_1", "msg_1")  # fmt: skip
    state = b'{"body":"{\\"result\\":\\"[sealed]\\"}","sealed":"AAAA","scope":"session:sess_1"}'
    originator = "8ae7ee06-5dae-59e3-bbc6-8bb32a4e5844"
    leaf = leaf_bytes(row, originator, 2, "verifa-ledger:Applicant.Recorded", state)
    assert leaf == (
        b'{"aggregate":{"id":"user_456","type":"applicant"},"event":"session.approved",'
        b'"idempotency_key":"idk_1","position":3,'
        b'"recorded_at":"2026-12-01T10:00:00.000000+00:00","session_event":true,'
        b'"session_id":"sess_1","stored":{"originator_id":"8ae7ee065dae59e3bbc68bb32a4e5844",'
        b'"originator_version":2,"state":"{\\"body\\":\\"{\\\\\\"result\\\\\\":'
        b'\\\\\\"[sealed]\\\\\\"}\\",\\"sealed\\":\\"AAAA\\",'
        b'\\"scope\\":\\"session:sess_1\\"}","topic":"verifa-ledger:Applicant.Recorded"},'
        b'"stream":{"id":"8ae7ee065dae59e3bbc68bb32a4e5844","version":2},"webhook_id":"msg_1"}'
    )
    assert leaf_hash(leaf).hex() == GOLDEN_LEAF_HASH
    assert read_leaf(leaf)["stored"]["state"]["scope"] == "session:sess_1"


GOLDEN_LEAF_HASH = "756c2519fa7b7c484083953c6545693ea35b413af6baada90b2da2bad37d66a7"


def test_the_tree_is_rfc_9162s_over_every_entrys_leaf(ledger: Ledger) -> None:
    deliver_all(ledger, history(40))  # one at a time
    ledger.record_all([])  # nothing: no leaf
    ledger.record_all(deliveries(history(700)[40:]))  # batches crossing tiles
    leaves = leaves_of(ledger)
    assert len(leaves) == 700
    theirs = InmemoryTree(algorithm="sha256")
    for leaf in leaves:
        theirs.append_entry(leaf)
    size, root = tree_root(ledger)
    assert size == 700
    assert (
        root == theirs.get_root(700) == root_hash(LeafHashes([leaf_hash(x) for x in leaves]), 700)
    )


def test_every_entry_is_proved_in_and_every_size_extended(ledger: Ledger) -> None:
    ledger.record_all(deliveries(history(300)))
    leaves = leaves_of(ledger)
    log = ledger.transparency
    with ledger.database.reading() as uow:
        size = log.size(uow)
        root = log.root(uow, size)
        for index in range(0, size, 7):
            path = log.inclusion_proof(uow, index, size)
            verify_inclusion(leaf_hash(leaves[index]), index, size, path, root)
        for first in (1, 2, 3, 64, 255, 256, 257, 299, 300):
            old = log.root(uow, first)
            verify_consistency(first, size, log.consistency_proof(uow, first, size), old, root)


def test_the_tree_stays_right_whoever_appends_and_whatever_rolls_back(
    new_database: NewDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each process starts its next append from the tree's edge it committed last. Another
    process's appends, and an append rolled back after it wrote its tiles, must not lead it
    astray: the tree stays the RFC 9162 tree of the entries' leaves."""
    url = new_database()
    this, other = (Ledger.open(url, master_key=MASTER_KEY) for _ in range(2))
    payloads = history(800)
    write = LedgerIndex.write
    failures = iter([True])

    def fails_once_after_writing(index: LedgerIndex, *args: Any) -> None:
        write(index, *args)  # the tiles are written, and then the unit of work fails
        if next(failures, False):
            raise RuntimeError("the unit of work failed after writing the tree")

    try:
        this.record_all(deliveries(payloads[:200]))
        other.record_all(deliveries(payloads[200:300]))  # crosses the first tile's end
        monkeypatch.setattr(LedgerIndex, "write", fails_once_after_writing)
        this.record_all(deliveries(payloads[300:340]))  # rolled back, then one by one
        monkeypatch.undo()
        for start in range(340, 800, 50):  # taking turns, batches across tiles
            (this if start % 100 else other).record_all(deliveries(payloads[start : start + 50]))
        leaves = leaves_of(this)
        assert len(leaves) == 800
        expected = root_hash(LeafHashes([leaf_hash(x) for x in leaves]), 800)
        assert tree_root(this) == tree_root(other) == (800, expected)
    finally:
        this.close()
        other.close()


@given(size=st.integers(0, 70_000), count=st.integers(1, 300))
def test_an_append_after_another_processs_reads_the_partial_tiles_it_extends_and_no_others(
    size: int, count: int
) -> None:
    """At each stored level L a tree of n leaves has n >> 4L nodes; an append adds the nodes
    up to those of the larger tree. Of the tiles it adds them to, only the first can hold
    nodes already, unless the first new node starts it."""

    def nodes(leaves: int, level: int) -> int:
        return leaves >> (tiles.TILE_HEIGHT * level)

    extended = {
        (level, nodes(size, level) // tiles.TILE_WIDTH)
        for level in range(6)
        if nodes(size + count, level) > nodes(size, level) and nodes(size, level) % 16
    }
    assert set(tiles._edge_places(size, count)) == extended


def unbuild(ledger: Ledger) -> None:
    """Make the ledger look as one recorded before the transparency log."""
    with ledger.database.writing() as uow:
        uow.execute("UPDATE ledger_entries SET leaf_index = NULL")
        uow.execute("DELETE FROM log_tiles")


def test_an_older_ledger_builds_its_tree_once_and_resumes_if_interrupted(
    new_database: NewDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = new_database()
    ledger = Ledger.open(url, master_key=MASTER_KEY)
    ledger.record_all(deliveries(history(1100)))
    before = tree_root(ledger)
    unbuild(ledger)
    ledger.close()
    monkeypatch.setattr(transparency_log, "BUILD_CHUNK", 300)
    heard: list[Any] = []

    def interrupted(total: int) -> Any:
        heard.append(total)

        def progress(done: int) -> None:
            heard.append(done)
            if len(heard) == 3:  # two chunks in: stop, as Ctrl-C would
                raise KeyboardInterrupt

        return progress

    with pytest.raises(KeyboardInterrupt):
        Ledger.open(url, master_key=MASTER_KEY, build_progress=interrupted)
    assert heard == [1100, 300, 300]
    heard.clear()
    resumed = Ledger.open(url, master_key=MASTER_KEY, build_progress=lambda total: heard.append)
    assert heard == [300, 200]  # the rest, once
    assert tree_root(resumed) == before
    resumed.close()


def test_a_tree_stored_in_older_tiles_of_256_is_regrouped_once_and_resumes(
    new_database: NewDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The version before this one stored its trees in tiles of 256 hashes. Opened by this
    one, each tree is stored again in tiles of 16: the same tree (roots, checkpoints and
    proofs stay true), a chunk at a time, resumed if interrupted."""
    url = new_database()
    with monkeypatch.context() as older:
        older.setattr(tiles, "TILE_HEIGHT", 8)
        older.setattr(tiles, "TILE_WIDTH", 256)
        older.setattr(tiles, "FULL_TILE", 256 * 32)
        ledger = Ledger.open(url, master_key=MASTER_KEY)
        ledger.record_all(deliveries(history(1100)))
        for n in range(300):
            ledger.access_log.record("auditor", "auditor", f"user_{n}", "status")
        signed = ledger.checkpoints.issue(SIGNING_KEY)
        with ledger.database.reading() as uow:
            assert len(ledger.transparency.tiles.tile(uow, 0, 0)) == 256 * 32
        ledger.close()
    monkeypatch.setattr(tiles, "REGROUP_CHUNK", 2)  # 512 leaves a transaction
    append, appends = tiles.Tiles.append, []

    def interrupted(self: tiles.Tiles, *args: Any) -> None:
        appends.append(self.table)
        if len(appends) == 3:  # the access log's tree, then the ledger's first chunk: stop
            raise KeyboardInterrupt
        append(self, *args)

    monkeypatch.setattr(tiles.Tiles, "append", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Ledger.open(url, master_key=MASTER_KEY)
    assert appends == ["access_log_tiles", "log_tiles", "log_tiles"]
    monkeypatch.setattr(tiles.Tiles, "append", append)
    regrouped = Ledger.open(url, master_key=MASTER_KEY)
    try:
        with regrouped.database.reading() as uow:
            assert len(regrouped.transparency.tiles.tile(uow, 0, 0)) == 16 * 32
            assert not uow.rows(uow.sql.table_exists("log_tiles_256"))[0]["found"]
            assert not uow.rows(uow.sql.table_exists("access_log_tiles_256"))[0]["found"]
        assert tree_root(regrouped) == (1100, signed.root)
        assert regrouped.checkpoints.issue(SIGNING_KEY) == signed  # nothing new to sign
        assert regrouped.verify(SIGNING_KEY.verifier).ok  # both trees, against the checkpoint
        leaves = leaves_of(regrouped)
        with regrouped.database.reading() as uow:
            for index in (0, 15, 16, 255, 256, 1099):
                path = regrouped.transparency.inclusion_proof(uow, index, 1100)
                verify_inclusion(leaf_hash(leaves[index]), index, 1100, path, signed.root)
    finally:
        regrouped.close()


texts = st.text(st.characters(codec="utf-8"), max_size=30)


@settings(max_examples=300, deadline=None)
@given(
    st.tuples(st.integers(0, 2**63 - 1), texts, texts, texts, st.sampled_from([0, 1]), texts,
              texts, texts, st.integers(1, 2**31), st.none() | texts, st.none() | texts),
    st.uuids(), st.integers(1, 2**31), texts, texts,
)  # fmt: skip
def test_a_leaf_is_exactly_the_canonical_json_of_its_fields(
    row: tuple[Any, ...], originator: UUID, version: int, topic: str, state: str
) -> None:
    """Written field by field for speed, a leaf must be what a JSON library writes."""
    fields = dict(zip(INDEX_FIELDS, row, strict=True))
    expected = {
        "position": fields["position"], "recorded_at": fields["recorded_at"],
        "idempotency_key": fields["idempotency_key"], "event": fields["event_type"],
        "session_event": bool(fields["session_event"]),
        "aggregate": {"type": fields["stream_type"], "id": fields["stream_key"]},
        "stream": {"id": fields["stream_id"], "version": fields["stream_version"]},
        "session_id": fields["session_id"], "webhook_id": fields["webhook_id"],
        "stored": {"originator_id": originator.hex, "originator_version": version,
                   "topic": topic, "state": state},
    }  # fmt: skip
    leaf = leaf_bytes(row, originator, version, topic, state.encode())
    assert leaf == json.dumps(expected, sort_keys=True, separators=(",", ":")).encode()


def test_a_value_of_another_type_gives_no_leaf() -> None:
    row = (1, "t", "k", "e", 1, "applicant", "u", "0" * 32, 1, None, None)
    for n, odd in [(0, "1"), (4, 2), (8, 1.0), (2, 7), (9, b"x")]:
        changed = (*row[:n], odd, *row[n + 1 :])
        with pytest.raises(TypeError):
            leaf_bytes(changed, "0" * 32, 1, "topic", b"{}")


def test_a_quarantined_delivery_is_a_leaf_its_body_sealed(ledger: Ledger) -> None:
    body = b'{"event": "session.approved", "result": {"extracted_data": {"first_name": "Jane"}}'
    held = ledger.ingest(body, "msg_1")
    assert ledger.ingest(body, "msg_1") == held  # held again: held once, recorded once
    leaves = leaves_of(ledger)
    assert len(leaves) == 1 and b"Jane" not in leaves[0]
    fields = read_leaf(leaves[0])
    assert (fields["event"], fields["aggregate"]["type"]) == ("ledger.quarantined", "quarantine")
    record = json.loads(fields["stored"]["state"]["body"])
    assert record["quarantine_id"] == held.id  # type: ignore[union-attr]
    assert record["webhook_id"] == "msg_1" and len(record["sealed_sha256"]) == 64
    size, root = tree_root(ledger)
    with ledger.database.reading() as uow:
        verify_inclusion(leaf_hash(leaves[0]), 0, size, ledger.transparency.inclusion_proof(
            uow, 0, size), root)  # fmt: skip


def test_a_proof_reads_its_tiles_by_their_key_not_by_scanning_them(tmp_path: Any) -> None:
    """A proof's work must not grow with the log: every read of the tiles it makes is a probe
    of their primary key. (SQLite, whose planner chooses without statistics, answered a
    row-value `IN (VALUES ...)` by scanning every tile: 16 ms a proof at 1,000,000 entries.)"""
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", master_key=MASTER_KEY)
    try:
        deliver_all(ledger, history(600))
        with ledger.database.reading() as uow:
            size = ledger.transparency.size(uow)
            asked: list[tuple[str, tuple[Any, ...]]] = []
            rows = uow.rows

            def recorded(query: str, *params: Any) -> list[Any]:
                asked.append((query, params))
                return rows(query, *params)

            uow.rows = recorded  # type: ignore[method-assign]
            ledger.transparency.inclusion_proofs(uow, [3, 77, 400, 599], size)
            ledger.transparency.consistency_proof(uow, 123, size)
            uow.rows = rows  # type: ignore[method-assign]
            reads = [(q, p) for q, p in asked if "log_tiles" in q]
            assert reads
            for query, params in reads:
                plan = " / ".join(str(r[-1]) for r in uow.rows(f"EXPLAIN QUERY PLAN {query}",
                                                               *params))  # fmt: skip
                assert "SCAN log_tiles" not in plan and "SCAN t" not in plan.split(" / "), plan
    finally:
        ledger.close()
