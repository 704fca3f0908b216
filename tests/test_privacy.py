"""Personal data at rest, erasure and who may read it (DESIGN §7)."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from application.ledger import Ledger
from application.privacy.keyring import WrongMasterKey, generate_master_key, parse_master_key
from application.recording.delivery import read_delivery
from application.recording.outcomes import Recorded
from cli.main import main
from domain.entries import StreamKey
from tests.databases import NewDatabase, empty_postgres_database
from tests.helpers import (
    MASTER_KEY,
    MASTER_KEY_TEXT,
    LedgerClient,
    all_entries,
    position_of,
    seed_examples,
    session_event,
    stale_loads,
    wait_until,
)

PERSONAL = ("first_name", "last_name", "date_of_birth", "document_number")


def approval(session_id: str, ref: str, n: int = 0) -> tuple[dict[str, Any], list[str]]:
    """A `session.approved` whose personal values are unique strings, easy to look for."""
    payload = next(p for p in seed_examples() if p["event"] == "session.approved")
    marks = [f"PII{uuid.uuid4().hex[:16]}" for _ in PERSONAL]
    extracted = {**payload["result"]["extracted_data"], **dict(zip(PERSONAL, marks, strict=True))}
    return {**payload, "session_id": session_id, "external_ref": ref,
            "idempotency_key": f"approved-{session_id}-{n}",
            "result": {**payload["result"], "extracted_data": extracted}}, marks  # fmt: skip


def event(event_type: str, key: str, **fields: Any) -> dict[str, Any]:
    return {"event": event_type, "is_sandbox": False, "idempotency_key": key, **fields}


def database_files(ledger: Ledger) -> list[Path]:
    """The files the ledger's database lives in, flushed to disk."""
    if ledger.database.sql.name == "sqlite":
        path = Path(ledger.database.sqlite_path)
        return [p for p in path.parent.glob(f"{path.name}*") if p.is_file()]
    with ledger.database.datastore.get_connection() as conn:
        conn.execute("CHECKPOINT")
        data = Path(conn.execute("SHOW data_directory").fetchone()["data_directory"])
        oid = conn.execute(
            "SELECT oid FROM pg_database WHERE datname = current_database()"
        ).fetchone()["oid"]
    folders = [data / "base" / str(oid), data / "pg_wal"]
    if not os.access(data / "base", os.R_OK):
        pytest.fail(f"cannot read {data}: run the tests as a user who can (root or postgres)")
    return [p for folder in folders for p in folder.rglob("*") if p.is_file()]


def found_in_files(ledger: Ledger, marks: Sequence[str | bytes], *, wal: bool = True) -> list[str]:
    found = []
    for path in database_files(ledger):
        if not wal and "pg_wal" in path.parts:
            continue
        content = path.read_bytes()
        found += [f"{mark!r} in {path}" for mark in marks
                  if (mark if isinstance(mark, bytes) else mark.encode()) in content]  # fmt: skip
    return found


def wrapped_key(ledger: Ledger, scope: str) -> bytes:
    with ledger.database.datastore.transaction(commit=False) as c:
        c.execute(ledger.database.sql("SELECT wrapped FROM data_keys WHERE scope=?"), (scope,))
        return bytes(c.fetchone()["wrapped"])


def timeline_payloads(client: LedgerClient, ref: str, role: str) -> list[dict[str, Any]]:
    answer = client.read(f"/subjects/{ref}/timeline", role=role)
    assert answer.status_code == 200, answer.text
    return [e["payload"] for e in answer.json()["events"]]


def extracted(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p["result"]["extracted_data"] for p in payloads if "result" in p]


def extraction(document_id: str, key: str, name: str, **fields: Any) -> dict[str, Any]:
    """A document event that carries personal data."""
    return event("document.extracted", key, document_id=document_id, extraction_id=key,
                 extraction_type="ocr", status="completed",
                 result={"extracted_data": {"first_name": name}}, **fields)  # fmt: skip


