"""The projections worker: a process that keeps every read model up to date (`follow`).

Keeping read models up to date costs CPU; in a process of its own it runs on
another core instead of slowing the API's appends, and at a lower CPU priority
(`NICENESS`): under load, acknowledging deliveries comes first, and the worker
catches up in larger batches, which cost less per entry. It is `ledger
projections run`, which `ledger serve` starts (`ProjectionWorker`) with the
server's environment less the secrets it does not need (`WITHHELD`: read models
need the database, no credentials; DESIGN §7), restarts if it ever exits, and
stops with the server: it also stops by itself once the server is gone, however
the server went (uvicorn ends its process on SIGTERM before any cleanup runs).
Deployments with several API hosts run it once, and `serve --no-projections`
everywhere.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from bootstrap.services import Services
from bootstrap.settings import SECRET_VARIABLES

COMMAND = [sys.executable, "-m", "cli", "projections", "run"]
PARENT_VARIABLE = "LEDGER_SERVER_PID"  # the worker stops once this process is no longer its parent
NICENESS = 10  # added to the worker's: the API's requests go first when both want the CPU
WITHHELD = SECRET_VARIABLES - {"LEDGER_DATABASE_URL"}  # what the worker is not given


def follow(services: Services) -> None:
    """Follow the ledger in this process until SIGINT or SIGTERM, or until the server that
    started it is gone."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop_with_parent(stop)
    print("following the ledger; Ctrl-C to stop", file=sys.stderr)
    services.runner.run(stop)


def stop_with_parent(stop: threading.Event) -> None:
    """In the worker: set `stop` when the server that started it is gone."""
    parent = os.environ.get(PARENT_VARIABLE)
    if not parent:
        return

    def watch() -> None:
        while not stop.wait(1.0):
            if os.getppid() != int(parent):
                stop.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class ProjectionWorker:
    """Runs the worker beside `ledger serve`, restarting it if it exits, until the block ends."""

    def __init__(self, restart_delay: float = 1.0) -> None:
        self.restart_delay = restart_delay
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._supervisor = threading.Thread(target=self._supervise, name="projections", daemon=True)

    def __enter__(self) -> ProjectionWorker:
        self._supervisor.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:  # no new worker after this
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self._supervisor.join(timeout=15)

    def _supervise(self) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                env = {name: value for name, value in os.environ.items()
                       if name.upper() not in WITHHELD}  # fmt: skip
                env[PARENT_VARIABLE] = str(os.getpid())
                process = self._process = subprocess.Popen(COMMAND, env=env)
                os.setpriority(
                    os.PRIO_PROCESS, process.pid, os.getpriority(os.PRIO_PROCESS, 0) + NICENESS
                )
            code = process.wait()
            if not self._stopping.is_set():
                print(f"projections worker exited ({code}); starting it again", file=sys.stderr)
                self._stopping.wait(self.restart_delay)
