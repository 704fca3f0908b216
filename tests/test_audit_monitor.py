"""`ledger audit URL --state DIR` (DESIGN §7.1) against a real server, as an auditor runs it:
accept a growing log, refuse a bad signature, a fork and a shrunken log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from application.ledger import Ledger
from application.transparency.checkpoints import SigningKey
from cli.main import main
from tests.databases import NewDatabase
from tests.helpers import MASTER_KEY, SIGNING_KEY, session_event
from tests.servers import LedgerServer
from tests.test_integrity import execute


def audit(server: LedgerServer, state: Path, *extra: str) -> int:
    url = f"http://127.0.0.1:{server.port}"
    try:
        return main(["audit", url, "--state", str(state), "--token", "auditor-token", *extra])
    except SystemExit as exit_info:
        return int(exit_info.code or 0)


def deliver(server: LedgerServer, start: int, count: int) -> None:
    for n in range(start, start + count):
        answer = server.deliver(session_event(session_id=f"s{n}", ref="u1", key=f"k{n}"))
        assert answer.json()["status"] == "recorded"


def behind_its_back(url: str, *statements: str) -> None:
    """Change the database directly, as someone with its files (and the signing key) could."""
    ledger = Ledger.open(url, master_key=MASTER_KEY)
    try:
        for statement in statements:
            execute(ledger, statement)
    finally:
        ledger.close()


@pytest.fixture
def served(new_database: NewDatabase, tmp_path: Path) -> Iterator[tuple[LedgerServer, str]]:
    url, folder = new_database(), tmp_path / "server"
    folder.mkdir()
    server = LedgerServer(url, folder, projections=False).start()
    yield server, url
    server.stop()


def test_the_monitor_accepts_a_log_that_only_grows(
    served: tuple[LedgerServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, _ = served
    state = tmp_path / "auditor"
    deliver(server, 0, 3)
    assert audit(server, state, "--key", str(SIGNING_KEY.verifier)) == 0
    assert "has 3 entries" in capsys.readouterr().out
    deliver(server, 3, 4)
    assert audit(server, state) == 0  # the key was kept
    assert "grew from 3 to 7 entries" in capsys.readouterr().out
    assert audit(server, state) == 0
    assert "grew from 7 to 7" in capsys.readouterr().out


def test_the_monitor_refuses_another_key(
    served: tuple[LedgerServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, _ = served
    deliver(server, 0, 1)
    other = SigningKey.generate("ledger.test/log").verifier
    assert audit(server, tmp_path / "auditor", "--key", str(other)) == 1
    assert "FAILED: the latest checkpoint" in capsys.readouterr().out


def test_the_monitor_catches_a_fork_and_a_shrunken_log(
    served: tuple[LedgerServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, url = served
    state = tmp_path / "auditor"
    deliver(server, 0, 4)
    assert audit(server, state, "--key", str(SIGNING_KEY.verifier)) == 0
    # Someone with the database and the signing key rewrites history: a changed entry, the
    # tree rebuilt, the ledger's own checkpoints gone. The auditor's kept one remains.
    behind_its_back(url, "UPDATE ledger_entries SET idempotency_key='forged' WHERE position=2",
                    "UPDATE ledger_entries SET leaf_index = NULL", "DELETE FROM log_tiles",
                    "DELETE FROM log_checkpoints")  # fmt: skip
    server.stop()
    server.start()  # builds the tree of the rewritten entries, signs anew
    deliver(server, 4, 2)
    assert audit(server, state) == 1
    assert "FAILED: a fork" in capsys.readouterr().out
    shrunk = tmp_path / "other-auditor"
    assert audit(server, shrunk, "--key", str(SIGNING_KEY.verifier)) == 0
    behind_its_back(url, "DELETE FROM log_checkpoints", "DELETE FROM {events} WHERE {position}>=5",
                    "DELETE FROM ledger_entries WHERE position>=5")  # fmt: skip
    assert audit(server, shrunk) == 1
    assert "FAILED: the log shrank from 6 to 4 entries" in capsys.readouterr().out
