"""The API keeps its OpenAPI contract: schemathesis, run against the served `/openapi.json`
with each role's token, sends every operation requests valid and invalid by the schema
and finds none answered otherwise than documented (`--checks all`, a fixed seed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import NewDatabase
from tests.helpers import TOKENS, seed_examples
from tests.servers import ADMIN, LedgerServer

ROOT = Path(__file__).parent.parent
SEED = 20261129
EXAMPLES = 20  # per operation and phase; with the coverage phase, ~15 s for each role


@pytest.fixture
def server(new_database: NewDatabase, tmp_path: Path) -> Iterator[LedgerServer]:
    """A served ledger with Verifa's tutorial history (the ids the schema's examples name)."""
    served = LedgerServer(new_database(), tmp_path).start()
    try:
        for payload in seed_examples():
            assert served.deliver(payload).status_code == 200
        served.wait_for_projections()
        yield served
    finally:
        served.stop()


def fuzz(server: LedgerServer, token: str, folder: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "schemathesis.cli", "run",
               f"{server.client.base_url}/openapi.json", "--checks", "all",
               "--seed", str(SEED), "--max-examples", str(EXAMPLES), "--workers", "1",
               "--generation-database", "none", "--request-timeout", "30", "--no-color",
               "--header", f"Authorization: Bearer {token}"]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract_hooks", "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, env=env, cwd=folder, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip


def test_every_operation_keeps_the_contract_for_every_role(
    server: LedgerServer, tmp_path: Path
) -> None:
    operations = sum(len(methods) for methods in server.client.get("/openapi.json").json()
                     ["paths"].values())  # fmt: skip
    head = server.client.get("/readyz").json()["head"]
    held = server.client.get("/quarantine", params={"include_released": True}, headers=ADMIN)
    for token, role in TOKENS.items():
        run = fuzz(server, token, tmp_path)
        report = run.stdout + run.stderr
        assert run.returncode == 0, f"as {role}:\n{report[-20000:]}"
        assert re.search(rf"Tested: {operations}\b", report), f"as {role}:\n{report[-3000:]}"
    # Every delivery the fuzzer sent was unsigned: nothing was recorded or held.
    assert server.client.get("/readyz").json()["head"] == head
    again = server.client.get("/quarantine", params={"include_released": True}, headers=ADMIN)
    assert again.json() == held.json()
