"""Slow and greedy clients against a real `ledger serve`: read deadlines (408) and the
connection limit hold, so a few trickling connections cannot exhaust the server.

The clients here write HTTP by hand over raw sockets, a byte at a time, as an attacker
(or a broken proxy) would. Storage plays no part, so one store is enough.
"""

from __future__ import annotations

import resource
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_until
from tests.servers import LedgerServer

TRICKLE_EVERY = 0.2  # seconds between two bytes of a trickling client
PATIENCE = 30.0  # how long a test waits for the server to act before it fails


class RawClient:
    """One TCP connection to the server, written by hand."""

    def __init__(self, port: int) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=10)

    def send(self, data: bytes) -> None:
        self.socket.sendall(data)

    def until_closed(self, *, trickle: bytes = b"") -> bytes:
        """All the server sends until it closes the connection, sending `trickle` meanwhile
        (one byte every TRICKLE_EVERY seconds, over and over, answered or not).
        Fails the test if the server neither answers nor closes within PATIENCE seconds."""
        received = bytearray()
        deadline = time.monotonic() + PATIENCE
        sent = 0
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self.socket], [], [], TRICKLE_EVERY)
            if readable:
                try:
                    chunk = self.socket.recv(65536)
                except ConnectionResetError:
                    return bytes(received)
                if not chunk:
                    return bytes(received)
                received += chunk
            elif trickle:
                try:
                    self.send(trickle[sent % len(trickle) : sent % len(trickle) + 1])
                except (BrokenPipeError, ConnectionResetError):
                    continue  # closed by the server: what it sent before is still to be read
                sent += 1
        pytest.fail(f"the server neither answered nor closed the connection in {PATIENCE} s"
                    f" (received {bytes(received)!r})")  # fmt: skip

    def is_closed_by_server(self) -> bool:
        """Whether the server has closed this connection (reading nothing that it sent)."""
        readable, _, _ = select.select([self.socket], [], [], 0)
        if not readable:
            return False
        try:
            return self.socket.recv(1, socket.MSG_PEEK) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.socket.close()


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerServer]:
    """A server that waits one second for a request's head, and one for its body."""
    folder: Path = tmp_path_factory.mktemp("impatient")
    server = LedgerServer(f"sqlite:///{folder / 'ledger.db'}", folder, projections=False,
                          settings={"LEDGER_HEADER_TIMEOUT_SECONDS": "1",
                                    "LEDGER_BODY_TIMEOUT_SECONDS": "1"},
                          log=folder / "server.log")  # fmt: skip
    server.start()
    try:
        yield server
    finally:
        server.stop()


def status_lines(received: bytes) -> list[bytes]:
    return [line for line in received.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]


def test_a_request_whose_head_trickles_in_is_answered_408_and_closed(
    impatient: LedgerServer,
) -> None:
    client = RawClient(impatient.port)
    client.send(b"POST /webhooks/verifa HTTP/1.1\r\nHost: ledger\r\nX-Slow: ")
    received = client.until_closed(trickle=b"abcdefgh")
    assert status_lines(received) == [b"HTTP/1.1 408 Request Timeout"]
    assert b"connection: close" in received.lower()


def test_a_body_shorter_than_its_content_length_is_answered_408_and_closed(
    impatient: LedgerServer,
) -> None:
    client = RawClient(impatient.port)
    client.send(b"POST /webhooks/verifa HTTP/1.1\r\nHost: ledger\r\nContent-Type: application/json"
                b"\r\nContent-Length: 1000\r\n\r\nabc")  # fmt: skip
    received = client.until_closed(trickle=b"d")
    assert status_lines(received) == [b"HTTP/1.1 408 Request Timeout"]
    assert b"connection: close" in received.lower()