def extracted_names(ledger: Ledger) -> dict[str, object]:
    return {e.idempotency_key: e.payload["result"]["extracted_data"]["first_name"]
            for e in ledger.disclose(all_entries(ledger))
            if e.event_type == "document.extracted"}  # fmt: skip


def test_personal_data_is_never_in_the_database_files(client: LedgerClient) -> None:
    payload, marks = approval("s-pii", "u-pii")
    assert client.deliver(payload).json()["status"] == "recorded"
    unreadable = json.dumps(payload).encode()[:-1]  # quarantined: its body is kept sealed too
    assert client.deliver(unreadable).json()["status"] == "quarantined"
    client.caught_up()
    ledger = client.services.ledger
    assert found_in_files(ledger, ["approved-s-pii-0"])  # the scan sees what is stored...
    assert found_in_files(ledger, marks) == []  # ...and no personal value is
    assert extracted(timeline_payloads(client, "u-pii", "officer"))[0]["first_name"] == marks[0]
    held = client.read("/quarantine", role="admin").json()["entries"]
    assert held[0]["body_preview"] == unreadable[:200].decode()  # admins still read it

    key = wrapped_key(ledger, "session:s-pii")
    assert found_in_files(ledger, [key], wal=False)
    redaction = event("session.redacted", "redact", session_id="s-pii", external_ref="u-pii")
    assert client.deliver(redaction).status_code == 200
    assert found_in_files(ledger, marks) == []
    # The destroyed key is gone from the tables' files too, once purged in the background
    # (PostgreSQL's write-ahead log keeps old pages until it recycles them; the key is wrapped
    # by the master key there).
    wait_until(lambda: found_in_files(ledger, [key], wal=False) == [], what="the key purged")


def test_officers_see_personal_data_until_it_is_erased_auditors_never(
    client: LedgerClient,
) -> None:
    payload, marks = approval("s-1", "ann")
    client.deliver(payload)
    assert extracted(timeline_payloads(client, "ann", "auditor"))[0]["first_name"] == "[masked]"
    assert extracted(timeline_payloads(client, "ann", "officer"))[0]["first_name"] == marks[0]
    body_as_sent = timeline_payloads(client, "ann", "admin")[0]
    assert body_as_sent == payload

    client.deliver(event("session.redacted", "redact-1", session_id="s-1", external_ref="ann"))
    for role in ("officer", "admin"):
        after = extracted(timeline_payloads(client, "ann", role))[0]
        assert set(after.values()) == {"[erased]"}, role
    assert extracted(timeline_payloads(client, "ann", "auditor"))[0]["first_name"] == "[masked]"
    # The event and its other fields stay; the decision stands.
    [kept] = [
        p for p in timeline_payloads(client, "ann", "officer") if p["event"] == "session.approved"
    ]
    assert (kept["status"], kept["result"]["face_match_passed"]) == ("approved", True)
    status = client.caught_up().read("/subjects/ann/status").json()
    assert status["verification"]["status"] == "approved"
    assert client.services.ledger.chain.verify().ok

    # Erasure is permanent: personal data arriving later for the session is stored erased.
    late, late_marks = approval("s-1", "ann", n=1)
    client.deliver(late)
    assert [set(d.values()) for d in extracted(timeline_payloads(client, "ann", "officer"))] == [
        {"[erased]"}, {"[erased]"}]  # fmt: skip
    assert found_in_files(client.services.ledger, marks + late_marks) == []


def test_a_session_erasure_covers_its_documents_and_a_document_can_be_erased_alone(
    client: LedgerClient,
) -> None:
    for document_id, session_id in (("d-1", "s-9"), ("d-2", "s-9"), ("d-3", "s-8")):
        client.deliver(event("document.uploaded", f"up-{document_id}", document_id=document_id,
                             document_type="passport", classification="identity_document",
                             session_id=session_id, external_ref="bea"))  # fmt: skip
        client.deliver(extraction(document_id, f"extract-{document_id}", f"Doc{document_id}"))
    client.deliver(event("session.retention-expired", "expire-s-9", session_id="s-9",
                         external_ref="bea"))  # fmt: skip
    client.deliver(event("document.redacted", "redact-d-3", document_id="d-3"))
    erased = {k["scope"] for k in client.services.ledger.keyring.erased()}
    assert {"session:s-9", "document:d-1", "document:d-2", "document:d-3"} <= erased
    names = [d["first_name"] for d in extracted(timeline_payloads(client, "bea", "officer"))]
    assert names == ["[erased]", "[erased]", "[erased]"]
    assert client.services.ledger.chain.verify().ok


