"""Measurements that run inside one process each, so each reports its own peak memory.

Run as `python -m bench.tasks TASK DATABASE_URL [N]`; prints one JSON object.
"""

from __future__ import annotations

import json
import random
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from application.ledger import Ledger
from application.privacy.keyring import parse_master_key
from application.reading import reconstruct
from application.transparency import leaf_workers
from application.transparency.checkpoints import SigningKey
from bench.histories import ID_FIELDS, history, templates
from bench.servers import MASTER_KEY, SIGNING_KEY
from bootstrap.services import Services, open_read_models
from cli.backfill import payload_lines
from projections.models import READ_MODELS
from projections.read_model import ReadModel
from projections.runner import BATCH_SIZE, ProjectionRunner
from projections.subject_links import SUBJECT_LINKS, LinkIndex


def _open(url: str) -> Ledger:
    return Ledger.open(url, master_key=parse_master_key(MASTER_KEY))


def backfill(url: str, count: int) -> dict[str, Any]:
    """`ledger ingest FILE`'s work: the file read as it goes, every delivery through
    ingestion, appended in batches."""
    ledger = _open(url)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "backfill.jsonl"
        with path.open("wb") as out:
            out.writelines(body + b"\n" for body in history(count))
        too_large: list[int] = []
        started = time.perf_counter()
        with path.open("rb") as lines:
            for _ in ledger.ingest_stream(payload_lines(lines, 1024 * 1024, too_large)):
                pass
        seconds = time.perf_counter() - started
    assert not too_large
    return {"rows": count, "seconds": seconds}


