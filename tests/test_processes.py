"""Several `ledger serve` processes on one database, and crashes (issue: production store).

These tests start real server processes (one of them with two uvicorn workers)
and talk to them over HTTP from many threads at once.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from application.ledger import Ledger
from tests.databases import NewDatabase, empty_postgres_database
from tests.helpers import (
    MASTER_KEY,
    MASTER_KEY_TEXT,
    SIGNING_KEY,
    SIGNING_KEY_TEXT,
    all_entries,
    session_event,
    wait_until,
)
from tests.servers import AUDITOR, LedgerServer
from tests.tcp_proxy import TcpProxy


def session_created(session: str, key: str, ref: str = "crowd") -> dict[str, Any]:
    return session_event(session_id=session, ref=ref, key=key)


def children(pid: int) -> list[str]:
    """The command lines of a process's children, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == pid:
                found.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            continue  # a process that ended meanwhile
    return found


def assert_every_event_indexed(ledger: Ledger) -> None:
    """Every stored event has its index row, and every index row its event."""
    sql = ledger.database.sql
    with ledger.reading() as history:
        counts = [history.unit_of_work.rows(query)[0]["n"] for query in (
            f"SELECT count(*) AS n FROM {sql.events_table}",
            "SELECT count(*) AS n FROM ledger_entries",
            f"SELECT count(*) AS n FROM ledger_entries e JOIN {sql.events_table} s"
            f" ON s.{sql.position_column} = e.position")]  # fmt: skip
    assert len(set(counts)) == 1, counts


def conflicts(server: LedgerServer) -> float:
    """Deliveries the server appended again one at a time, another writer having got to their
    streams or keys first (its `/metrics`)."""
    found = [sample.value for family in text_string_to_metric_families(server.client.get(
        "/metrics").text) for sample in family.samples
        if sample.name == "ledger_append_conflicts_total"]  # fmt: skip
    assert found, "no conflicts counter in /metrics"
    return sum(found)


@pytest.fixture
def database_url(new_database: NewDatabase) -> str:
    return new_database()


@pytest.fixture
def two_servers(database_url: str, tmp_path: Path) -> Iterator[list[LedgerServer]]:
    servers = [LedgerServer(database_url, tmp_path, workers=2).start(),
               LedgerServer(database_url, tmp_path).start()]  # fmt: skip
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_32_simultaneous_copies_of_one_delivery_record_one_event(
    two_servers: list[LedgerServer], database_url: str
) -> None:
    delivery = session_created("s-same", "idk-same")
    barrier = threading.Barrier(32, timeout=30)

    def send(n: int) -> Any:
        barrier.wait()
        return two_servers[n % 2].deliver(delivery)

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(send, range(32)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["position"] for a in answers}) == 1
    assert sorted(a.json()["status"] for a in answers).count("recorded") == 1
    ledger = Ledger.open(database_url, master_key=MASTER_KEY)
    assert len(all_entries(ledger)) == 1
    ledger.close()


def test_hundreds_of_simultaneous_deliveries_for_one_subject_are_all_recorded_in_order(
    two_servers: list[LedgerServer], database_url: str
) -> None:
    deliveries = [session_created(f"s{n}", f"idk-{n}") for n in range(300)]
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda n: two_servers[n % 2].deliver(deliveries[n]), range(300)))
    assert {a.status_code for a in answers} == {200}
    positions = [a.json()["position"] for a in answers]
    assert len(set(positions)) == 300

    ledger = Ledger.open(database_url, master_key=MASTER_KEY)
    entries = all_entries(ledger)
    assert sorted(e.position for e in entries) == sorted(positions)
    ledger.close()
    if database_url.startswith("postgresql"):  # each batch reads under the append lock
        assert [conflicts(server) for server in two_servers] == [0, 0]

    # The read models skipped nothing: every session has its own row, live and as of the head.
    for server in two_servers:
        server.wait_for_projections()
        for n in range(300):
            row = server.client.get(f"/sessions/s{n}", headers=AUDITOR)
            assert (row.status_code, row.json()["status"]) == (200, "created")
        live = server.client.get("/subjects/crowd/status", headers=AUDITOR).json()
        assert len(live["sessions"]) == 300
        exact = server.client.get("/subjects/crowd/status", headers=AUDITOR,
                                  params={"as_of": live["as_of"]["position"]}).json()  # fmt: skip
        assert live == exact


