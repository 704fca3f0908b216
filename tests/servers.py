"""`ledger serve` as a real process, for tests that go through HTTP and process boundaries."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from application.webhook_authentication.signature import signed_headers
from tests.helpers import MASTER_KEY_TEXT, SECRET, SIGNING_KEY_TEXT, TOKENS, wait_until

AUDITOR = {"Authorization": "Bearer auditor-token"}
ADMIN = {"Authorization": "Bearer admin-token"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LedgerServer:
    """One `ledger serve` process on its own port, signed like Verifa, read like an admin."""

    def __init__(
        self,
        database_url: str,
        folder: Path,
        *,
        workers: int = 1,
        projections: bool = True,
        settings: Mapping[str, str | None] | None = None,
        log: Path | None = None,
    ) -> None:
        self.database_url = database_url
        self.folder = folder
        self.workers = workers
        self.projections = projections
        self.settings = dict(settings or {})  # LEDGER_* variables to set, or (None) to leave out
        self.log = log  # where its output goes (default: nowhere)
        self.port = free_port()
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        self.process: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        env = {
            **os.environ,
            "LEDGER_DATABASE_URL": self.database_url,
            "LEDGER_DATA_DIR": str(self.folder),
            "LEDGER_WEBHOOK_SECRETS": str(SECRET),
            "LEDGER_API_TOKENS": ",".join(f"{token}:{role}" for token, role in TOKENS.items()),
            "LEDGER_MASTER_KEY": MASTER_KEY_TEXT,
            "LEDGER_SIGNING_KEY": SIGNING_KEY_TEXT,
            **self.settings,
        }
        return {name: value for name, value in env.items() if value is not None}

    def start(self) -> LedgerServer:
        env = self.environment()
        command = [sys.executable, "-m", "cli", "serve", "--port", str(self.port),
                   "--workers", str(self.workers)]  # fmt: skip
        if not self.projections:
            command.append("--no-projections")
        with open(self.log or os.devnull, "ab") as output:
            self.process = subprocess.Popen(
                command, env=env, cwd=self.folder, stdout=output, stderr=output,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.client.get("/readyz").status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("ledger serve did not start")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown, no flushing, as in a crash."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def deliver(self, payload: dict[str, Any]) -> httpx.Response:
        body = json.dumps(payload).encode()
        return self.client.post("/webhooks/verifa", content=body,
                                headers=signed_headers(SECRET, body))  # fmt: skip

    def lag(self) -> int:
        states = self.client.get("/projections", headers=ADMIN).json()["projections"]
        return max(int(state["lag"]) for state in states if state["state"] != "retired")

    def wait_for_projections(self) -> None:
        wait_until(lambda: self.lag() == 0, what="the projections caught up")
