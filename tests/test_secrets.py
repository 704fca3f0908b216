"""Secrets (DESIGN §7): webhook secrets, tokens, the master key and the database password
never appear in reprs, error messages or the environment of processes that do not need
them, and the files that hold them are private from their first byte."""

from __future__ import annotations

import json
import os
import select
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from application.transparency.checkpoints import SigningKey
from bootstrap.credentials import load_credentials
from bootstrap.services import Services
from bootstrap.settings import Settings
from cli.main import main
from tests.helpers import (
    MASTER_KEY,
    MASTER_KEY_TEXT,
    SECRET,
    SIGNING_KEY_TEXT,
    session_event,
    wait_until,
)
from tests.servers import LedgerServer

CREDENTIAL_VARIABLES = ("LEDGER_WEBHOOK_SECRETS", "LEDGER_API_TOKENS", "LEDGER_MASTER_KEY")
SERVER_TOKENS = {"auditor-token": "auditor", "admin-token": "admin"}  # those `LedgerServer` uses


@pytest.fixture(autouse=True)
def nothing_configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials from the environment running the tests; a working directory of its own."""
    monkeypatch.chdir(tmp_path)
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_settings_and_credentials_never_print_their_secrets(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql://ann:db-pass-1234@db.internal:5432/ledger",
        webhook_secrets=str(SECRET),
        api_tokens="tok-abcdef:auditor",
        master_key=MASTER_KEY_TEXT,
        data_dir=tmp_path,
    )
    credentials = load_credentials(settings, generate=False)
    shown = "\n".join([repr(settings), str(settings), repr(credentials), str(credentials),
                       f"{settings.database_url}"])  # fmt: skip
    for secret in ("db-pass-1234", str(SECRET), "tok-abcdef", MASTER_KEY_TEXT, repr(MASTER_KEY)):
        assert secret not in shown
    assert "postgresql://ann:***@db.internal:5432/ledger" in shown  # still says which database
    assert credentials.api_tokens == {"tok-abcdef": "auditor"}
    assert settings.database_url.get_secret_value().startswith("postgresql://ann:db-pass-1234@")


def test_services_never_print_their_secrets(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ledger.db'}", data_dir=tmp_path,
                        api_tokens="tok-abcdef:auditor", master_key=MASTER_KEY_TEXT,
                        signing_key=SIGNING_KEY_TEXT)  # fmt: skip
    with Services.open(settings) as services:
        shown = repr(services)
    seed = SigningKey.parse(SIGNING_KEY_TEXT).private.private_bytes_raw()
    for secret in ("tok-abcdef", MASTER_KEY_TEXT, repr(MASTER_KEY), SIGNING_KEY_TEXT,
                   SIGNING_KEY_TEXT.rsplit("+", 1)[1], repr(seed)):  # fmt: skip
        assert secret not in shown


@pytest.mark.parametrize("url", [
    "postgresq://ann:db-pass-1234@db/ledger",  # a scheme mistyped
    "postgresql:ann:db-pass-1234@db.internal/ledger",  # not a URL at all
])  # fmt: skip
def test_a_mistyped_database_url_is_refused_without_echoing_its_password(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", url)
    assert main(["status", "anyone"]) == 2
    error = capsys.readouterr().err
    assert "must be sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DBNAME" in error
    assert "db-pass-1234" not in error


@pytest.mark.parametrize("configured", ["environment", "file"])
def test_serve_hands_each_process_only_the_secrets_it_needs(
    configured: str, tmp_path: Path
) -> None:
    """The projections worker reads and writes read models: it gets the database and no
    credentials. API processes need the credentials: they read them where `serve` did
    (the environment or the file), and `serve` exports none."""
    secrets = [str(SECRET), *SERVER_TOKENS, MASTER_KEY_TEXT]
    settings: dict[str, str | None] = {}
    if configured == "file":
        settings = dict.fromkeys(CREDENTIAL_VARIABLES)
        (tmp_path / "credentials.json").write_text(json.dumps({
            "webhook_secrets": [str(SECRET)], "api_tokens": SERVER_TOKENS,
            "master_key": MASTER_KEY_TEXT}))  # fmt: skip
    server = LedgerServer(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path, workers=2,
                          settings=settings).start()  # fmt: skip
    try:
        assert server.process is not None
        serve = server.process.pid
        processes = wait_until(lambda: descendants_by_role(serve), timeout=60,
                               what="the projections worker and two API processes")  # fmt: skip
        for role, pids in processes.items():
            for pid in pids:
                environment = environ(pid)
                if role == "projections worker" or configured == "file":
                    assert not [s for s in secrets if s in environment], (role, configured)
                assert "LEDGER_DATABASE_URL=" in environment  # every one needs the database
        # Each still does its work: the API authenticates, the worker follows the ledger.
        answer = server.deliver(session_event(session_id="s1", ref="u1", key="idk-1"))
        assert answer.status_code == 200
        server.wait_for_projections()
    finally:
        server.stop()


def descendants_by_role(pid: int) -> dict[str, list[int]] | None:
    """The processes `ledger serve` started, once its projections worker and both API
    processes run: {"projections worker": [pid], "API process": [pid, pid]}."""
    found: dict[str, list[int]] = {"projections worker": [], "API process": []}
    parents = {pid}
    for child, parent, command in sorted(processes()):
        if parent in parents:
            parents.add(child)
            if "projections run" in command:
                found["projections worker"].append(child)
            elif "multiprocessing.spawn" in command and "resource_tracker" not in command:
                found["API process"].append(child)
    ready = len(found["projections worker"]) == 1 and len(found["API process"]) == 2
    return found if ready else None


def processes() -> Iterator[tuple[int, int, str]]:
    """(pid, parent pid, command line) of every process, from /proc."""
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(status.read_text().rsplit(")", 1)[1].split()[1])
            command = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            yield int(status.parent.name), parent, command
        except (OSError, IndexError, ValueError):
            continue  # a process that ended meanwhile


def environ(pid: int) -> str:
    return (Path("/proc") / str(pid) / "environ").read_bytes().replace(b"\0", b"\n").decode()


def test_read_model_commands_need_and_make_no_credentials(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:  # fmt: skip
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "data"))
    assert main(["projections", "status"]) == 0
    assert not (tmp_path / "data" / "credentials.json").exists()
    assert "credentials" not in capsys.readouterr().err.lower()


def test_credentials_are_never_written_into_a_file_readable_before(tmp_path: Path) -> None:
    """An operator's credentials file, readable by others until now, and opened by one of
    them meanwhile: what is generated goes to a new file, private from its first byte."""
    kept = tmp_path / "credentials.json"
    kept.write_text(json.dumps({"webhook_secrets": [str(SECRET)]}))
    kept.chmod(0o644)
    with kept.open() as opened_while_readable:
        credentials = load_credentials(Settings(data_dir=tmp_path), generate=True)
        seen = opened_while_readable.read()
    assert set(credentials.generated) == {"api_tokens", "master_key", "signing_key"}
    assert credentials.generated["signing_key"] not in seen
    assert not [token for token in credentials.api_tokens if token in seen]
    assert credentials.generated["master_key"] not in seen
    assert mode(kept) == 0o600
    assert json.loads(kept.read_text())["webhook_secrets"] == [str(SECRET)]
    assert [p.name for p in tmp_path.iterdir()] == ["credentials.json"]  # no draft left behind


def test_a_data_directory_made_for_credentials_is_private(tmp_path: Path) -> None:
    with umask(0o022):
        load_credentials(Settings(data_dir=tmp_path / "var"), generate=True)
    assert mode(tmp_path / "var") == 0o700
    assert mode(tmp_path / "var" / "credentials.json") == 0o600


def test_sqlite_files_are_private_from_the_start(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    settings = Settings(database_url=f"sqlite:///{folder / 'ledger.db'}", data_dir=tmp_path,
                        master_key=MASTER_KEY_TEXT, signing_key=SIGNING_KEY_TEXT)  # fmt: skip
    with umask(0o022), Services.open(settings) as services:
        delivery = session_event(session_id="s1", ref="u1", key="idk-1")
        services.ledger.ingest(json.dumps(delivery).encode(), None)
        modes = {path.name: mode(path) for path in folder.iterdir()}
    assert modes == dict.fromkeys(
        ["ledger.db", "ledger.db-wal", "ledger.db-shm", "ledger.db.lock"], 0o600
    )
    assert mode(folder) == 0o700


def first_start(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
            "LEDGER_DATA_DIR": str(tmp_path / "var")}  # fmt: skip


def generated_secrets(tmp_path: Path) -> list[str]:
    kept = json.loads((tmp_path / "var" / "credentials.json").read_text())
    return [*kept["webhook_secrets"], *kept["api_tokens"], kept["master_key"]]


def test_generated_credentials_are_not_shown_where_output_is_no_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in first_start(tmp_path).items():
        monkeypatch.setenv(name, value)
    assert main(["verify"]) == 0
    error = capsys.readouterr().err
    assert f"kept in {tmp_path / 'var' / 'credentials.json'}" in error
    assert "back up the master key" in error
    assert not [secret for secret in generated_secrets(tmp_path) if secret in error]


def test_generated_credentials_are_shown_once_on_a_terminal(tmp_path: Path) -> None:
    def on_a_terminal() -> str:
        terminal, child_end = os.openpty()
        run = subprocess.Popen([sys.executable, "-m", "cli", "verify"], env=first_start(tmp_path),
                               cwd=Path.cwd(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=child_end)  # fmt: skip
        os.close(child_end)
        shown = bytearray()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if select.select([terminal], [], [], 1)[0]:
                try:
                    chunk = os.read(terminal, 4096)
                except OSError:  # the other end is closed: all is read
                    break
                if not chunk:
                    break
                shown += chunk
        os.close(terminal)
        assert run.wait(timeout=60) == 0, shown
        return shown.decode()

    first = on_a_terminal()
    secrets = generated_secrets(tmp_path)
    assert [secret for secret in secrets if secret in first] == secrets[:-1]  # not the key
    assert "master key: kept there too" in first
    assert "Generated" not in on_a_terminal()