class Load:
    """Eight threads sending new sessions of a few subjects, worker `w` to server `w % N`,
    each until its server dies or is stopped; every acknowledged position kept by key."""

    def __init__(self, servers: list[LedgerServer], ref: Callable[[int, int], str]) -> None:
        self.servers, self.ref = servers, ref
        self.acknowledged: dict[str, int] = {}
        self.stopped = [threading.Event() for _ in servers]
        self.threads = [threading.Thread(target=self._send, args=(w,)) for w in range(8)]

    def delivery(self, worker: int, n: int) -> dict[str, Any]:
        return session_created(f"s{worker}-{n}", f"idk-{worker}-{n}", self.ref(worker, n))

    def _send(self, worker: int) -> None:
        side = worker % len(self.servers)
        for n in range(10_000):
            if self.stopped[side].is_set():
                return
            delivery = self.delivery(worker, n)
            try:
                answer = self.servers[side].deliver(delivery)
            except Exception:  # the server died mid-request: nothing was acknowledged
                return
            if answer.status_code == 200:
                self.acknowledged[delivery["idempotency_key"]] = answer.json()["position"]

    def start(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        for event in self.stopped:
            event.set()
        for thread in self.threads:
            thread.join(timeout=30)
            assert not thread.is_alive()

    def assert_each_recorded_once_where_acknowledged(self, server: LedgerServer) -> None:
        for key, position in self.acknowledged.items():
            worker, n = map(int, key.removeprefix("idk-").split("-"))
            again = server.deliver(self.delivery(worker, n))
            assert again.json() == {"status": "duplicate", "position": position}


def test_sigkill_under_load_loses_nothing_acknowledged(database_url: str, tmp_path: Path) -> None:
    server = LedgerServer(database_url, tmp_path).start()
    load = Load([server], lambda worker, n: f"u{worker}").start()
    wait_until(lambda: len(load.acknowledged) >= 150, timeout=60,
               what="150 deliveries acknowledged")  # fmt: skip
    server.kill()
    load.stop()

    restarted = LedgerServer(database_url, tmp_path).start()
    try:
        load.assert_each_recorded_once_where_acknowledged(restarted)
        ledger = Ledger.open(database_url, master_key=MASTER_KEY)
        assert_every_event_indexed(ledger)
        ledger.close()
        restarted.wait_for_projections()
    finally:
        restarted.stop()


@pytest.mark.parametrize("killed", [0, 1])
def test_sigkill_of_either_of_two_processes_loses_nothing_acknowledged(
    database_url: str, tmp_path: Path, killed: int
) -> None:
    """Two `ledger serve` on one database (one keeping the read models), deliveries for the
    same subjects sent to both; one is killed under load, the other goes on. Everything
    either acknowledged is recorded once, where it said, and the log still verifies."""
    servers = [LedgerServer(database_url, tmp_path).start(),
               LedgerServer(database_url, tmp_path, projections=False).start()]  # fmt: skip
    load = Load(servers, lambda worker, n: f"u{n % 3}").start()
    try:
        wait_until(lambda: len(load.acknowledged) >= 150, timeout=60, what="150 acknowledged")
        servers[killed].kill()
        load.stopped[killed].set()
        alive = len(load.acknowledged)
        wait_until(lambda: len(load.acknowledged) >= alive + 100, timeout=60,
                   what="the other process going on")  # fmt: skip
    finally:
        load.stop()
        servers[1 - killed].stop()
    restarted = LedgerServer(database_url, tmp_path).start()
    try:
        load.assert_each_recorded_once_where_acknowledged(restarted)
        ledger = Ledger.open(database_url, master_key=MASTER_KEY)
        assert_every_event_indexed(ledger)
        assert ledger.verify(SIGNING_KEY.verifier).ok  # every entry its leaf, in order
        ledger.close()
        restarted.wait_for_projections()
    finally:
        restarted.stop()


def test_without_postgres_the_server_answers_503_and_recovers_by_itself(tmp_path: Path) -> None:
    """PostgreSQL only: a SQLite file lives inside the server's own process."""
    url = urlsplit(empty_postgres_database())
    proxy = TcpProxy(url.hostname or "127.0.0.1", url.port or 5432).start()
    through_proxy = urlunsplit((url.scheme, f"{url.username}@127.0.0.1:{proxy.port}",
                                url.path, "", ""))  # fmt: skip
    server = LedgerServer(through_proxy, tmp_path).start()
    try:
        assert server.deliver(session_created("s1", "idk-1", "u1")).status_code == 200
        proxy.cut()
        down = server.deliver(session_created("s2", "idk-2", "u1"))
        assert down.status_code == 503
        assert down.headers["retry-after"]
        read = server.client.get("/subjects/u1/timeline", headers=AUDITOR)
        assert read.status_code == 503
        assert server.client.get("/readyz").status_code == 503  # not ready: the store is gone
        assert server.client.get("/healthz").status_code == 200  # but alive: no restart needed
        proxy.restore()
        assert server.client.get("/readyz").status_code == 200
        again = server.deliver(session_created("s2", "idk-2", "u1"))
        assert again.status_code == 200
        assert again.json()["status"] == "recorded"
        timeline = server.client.get("/subjects/u1/timeline", headers=AUDITOR).json()
        assert [e["idempotency_key"] for e in timeline["events"]] == ["idk-1", "idk-2"]
    finally:
        server.stop()
        proxy.cut()


def test_processes_starting_at_once_create_the_tables_once(new_database: NewDatabase) -> None:
    url = new_database()
    opener = (
        "import sys; from bootstrap.services import Services;"
        " from bootstrap.settings import Settings;"
        "Services.open(Settings(database_url=sys.argv[1], data_dir=sys.argv[2],"
        " master_key=sys.argv[3], signing_key=sys.argv[4])).close()"
    )
    arguments = [url, str(Path.cwd() / "var"), MASTER_KEY_TEXT, SIGNING_KEY_TEXT]
    starts = [subprocess.Popen([sys.executable, "-c", opener, *arguments],
                               stderr=subprocess.PIPE) for _ in range(4)]  # fmt: skip
    errors = [p.communicate(timeout=60)[1].decode() for p in starts]
    assert [p.returncode for p in starts] == [0, 0, 0, 0], errors
    ledger = Ledger.open(url, master_key=MASTER_KEY)
    assert ledger.as_of().position == 0
    ledger.close()


def test_projections_can_run_in_a_worker_process_of_their_own(
    database_url: str, tmp_path: Path
) -> None:
    server = LedgerServer(database_url, tmp_path, projections=False).start()
    worker = None
    try:
        for n in range(5):
            assert server.deliver(session_created(f"s{n}", f"idk-{n}", "u1")).status_code == 200
        assert server.process is not None
        assert not [c for c in children(server.process.pid) if "projections" in c]
        assert server.lag() == 5  # nobody follows the ledger yet
        worker = subprocess.Popen([sys.executable, "-m", "cli", "projections", "run"],
                                  env=server.environment(), cwd=tmp_path,
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        server.wait_for_projections()
        live = server.client.get("/subjects/u1/status", headers=AUDITOR).json()
        assert len(live["sessions"]) == 5
    finally:
        if worker:
            worker.terminate()
            assert worker.wait(timeout=15) == 0  # stops cleanly on SIGTERM
        server.stop()
