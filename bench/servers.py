"""Servers under load: the ledger (`ledger serve`) and the naive baseline, each in its own
process on a fresh database, with their peak memory read from /proc before they stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

TOKENS = "bench-auditor:auditor,bench-admin:admin"
MASTER_KEY = "YmVuY2gtbWFzdGVyLWtleS0wMTIzNDU2Nzg5YWJjZGU="
# Signs the bench ledgers' checkpoints, the same in every process of a run (bench only).
SIGNING_KEY = "PRIVATE+KEY+bench.local/log+b5437e27+AU3uW0DSaP315Xb+3IjiyPERC07NSW9CYeUuvMmz/hGz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def serving(command: list[str], env: dict[str, str], folder: Path) -> Iterator[tuple[int, int]]:
    """Start a server on a free port; yields (port, pid) once it answers."""
    port = free_port()
    log = (folder / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env={**os.environ, **env},
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start; see {log.name}")
            time.sleep(0.2)
        yield port, process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def ledger_server(
    database_url: str, secret: str, folder: Path, *, tree: bool = True, workers: int = 1,
    projections: bool = True,
) -> tuple[list[str], dict[str, str]]:  # fmt: skip
    """`ledger serve` with `workers` API processes (and its read models' worker unless not
    `projections`); with `tree` False, the same build without the transparency log's tree."""
    env = {
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_DATA_DIR": str(folder / "var"),
        "LEDGER_WEBHOOK_SECRETS": secret,
        "LEDGER_API_TOKENS": TOKENS,
        "LEDGER_MASTER_KEY": MASTER_KEY,
        "LEDGER_SIGNING_KEY": SIGNING_KEY,
    }
    if not tree:  # `bench` is not an installed package: the server finds it here
        env["PYTHONPATH"] = str(Path(__file__).parent.parent)
    command = [sys.executable, "-m", "cli" if tree else "bench.without_tree", "serve",
               "--workers", str(workers)]  # fmt: skip
    return [*command, *([] if projections else ["--no-projections"])], env


def baseline_server(database: str, secret: str) -> tuple[list[str], dict[str, str]]:
    command = [sys.executable, "-m", "uvicorn", "bench.baseline:app", "--factory",
               "--no-access-log"]  # as `ledger serve`  # fmt: skip
    return command, {
        "BENCH_DATABASE": database,
        "BENCH_SECRET": secret,
        "PYTHONPATH": str(Path(__file__).parent.parent),
    }