def raw_insert(url: str, count: int) -> dict[str, Any]:
    """The same rows inserted the fastest plain way: executemany in one transaction (SQLite),
    COPY (PostgreSQL)."""
    rows = [
        (json.loads(body).get("idempotency_key", str(n)), body.decode())
        for n, body in enumerate(history(count))
    ]
    started = time.perf_counter()
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("CREATE TABLE raw (key TEXT, body TEXT)")
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO raw VALUES (?, ?)", rows)
        conn.execute("COMMIT")
    else:
        with psycopg.connect(url) as pg:
            pg.execute("CREATE TABLE raw (key TEXT, body TEXT)")
            with pg.cursor().copy("COPY raw (key, body) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    return {"rows": count, "seconds": time.perf_counter() - started}


def read_log(url: str) -> dict[str, Any]:
    """The raw rate of reading the whole notification log, in pages of 500."""
    ledger = _open(url)
    started, count, start = time.perf_counter(), 0, 1
    while page := ledger.recorder.select_notifications(start=start, limit=500):
        count += len(page)
        start = page[-1].id + 1
    return {"rows": count, "seconds": time.perf_counter() - started}


def read_and_decode(url: str) -> dict[str, Any]:
    """A rebuild's own floor: every entry read and decoded as the projections read them, in
    batches of theirs, and nothing folded or written."""
    ledger = _open(url)
    started, count, after = time.perf_counter(), 0, 0
    while True:
        with ledger.reading() as history:
            entries = history.feed.entries_after(after, BATCH_SIZE)
        if not entries:
            break
        count, after = count + len(entries), entries[-1].position
    return {"rows": count, "seconds": time.perf_counter() - started}


def rebuild(url: str) -> dict[str, Any]:
    """Every projection built afresh beside the live one, to the head."""
    return _rebuild(url, None)


def rebuild_one(url: str, model: int) -> dict[str, Any]:
    """One read model (`READ_MODELS[model]`) built afresh, the links index already live."""
    return _rebuild(url, READ_MODELS[model])


def _rebuild(url: str, one: ReadModel | None) -> dict[str, Any]:
    ledger = _open(url)
    store = open_read_models(ledger, READ_MODELS)
    links = LinkIndex(ledger, store, SUBJECT_LINKS)
    links.prepare()
    models = READ_MODELS if one is None else [one]
    runner = ProjectionRunner(ledger, store, models, links=links)
    if one is None:
        builds = [links.start_build(), *(store.start_build(model) for model in READ_MODELS)]
    else:
        assert store.serving(links.name) is not None, "the links index is built first"
        builds = [store.start_build(one)]
    started = time.perf_counter()
    runner.catch_up()
    assert all((live := store.serving(b.name)) and live.label == b.label for b in builds)
    seconds = time.perf_counter() - started
    with ledger.reading() as history:
        return {"rows": history.feed.count_after(0), "seconds": seconds,
                "name": models[0].name if one else "all"}  # fmt: skip


def verify(url: str) -> dict[str, Any]:
    """`ledger verify`: every entry's chain digest and leaf, and the signed checkpoints."""
    ledger = _open(url)
    signer = SigningKey.parse(SIGNING_KEY)
    ledger.checkpoints.issue(signer)
    started = time.perf_counter()
    result = ledger.verify(signer.verifier)
    assert result.ok, result
    return {"rows": result.chain.checked, "seconds": time.perf_counter() - started}


def as_of_reads(url: str, samples: int) -> dict[str, Any]:
    """Status and timeline of subjects with about 20 events, as of random past positions."""
    ledger = _open(url)
    rng = random.Random(3)
    head = ledger.as_of().position
    subjects = [f"user_456_{n}" for n in range(0, max(1, head // 30), 7)][:200]
    latencies = []
    for _ in range(samples):
        subject, position = rng.choice(subjects), rng.randint(head // 2, head)
        started = time.perf_counter()
        with ledger.reading() as history:  # as the API answers one request
            as_of = history.positions.as_of(position)
            reconstruct.subject_status(history, subject, as_of)
            history.timelines.subject_history(subject, as_of)
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    return {
        "ledger_size": head,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
    }


def _services(url: str) -> Services:
    """The API's services on a ledger, as `ledger serve` opens them, its read models at the
    head and a checkpoint issued (proofs default to its size)."""
    from bootstrap.credentials import Credentials
    from bootstrap.settings import Settings

    settings = Settings(database_url=url, data_dir=Path(tempfile.mkdtemp()))
    credentials = Credentials([], {"bench-admin": "admin", "bench-auditor": "auditor"},
                              parse_master_key(MASTER_KEY),
                              SigningKey.parse(SIGNING_KEY))  # fmt: skip
    services = Services.open(settings, credentials)
    services.runner.catch_up()  # current answers come from read models at the head
    services.ledger.checkpoints.issue(services.signing_key)
    return services


def _percentiles(latencies: list[float]) -> dict[str, float]:
    latencies.sort()
    return {"p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)]}  # fmt: skip


def proof_work(url: str, samples: int) -> dict[str, Any]:
    """The work of the proof and evidence routes in the server, HTTP aside (what the tree's
    design decides): each called as its route calls it; proofs in the latest checkpoint's
    tree and in an older one, bundles now and as of a past point."""
    from api.dependencies import Reader
    from api.routes import transparency
    from api.routes.subjects import MAX_EVIDENCE_ENTRIES

    services = _services(url)
    auditor = Reader("auditor", "bench")
    ledger, key = services.ledger, services.signing_key
    head = ledger.as_of().position
    per = len(templates())
    ref = next(t["external_ref"] for t in templates() if isinstance(t.get("external_ref"), str))
    rng = random.Random(9)

    def inclusion(past: int | None) -> object:
        n = rng.randrange(max(1, (past or head) // per))  # an entry of the tree asked for
        return transparency.inclusion(services, auditor, position=n * per + 1, tree_size=past)

    def consistency(past: int | None) -> object:
        n = rng.randrange(max(1, (past or head) // per))
        return transparency.consistency(services, auditor, first=n * per + 1, second=past)

    def bundle(past: int | None) -> object:
        n = rng.randrange(max(1, head // per))
        return ledger.evidence(f"{ref}_{n}", past, key, MAX_EVIDENCE_ENTRIES)

    timed, entries = {}, []
    for name, past_name, do in [("inclusion proof", "in an older tree", inclusion),
                                ("consistency proof", "to an older tree", consistency),
                                ("evidence bundle", "as of a past point", bundle)]:  # fmt: skip
        do(None)  # a warm-up
        for point in ("now", past_name):
            latencies = []
            for _ in range(samples):
                past = None if point == "now" else rng.randint(head // 2, head)
                started = time.perf_counter()
                answer = do(past)
                latencies.append(time.perf_counter() - started)
                if name == "evidence bundle" and isinstance(answer, dict):
                    entries.append(len(answer["entries"]))
            timed[f"{name} ({point})"] = _percentiles(latencies)
    services.close()
    entries.sort()
    return {"ledger_size": head, "work": timed,
            "bundle_entries": entries[len(entries) // 2] if entries else 0}  # fmt: skip


def read_routes(url: str, samples: int) -> dict[str, Any]:
    """p50 and p99 of every read route, through the HTTP app (in process), now and as of
    random past points, as an admin (who may read them all)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    services = _services(url)
    ids = {f: t[f] for t in templates() for f in ID_FIELDS if isinstance(t.get(f), str)}
    head = services.ledger.as_of().position
    per = len(templates())  # entries per subject: proofs of positions over the whole ledger
    subjects = max(1, head // per)
    rng = random.Random(5)
    routes: dict[str, Callable[[int], str]] = {
        "/subjects/{ref}/timeline": lambda n: f"/subjects/{ids['external_ref']}_{n}/timeline",
        "/subjects/{ref}/status": lambda n: f"/subjects/{ids['external_ref']}_{n}/status",
        "/sessions/{id}": lambda n: f"/sessions/{ids['session_id']}_{n}",
        "/checks/{id}": lambda n: f"/checks/{ids['check_id']}_{n}",
        "/cases/{id}": lambda n: f"/cases/{ids['case_id']}_{n}",
        "/documents/{id}": lambda n: f"/documents/{ids['document_id']}_{n}",
        "/subjects/{ref}/evidence": lambda n: f"/subjects/{ids['external_ref']}_{n}/evidence",
        "/ledger/proof/inclusion": lambda n: f"/ledger/proof/inclusion?position={n * per + 1}",
        "/ledger/proof/consistency": lambda n: f"/ledger/proof/consistency?from={n * per + 1}",
        "/ledger/checkpoint": lambda n: "/ledger/checkpoint",
        "/review-queue": lambda n: "/review-queue",
        "/alerts": lambda n: "/alerts",
        "/quarantine": lambda n: "/quarantine",
        "/access-log": lambda n: "/access-log",
        "/projections": lambda n: "/projections",
        "/healthz": lambda n: "/healthz",
    }
    timed: dict[str, dict[str, float]] = {}
    with TestClient(create_app(services)) as client:
        client.headers["Authorization"] = "Bearer bench-admin"
        for route, path in routes.items():
            client.get(path(0))  # one warm-up request: first calls import and compile
            for point in ("now", "as of"):
                latencies = []
                for _ in range(samples):
                    url = path(rng.randrange(subjects))
                    if point != "now":  # in the URL: a client's `params` would replace its query
                        url += f"{'&' if '?' in url else '?'}as_of={rng.randint(head // 2, head)}"
                    started = time.perf_counter()
                    answer = client.get(url)
                    latencies.append(time.perf_counter() - started)
                    assert answer.status_code in (200, 404), (route, answer.text[:300])
                timed[f"{route} ({point})"] = _percentiles(latencies)
    services.close()
    return {"ledger_size": head, "routes": timed}


def console_pages(url: str, samples: int) -> dict[str, Any]:
    """p50 and p99 of every console page, rendered by the app in process, signed in as an
    auditor (lists and subjects) or an admin (its pages): now, as of past points, compared."""
    import re

    from fastapi.testclient import TestClient

    from api.app import create_app

    services = _services(url)
    ids = {f: t[f] for t in templates() for f in ID_FIELDS if isinstance(t.get(f), str)}
    head = services.ledger.as_of().position
    subjects = max(1, head // len(templates()))
    rng = random.Random(6)

    def past() -> int:
        return rng.randint(head // 2, head)

    def ref(n: int) -> str:
        return f"{ids['external_ref']}_{n}"

    pages: dict[str, tuple[str, Callable[[int], str]]] = {
        "search": ("auditor", lambda n: "/console"),
        "subject (now)": ("auditor", lambda n: f"/console/subjects/{ref(n)}"),
        "subject (as of)": ("auditor", lambda n: f"/console/subjects/{ref(n)}?as_of={past()}"),
        "subject (compared)": ("auditor", lambda n: f"/console/subjects/{ref(n)}?as_of={head}"
                               f"&compare={past() // 2}"),
        "subject, filtered": ("auditor", lambda n: f"/console/subjects/{ref(n)}"
                              "?event=check.completed"),
        "session": ("auditor", lambda n: f"/console/sessions/{ids['session_id']}_{n}"),
        "check": ("auditor", lambda n: f"/console/checks/{ids['check_id']}_{n}?as_of={past()}"),
        "case": ("auditor", lambda n: f"/console/cases/{ids['case_id']}_{n}"),
        "document": ("auditor", lambda n: f"/console/documents/{ids['document_id']}_{n}"),
        "review queue": ("auditor", lambda n: "/console/review-queue"),
        "alerts (as of)": ("auditor", lambda n: f"/console/alerts?as_of={past()}"),
        "transparency log": ("auditor", lambda n: "/console/transparency"),
        "read models": ("admin", lambda n: "/console/projections"),
        "quarantine": ("admin", lambda n: "/console/quarantine"),
    }  # fmt: skip
    timed: dict[str, dict[str, float]] = {}
    with TestClient(create_app(services)) as client:
        for role in ("auditor", "admin"):
            form = client.get("/console/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form)
            assert csrf is not None
            client.post("/console/login", data={"token": f"bench-{role}", "csrf": csrf.group(1)})
            for name, (needs, path) in pages.items():
                if needs != role:
                    continue
                client.get(path(0))  # one warm-up request: first calls compile the templates
                latencies = []
                for _ in range(samples):
                    started = time.perf_counter()
                    answer = client.get(path(rng.randrange(subjects)))
                    latencies.append(time.perf_counter() - started)
                    assert answer.status_code in (200, 404), (name, answer.text[-300:])
                timed[name] = _percentiles(latencies)
    services.close()
    return {"ledger_size": head, "pages": timed}


TASKS: dict[str, Callable[..., dict[str, Any]]] = {
    "backfill": backfill,
    "raw_insert": raw_insert,
    "read_and_decode": read_and_decode,
    "read_log": read_log,
    "rebuild": rebuild,
    "rebuild_one": rebuild_one,
    "verify": verify,
    "as_of_reads": as_of_reads,
    "read_routes": read_routes,
    "console_pages": console_pages,
    "proof_work": proof_work,
}


def main() -> None:
    task, url, *rest = sys.argv[1:]
    result = TASKS[task](url, *(int(r) for r in rest))
    # This process's peak, and the largest of any process it started (`ledger verify`'s
    # leaf workers) once for each of them: an upper bound of what the work held at once.
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result["peak_rss_mb"] = own + (leaf_workers.WORKERS * child if child else 0)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