def test_erasure_on_request_records_who_and_why_and_projections_still_rebuild(
    client: LedgerClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for n, (session_id, ref) in enumerate([("s-a", "cal"), ("s-b", "cal"), ("s-c", "dan")]):
        client.deliver(approval(session_id, ref, n)[0])
    services = client.services
    monkeypatch.setenv("LEDGER_DATABASE_URL", services.settings.database_url.get_secret_value())
    monkeypatch.setenv("LEDGER_DATA_DIR", str(services.settings.data_dir))
    monkeypatch.setenv("LEDGER_MASTER_KEY", MASTER_KEY_TEXT)
    capsys.readouterr()
    assert main(["erase", "--subject", "cal", "--reason", "GDPR art. 17 request #12",
                 "--by", "dpo@example.com", "--json"]) == 0  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert {"session:s-a", "session:s-b"} <= set(result["erased"])
    assert "session:s-c" not in result["erased"]
    cal = timeline_payloads(client, "cal", "officer")
    assert [set(d.values()) for d in extracted(cal)] == [{"[erased]"}, {"[erased]"}]
    request = cal[-1]
    assert (request["event"], request["requested_by"], request["reason"]) == (
        "ledger.erasure-requested", "dpo@example.com", "GDPR art. 17 request #12")  # fmt: skip
    assert extracted(timeline_payloads(client, "dan", "officer"))[0]["first_name"] != "[erased]"
    assert main(["erase", "--subject", "nobody", "--reason", "x"]) == 2
    assert "no subject 'nobody'" in capsys.readouterr().err
    assert main(["erase", "--session", "s-c", "--reason", " "]) == 2
    assert main(["erase", "--session", "no-such-session", "--reason", "x"]) == 2
    assert "no session 'no-such-session'" in capsys.readouterr().err

    assert services.ledger.chain.verify().ok
    client.caught_up()
    before = {ref: client.read(f"/subjects/{ref}/status").json() for ref in ("cal", "dan")}
    for model in services.runner.models:
        services.runner.catch_up(only=services.read_models.start_build(model))
    assert {ref: client.read(f"/subjects/{ref}/status").json() for ref in ("cal", "dan")} == before


def test_a_wrong_master_key_is_a_clear_error(new_database: NewDatabase) -> None:
    url = new_database()
    Ledger.open(url, master_key=MASTER_KEY).close()
    with pytest.raises(WrongMasterKey, match="not the key this database was created with"):
        Ledger.open(url, master_key=parse_master_key(generate_master_key()))


ROUTES = {  # route: the lowest role that may read it
    "/subjects/user_456/timeline": "auditor", "/subjects/user_456/status": "auditor",
    "/sessions/session_abc123": "auditor", "/checks/check_abc123": "auditor",
    "/cases/case_abc123": "auditor", "/documents/doc_abc123": "auditor",
    "/review-queue": "auditor", "/alerts": "auditor", "/ledger/verify": "admin",
    "/projections": "admin", "/quarantine": "admin", "/access-log": "admin",
}  # fmt: skip
ROLES = ("auditor", "officer", "admin")


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_every_read_route_checks_the_role(client: LedgerClient, route: str) -> None:
    for payload in seed_examples():
        assert client.deliver(payload).json()["status"] == "recorded"
    client.caught_up()
    assert client.get(route).status_code == 401
    assert client.get(route, headers={"Authorization": "Bearer guess-123"}).status_code == 401
    for role in ROLES:
        allowed = ROLES.index(role) >= ROLES.index(ROUTES[route])
        answer = client.read(route, role=role)
        assert answer.status_code == (200 if allowed else 403), (role, answer.text)
        assert "-token" not in answer.text  # tokens never echoed


def test_officer_reads_of_personal_data_are_in_the_access_log(client: LedgerClient) -> None:
    client.deliver(approval("s-1", "ann")[0])
    client.read("/subjects/ann/timeline", role="auditor")  # masked: not a disclosure
    client.read("/subjects/ann/timeline", role="officer", as_of="1")
    client.read("/subjects/ann/timeline", role="admin")
    log = client.read("/access-log", role="admin").json()["accesses"]
    assert [(a["role"], a["subject"], a["what"]) for a in log] == [
        ("officer", "ann", "timeline as of 1"), ("admin", "ann", "timeline as of 1")]  # fmt: skip
    assert all(a["who"].startswith(a["role"] + ":") and "token" not in a["who"] for a in log)
    assert client.read("/access-log", role="officer").status_code == 403
    for bad in ({"after": -1}, {"limit": 0}, {"limit": 1001}, {"after": "x"}):
        assert client.read("/access-log", role="admin", **bad).status_code == 422
    only_ann = client.read("/access-log", role="admin", subject="bob").json()["accesses"]
    assert only_ann == []
    after_first = client.read("/access-log", role="admin", after=log[0]["id"]).json()
    assert [a["id"] for a in after_first["accesses"]] == [log[1]["id"]]


def test_a_document_first_seen_after_its_session_was_erased_is_stored_erased(
    client: LedgerClient,
) -> None:
    client.deliver(approval("s-late", "eve")[0])
    client.deliver(event("document.uploaded", "up-1", document_id="d-early", session_id="s-late",
                         document_type="passport", classification="identity_document",
                         external_ref="eve"))  # fmt: skip
    client.deliver(
        event("session.redacted", "redact-late", session_id="s-late", external_ref="eve")
    )
    client.deliver(event("document.uploaded", "up-2", document_id="d-late", session_id="s-late",
                         document_type="passport", classification="identity_document",
                         external_ref="eve"))  # fmt: skip
    for n, document_id in enumerate(["d-early", "d-late"]):  # no session named: found by links
        client.deliver(event("document.extracted", f"x-{n}", document_id=document_id,
                             extraction_id=f"x{n}", extraction_type="ocr", status="completed",
                             result={"extracted_data": {"first_name": f"LATE{n}"}}))  # fmt: skip
    names = [d["first_name"] for d in extracted(timeline_payloads(client, "eve", "officer"))]
    assert names == ["[erased]", "[erased]", "[erased]"]
    assert found_in_files(client.services.ledger, ["LATE0", "LATE1"]) == []


def test_a_body_that_repeats_a_key_is_quarantined_sealed(client: LedgerClient) -> None:
    """Otherwise the parsed payload (last key wins) could hide personal data the raw body has."""
    body = (b'{"event":"session.approved","session_id":"s-d","external_ref":"dup",'
            b'"status":"approved","is_sandbox":false,"idempotency_key":"dup-1",'
            b'"result":{"extracted_data":{"first_name":"HIDDENNAME"},'
            b'"extracted_data":null}}')  # fmt: skip
    answer = client.deliver(body).json()
    assert answer["status"] == "quarantined"
    held = client.read("/quarantine", role="admin").json()["entries"]
    assert "twice" in held[0]["errors"][0]["msg"]
    assert found_in_files(client.services.ledger, ["HIDDENNAME"]) == []


def test_a_webhook_cannot_pose_as_the_ledger_to_erase(client: LedgerClient) -> None:
    payload, marks = approval("s-f", "fay")
    client.deliver(payload)
    forged = event("ledger.erasure-requested", "forged", external_ref="fay",
                   requested_by="dpo@example.com", reason="forged")  # fmt: skip
    assert client.deliver(forged).json()["status"] == "quarantined"
    assert extracted(timeline_payloads(client, "fay", "officer"))[0]["first_name"] == marks[0]
    assert client.services.ledger.keyring.erased() == []


def test_in_one_batch_a_document_of_an_erased_session_is_erased_beside_one_sealed(
    ledger: Ledger,
) -> None:
    """Sealing reads a batch's tombstones and keys once for all of it, and follows the batch's
    own order: once a delivery names an erased session for a document, that document's
    personal data is erased, as it would be delivered one at a time; another document's,
    under a key of its own, is sealed."""
    ledger.ingest_all([json.dumps(event("session.redacted", "redact-s-x", session_id="s-x",
                                        external_ref="fay")).encode()])  # fmt: skip
    ledger.ingest_all([json.dumps(p).encode() for p in (
        extraction("d-1", "x-0", "NAME0", session_id="s-x"),
        extraction("d-1", "x-1", "NAME1"),
        extraction("d-2", "x-2", "NAME2"),
    )])  # fmt: skip
    assert extracted_names(ledger) == {"x-0": "[erased]", "x-1": "[erased]", "x-2": "NAME2"}


def test_a_batch_retried_after_a_conflict_seals_with_keys_that_were_kept(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's new data keys commit with its events: when another process wrote to its
    stream first and the batch is retried one append at a time, it is sealed again with keys
    that are kept, so its personal data can still be disclosed."""
    seen = ledger.ingest(json.dumps(event("session.created", "c-gus", session_id="s-retry",
                                          external_ref="gus")).encode(), None)  # fmt: skip
    ledger.ingest(json.dumps(event("session.started", "s-gus", session_id="s-retry",
                                   external_ref="gus")).encode(), None)  # fmt: skip
    assert isinstance(seen, Recorded)
    conflicts = stale_loads(monkeypatch, StreamKey("applicant", "gus"), seen.position, times=1)
    payload, marks = approval("s-retry", "gus")
    [outcome] = ledger.record_all([read_delivery(json.dumps(payload).encode(), None)])
    assert conflicts == [1]
    [*_, entry] = ledger.disclose(all_entries(ledger))
    assert entry.position == position_of(outcome)
    assert entry.payload["result"]["extracted_data"]["first_name"] == marks[0]


def test_purging_an_erasures_keys_never_holds_up_deliveries(ledger: Ledger) -> None:
    """The destroyed keys' old bytes are purged in the background: a reader that holds the
    purge back (SQLite's checkpoint waits for it) holds up neither the erasure's answer nor
    the deliveries after it."""
    payload, _ = approval("s-purge", "pia")
    ledger.ingest(json.dumps(payload).encode(), None)
    redaction = event("session.redacted", "redact-purge", session_id="s-purge",
                      external_ref="pia")  # fmt: skip
    later = event("session.created", "later", session_id="s-later", external_ref="pia")
    with ledger.database.reading(pin_on_sqlite=True) as reader, ThreadPoolExecutor(1) as pool:
        reader.rows("SELECT count(*) AS n FROM ledger_entries")  # a read transaction, open
        for body in (redaction, later):
            answer = pool.submit(ledger.ingest, json.dumps(body).encode(), None)
            assert isinstance(answer.result(timeout=5), Recorded)
    assert [e.idempotency_key for e in all_entries(ledger)][-2:] == ["redact-purge", "later"]


def test_personal_data_after_an_erasure_in_the_same_batch_is_stored_erased(
    ledger: Ledger,
) -> None:
    ledger.ingest_all([json.dumps(p).encode() for p in (
        event("session.created", "created", session_id="s-b", external_ref="bo"),
        extraction("d-b", "before", "KEPT", session_id="s-b"),
        event("session.redacted", "redacted", session_id="s-b", external_ref="bo"),
        extraction("d-b", "after", "LATE", session_id="s-b"),
        extraction("d-n", "first named after", "NEW", session_id="s-b"),
        extraction("d-c", "elsewhere", "OTHER", session_id="s-c"),
    )])  # fmt: skip
    assert extracted_names(ledger) == {
        "before": "[erased]", "after": "[erased]", "first named after": "[erased]",
        "elsewhere": "OTHER",
    }  # fmt: skip


def test_an_erasure_another_process_asks_for_while_a_batch_is_planned_waits_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL: a batch is planned under the lock that orders appends, so another
    process's erasure cannot come between its planning and its insert: it waits for the
    batch's commit, then erases what the batch sealed. (SQLite checks under its write lock
    that nothing was erased since the planning, and plans again if something was.)"""
    url = empty_postgres_database()
    this, other = (Ledger.open(url, master_key=MASTER_KEY) for _ in range(2))
    try:
        other.ingest(json.dumps(extraction("d-r", "first", "KEPT")).encode(), None)  # its key
        other.ingest(json.dumps(event("session.created", "created", session_id="s-r",
                                      external_ref="rae")).encode(), None)  # fmt: skip
        plan, erasing = this.appender.planner.plan, list[threading.Thread]()
        erased: list[object] = []

        def erase() -> None:
            erased.append(other.ingest(json.dumps(event(
                "session.redacted", "redacted", session_id="s-r", external_ref="rae"
            )).encode(), None))  # fmt: skip

        def planned_while_another_process_erases(*args: Any) -> Any:
            planned = plan(*args)
            if not erasing:
                erasing.append(threading.Thread(target=erase))
                erasing[0].start()
                erasing[0].join(0.5)
                assert not erased, "the erasure came between the planning and the insert"
            return planned

        monkeypatch.setattr(this.appender.planner, "plan", planned_while_another_process_erases)
        this.ingest(json.dumps(extraction("d-r", "late", "LEAK", session_id="s-r")).encode(), None)
        erasing[0].join(30)
        # Recorded before the erasure, "late" tied the document to the session, whose
        # erasure covers its documents: both extractions are erased.
        assert erased and extracted_names(this) == {"first": "[erased]", "late": "[erased]"}
    finally:
        this.close()
        other.close()


# Quarantined copies (DESIGN §7.3): erased with the scopes their bodies name.

UNREADABLE_APPROVAL = {"event": "session.approved", "session_id": "s_q", "external_ref": "u_q",
                       "status": "approved", "is_sandbox": "no",  # mistyped: quarantined
                       "result": {"extracted_data": {"first_name": "Jane"}}}  # fmt: skip


def held_bodies(ledger: Ledger) -> list[bytes]:
    return [entry.body for entry in ledger.quarantine.list()]


@pytest.mark.parametrize(
    "erasure",
    [{"session": "s_q"}, {"subject": "u_q"}],
)
def test_an_erasure_erases_the_quarantined_copies_that_name_its_scope(
    ledger: Ledger, erasure: dict[str, str]
) -> None:
    """A quarantined `session.approved` with personal data used to stay readable after the
    session's erasure and the subject's."""
    ledger.ingest(json.dumps(session_event(session_id="s_q", ref="u_q", key="k0")).encode(), None)
    ledger.ingest(json.dumps(UNREADABLE_APPROVAL).encode(), "w1")
    other = {**UNREADABLE_APPROVAL, "session_id": "s_other", "external_ref": "u_other"}
    ledger.ingest(json.dumps(other).encode(), "w2")
    assert b"Jane" in held_bodies(ledger)[0]
    done = ledger.request_erasure(reason="gdpr", requested_by="dpo", **erasure)
    assert any(scope.startswith("quarantine:") for scope in done.erased_scopes)
    [erased, kept] = sorted(ledger.quarantine.list(), key=lambda e: e.erased, reverse=True)
    assert erased.erased and erased.body == b""
    assert not kept.erased and json.loads(kept.body) == other
    assert erased.id in ledger.replay_quarantine().still_held  # nothing left to replay


def test_a_quarantined_copy_that_arrives_after_the_erasure_is_kept_erased(
    ledger: Ledger,
) -> None:
    redacted = session_event("session.redacted", session_id="s_q", ref="u_q", key="k0")
    ledger.ingest(json.dumps(redacted).encode(), None)
    ledger.ingest(json.dumps(UNREADABLE_APPROVAL).encode(), "w1")
    [entry] = ledger.quarantine.list()
    assert entry.erased and entry.body == b""
    assert entry.reason == "invalid payload"  # why it was held is kept