def test_a_timed_out_request_is_a_line_in_the_log_not_a_traceback(
    impatient: LedgerServer,
) -> None:
    assert impatient.log is not None
    log = impatient.log
    cut_off = RawClient(impatient.port)
    cut_off.send(b"POST /webhooks/verifa HTTP/1.1\r\nHost: ledger\r\nContent-Length: 9\r\n\r\n")
    assert status_lines(cut_off.until_closed()) == [b"HTTP/1.1 408 Request Timeout"]
    # A later event in the same process, as a marker: whatever the app logged about the
    # request cut off (its task ends as soon as its connection closes) is logged before it.
    marker = RawClient(impatient.port)
    marker.send(b"GET /healthz HTTP/1.1\r\nHost: ledger\r\nX-Marker: ")
    assert status_lines(marker.until_closed()) == [b"HTTP/1.1 408 Request Timeout"]
    wait_until(lambda: "request head not received in time" in log.read_text(),
               what="the marker's line logged")  # fmt: skip
    text = log.read_text()
    assert "request body not received in time" in text
    assert "Traceback" not in text


def test_a_connection_that_never_sends_a_request_is_closed_unanswered(
    impatient: LedgerServer,
) -> None:
    assert RawClient(impatient.port).until_closed() == b""


def test_a_body_still_trickling_after_the_answer_is_cut_off(impatient: LedgerServer) -> None:
    """HTTP allows no second answer to a request: the connection is closed, without a 408."""
    client = RawClient(impatient.port)
    client.send(b"GET /healthz HTTP/1.1\r\nHost: ledger\r\nContent-Length: 1000\r\n\r\nabc")
    received = client.until_closed(trickle=b"d")
    assert status_lines(received) == [b"HTTP/1.1 200 OK"]


def test_the_head_deadline_starts_at_a_request_not_at_an_idle_keep_alive(
    impatient: LedgerServer,
) -> None:
    """Between requests the keep-alive timeout (5 s) governs an idle connection; the head
    deadline (here 1 s) runs from a request's first byte."""
    with httpx.Client(base_url=f"http://127.0.0.1:{impatient.port}") as client:
        assert client.get("/healthz").status_code == 200
        time.sleep(2)  # idle for longer than the head deadline, not the keep-alive timeout
        again = client.get("/healthz")
        assert again.status_code == 200
        assert again.extensions["http_version"] == b"HTTP/1.1"


def test_connections_over_the_limit_are_closed_unread_and_service_resumes(
    tmp_path: Path,
) -> None:
    limit = 4
    server = LedgerServer(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path, projections=False,
                          settings={"LEDGER_MAX_CONNECTIONS": str(limit),
                                    "LEDGER_HEADER_TIMEOUT_SECONDS": "120"}).start()  # fmt: skip
    server.client.close()  # its keep-alive connection would count
    greedy: list[RawClient] = []
    try:
        greedy = [RawClient(server.port) for _ in range(2 * limit)]
        wait_until(lambda: sum(c.is_closed_by_server() for c in greedy) >= limit,
                   what=f"all but {limit} connections closed by the server")  # fmt: skip
        held = [c for c in greedy if not c.is_closed_by_server()]
        assert 0 < len(held) <= limit
        newcomer = RawClient(server.port)
        assert newcomer.until_closed() == b""  # while the limit is taken
        # The connections held are served as usual.
        held[0].send(b"GET /healthz HTTP/1.1\r\nHost: ledger\r\nConnection: close\r\n\r\n")
        assert status_lines(held[0].until_closed()) == [b"HTTP/1.1 200 OK"]
        for client in greedy:
            client.close()

        def served() -> bool:
            try:
                with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as fresh:
                    return fresh.get("/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(served, what="a new client served once the greedy ones left")
    finally:
        for client in greedy:
            client.close()
        server.stop()


def test_serve_refuses_a_connection_limit_its_open_files_limit_cannot_hold(
    tmp_path: Path,
) -> None:
    """Otherwise clients, not the limit, would exhaust the descriptors the database needs."""
    server = LedgerServer(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    soft = min(512, hard)
    started = subprocess.run(
        [sys.executable, "-m", "cli", "serve", "--port", str(server.port)],
        env={**server.environment(), "LEDGER_MAX_CONNECTIONS": "1000"}, cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)),
    )  # fmt: skip
    assert started.returncode == 2
    assert "LEDGER_MAX_CONNECTIONS=1000 needs 1079 open files" in started.stderr
    assert f"may open {soft} (ulimit -n)" in started.stderr
