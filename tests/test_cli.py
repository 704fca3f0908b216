"""The `ledger` command: demo, backfill, reads and quarantine, as an operator uses them."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from application.storage.persistence import persistence_env
from bootstrap.credentials import load_credentials
from bootstrap.settings import Settings
from cli.main import main
from tests.databases import NewDatabase
from tests.helpers import FIXTURES, MASTER_KEY, MASTER_KEY_TEXT, SIGNING_KEY_TEXT, run_json


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_database: NewDatabase) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("LEDGER_WEBHOOK_SECRETS", "LEDGER_API_TOKENS", "LEDGER_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEDGER_DATABASE_URL", new_database())
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_demo_loads_a_history_with_retries(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_json(capsys, "demo") == {"recorded": 28, "duplicate": 3, "quarantined": 0}
    bob = run_json(capsys, "status", "user_bob")
    assert bob["verification"] == {
        "status": "approved",
        "session_id": "sess_bob_1",
        "identity_id": "identity_bob",
        "decision_changed": True,
        "reason": None,
        "shared_identity_with": [],
    }
    carol = run_json(capsys, "status", "user_carol")
    assert carol["aml"]["restricted"] is True
    erin = run_json(capsys, "timeline", "user_erin")
    assert erin["events"][0]["event"] == "check.completed"
    dave = run_json(capsys, "status", "user_dave")
    assert dave["verification"]["shared_identity_with"] == ["user_dave_2"]


def test_status_as_of_an_earlier_position(capsys: pytest.CaptureFixture[str]) -> None:
    run_json(capsys, "demo")
    before_review = run_json(capsys, "status", "user_bob", "--as-of", "10")
    assert before_review["verification"]["status"] == "declined"
    assert before_review["as_of"]["position"] == 10


def test_tables_are_the_default_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    capsys.readouterr()
    assert main(["status", "user_bob"]) == 0
    out = capsys.readouterr().out
    assert "VERIFICATION" in out and "approved" in out
    assert main(["projections", "status"]) == 0
    assert "subject_status" in capsys.readouterr().out


def test_ingest_counts_recorded_duplicate_and_quarantined(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = (FIXTURES / "seed-examples.jsonl").read_text().splitlines()
    backfill = tmp_path / "backfill.jsonl"
    backfill.write_text(
        "\n".join([*lines, lines[0], "not json", '{"event": "session.approved"}', ""])
    )
    assert run_json(capsys, "ingest", str(backfill)) == {
        "recorded": 26,
        "duplicate": 1,
        "quarantined": 2,
    }
    assert run_json(capsys, "ingest", str(backfill)) == {
        "recorded": 0,
        "duplicate": 27,
        "quarantined": 2,
    }
    held = run_json(capsys, "quarantine", "list")
    reasons = sorted(entry["reason"] for entry in held["entries"])
    assert reasons == ["invalid payload", "not JSON"]
    replay = run_json(capsys, "quarantine", "replay")
    assert replay["released"] == [] and len(replay["still_held"]) == 2


def test_ingest_reads_no_line_over_the_body_limit_and_records_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_MAX_BODY_BYTES", "2048")
    first, second = (FIXTURES / "seed-examples.jsonl").read_text().splitlines()[:2]
    huge = json.dumps({"event": "session.created", "note": "x" * 10_000})
    backfill = tmp_path / "backfill.jsonl"
    backfill.write_text("\n".join([first, huge, "", second, huge]))  # the last with no newline
    assert main(["ingest", "--json", str(backfill)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"recorded": 2, "duplicate": 0, "quarantined": 0, "too_large": 2}
    assert "not read: lines over 2048 bytes (LEDGER_MAX_BODY_BYTES): 2, 5" in err
    assert run_json(capsys, "quarantine", "list")["entries"] == []


def test_projections_are_caught_up_after_a_backfill(capsys: pytest.CaptureFixture[str]) -> None:
    run_json(capsys, "demo")
    states = run_json(capsys, "projections", "status")["projections"]
    assert {s["lag"] for s in states} == {0}


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "nobody"],
        ["timeline", "nobody"],
        ["status", "user_bob", "--as-of", "soon"],
        ["ingest", "missing.jsonl"],
    ],
)
def test_user_errors_exit_2_with_a_message(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    main(["demo"])
    capsys.readouterr()
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("ledger: error:")


def test_first_start_generates_credentials_kept_private(data_dir: Path) -> None:
    settings = Settings()
    generated = load_credentials(settings, generate=True)
    assert set(generated.generated) == {"webhook_secrets", "api_tokens", "master_key",
                                        "signing_key"}  # fmt: skip
    assert sorted(generated.api_tokens.values()) == ["admin", "auditor", "officer"]
    assert generated.master_key is not None and len(generated.master_key) == 32
    kept = data_dir / "credentials.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    again = load_credentials(settings, generate=True)
    assert not again.generated
    assert again.api_tokens == generated.api_tokens
    assert again.master_key == generated.master_key
    assert str(again.signing_key) == str(generated.signing_key)  # the log keeps its key


def test_configured_credentials_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_WEBHOOK_SECRETS", "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=")
    monkeypatch.setenv("LEDGER_API_TOKENS", "t1:auditor,t2:admin")
    monkeypatch.setenv("LEDGER_MASTER_KEY", MASTER_KEY_TEXT)
    monkeypatch.setenv("LEDGER_SIGNING_KEY", SIGNING_KEY_TEXT)
    credentials = load_credentials(Settings(), generate=True)
    assert credentials.api_tokens == {"t1": "auditor", "t2": "admin"}
    assert str(credentials.signing_key) == SIGNING_KEY_TEXT
    assert credentials.master_key == MASTER_KEY
    assert not credentials.generated


def test_only_what_is_not_configured_is_generated(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_WEBHOOK_SECRETS", "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=")
    credentials = load_credentials(Settings(), generate=True)
    assert set(credentials.generated) == {"api_tokens", "master_key", "signing_key"}
    kept = json.loads((data_dir / "credentials.json").read_text())
    assert "webhook_secrets" not in kept


def test_a_damaged_credentials_file_is_a_clear_error(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "credentials.json").write_text('{"api_tokens": {"t": "emperor"}}')
    with pytest.raises(ValueError, match="fix or remove it"):
        load_credentials(Settings(), generate=True)


def test_a_bad_token_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_API_TOKENS", "t1:superuser")
    monkeypatch.setenv("LEDGER_WEBHOOK_SECRETS", "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=")
    with pytest.raises(ValueError, match="token:role"):
        load_credentials(Settings(), generate=True)


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("LEDGER_DATABASE_URL", "mysql://db", "sqlite:///PATH or postgresql://"),
    ("LEDGER_MAX_BODY_BYTES", "0", "positive"),
    ("LEDGER_POOL_SIZE", "1", "at least 2"),
    ("LEDGER_MASTER_KEY", "too-short", "LEDGER_MASTER_KEY must be 32 bytes"),
])  # fmt: skip
def test_bad_settings_are_clear_errors(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("LEDGER_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/x")
    monkeypatch.setenv("LEDGER_POOL_MAX_OVERFLOW", "0")
    monkeypatch.setenv(variable, value)
    assert main(["status", "anyone"]) == 2
    assert message in capsys.readouterr().err


def test_database_urls_become_library_settings() -> None:
    env = persistence_env("postgresql://ann:p%40ss@db.internal:5433/ledger", pool_size=3)
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_USER"]) == (
        "db.internal", "5433", "ann")  # fmt: skip
    assert (env["POSTGRES_PASSWORD"], env["POSTGRES_DBNAME"], env["POSTGRES_POOL_SIZE"]) == (
        "p@ss", "ledger", "3")  # fmt: skip
    assert persistence_env("sqlite:///var/x.db")["SQLITE_DBNAME"] == "var/x.db"
    with pytest.raises(ValueError, match="a database URL is"):
        persistence_env("postgresql://host-only")
