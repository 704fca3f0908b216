"""`python -m bench [--full] [--stores sqlite,postgres]`: every figure beside its baseline.

Each measurement runs on a fresh database of each store, in processes of its own;
each ratio is against a baseline measured in the same run on the same store.
Results go to bench/results/<mode>.json and a chart to bench/results/<mode>.svg.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from application.webhook_authentication.signature import WebhookSecret
from bench.histories import history
from bench.report import Figure, print_figures, write_chart
from bench.required_work import required_work_rate
from bench.servers import baseline_server, ledger_server, peak_rss_mb, serving
from projections.models import READ_MODELS

RESULTS = Path(__file__).parent / "results"
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")


@dataclass(frozen=True)
class Scale:
    requests: int  # HTTP deliveries per server
    backfill: int  # deliveries ingested, then rebuilt and verified
    as_of_sizes: tuple[int, ...]  # ledger sizes for as-of reads
    rounds: int  # turns the ledger with and without its tree take, a share of the load each


QUICK = Scale(requests=6000, backfill=10_000, as_of_sizes=(2_000, 10_000), rounds=3)
FULL = Scale(requests=20_000, backfill=200_000, as_of_sizes=(10_000, 100_000, 1_000_000),
             rounds=5)  # fmt: skip


class Databases:
    """Fresh databases of one store, named for what they hold."""

    def __init__(self, store: str, folder: Path) -> None:
        self.store, self.folder = store, folder

    def new(self, name: str) -> str:
        if self.store == "sqlite":
            return f"sqlite:///{self.folder / name}.db"
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "bench_{name}"')
            admin.execute(f'CREATE DATABASE "bench_{name}"')
        return f"{POSTGRES}/bench_{name}"

    def baseline_target(self, url: str) -> str:
        return url.removeprefix("sqlite:///") if self.store == "sqlite" else url


def task(name: str, url: str, *args: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.tasks", name, url, *map(str, args)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def rate(result: dict[str, Any]) -> float:
    return float(result["rows"]) / float(result["seconds"])


def load(ports: list[int], secret: str, bodies_file: Path) -> dict[str, Any]:
    """16 connections of signed deliveries, spread over the servers on `ports`."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.load",
            "127.0.0.1",
            ",".join(map(str, ports)),
            secret,
            "16",
            str(bodies_file),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def combined(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of load on one server as one: the rate over their time, the percentiles of all
    their latencies."""
    latencies = sorted(x for r in rounds for x in r["latencies_ms"])
    statuses: dict[str, int] = {}
    for r in rounds:
        for status, n in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    return {
        "per_second": len(latencies) / sum(r["seconds"] for r in rounds),
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "statuses": statuses,
    }


def metric_samples(port: int, prefix: str) -> list[Any]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return [s for f in text_string_to_metric_families(text) for s in f.samples
            if s.name.startswith(prefix)]  # fmt: skip


def batch_sizes(port: int) -> str:
    """The group-commit batches the server's `/metrics` saw: how many, their mean size."""
    samples = {s.name: s.value for s in metric_samples(port, "ledger_group_commit_batch_size_")}
    count = samples.get("ledger_group_commit_batch_size_count", 0)
    mean = samples.get("ledger_group_commit_batch_size_sum", 0) / count if count else 0
    return f"{count:.0f}, mean size {mean:.1f}"


def settled(port: int, timeout: float = 120) -> None:
    """Wait until the server's read models have applied every entry: their catching up
    would otherwise run during the next round, on the other server's time."""
    deadline = time.monotonic() + timeout
    while any(s.value > 0 for s in metric_samples(port, "ledger_projection_lag_entries")):
        if time.monotonic() > deadline:
            raise RuntimeError("the read models did not catch up")
        time.sleep(0.2)


def http_ingestion(dbs: Databases, scale: Scale, folder: Path) -> list[Figure]:
    secret = str(WebhookSecret.generate())
    bodies = list(history(scale.requests))
    parts, share = [], -(-len(bodies) // scale.rounds)
    for n in range(scale.rounds):  # the history in order, a share at a time
        part = folder / f"bodies-{n}.jsonl"
        part.write_bytes(b"\n".join(bodies[n * share : (n + 1) * share]) + b"\n")
        parts.append(part)
    everything = folder / "bodies.jsonl"
    everything.write_bytes(b"\n".join(bodies) + b"\n")
    base_url = dbs.new("http_baseline")
    command, env = baseline_server(dbs.baseline_target(base_url), secret)
    with serving(command, env, folder) as (port, pid):
        base = load([port], secret, everything)
        base_rss = peak_rss_mb(pid)
    # Each contender: its servers on one database, the first keeping the read models.
    contenders = {
        "ledger": [ledger_server(dbs.new("http_ledger"), secret, folder)],
        "no tree": [ledger_server(dbs.new("http_no_tree"), secret, folder, tree=False)],
    }
    if dbs.store == "postgres":  # scaling out: API processes on one PostgreSQL
        contenders["2 workers"] = [ledger_server(dbs.new("http_workers"), secret, folder,
                                                 workers=2)]  # fmt: skip
        pair = dbs.new("http_pair")
        contenders["2 servers"] = [
            ledger_server(pair, secret, folder),
            ledger_server(pair, secret, folder, projections=False),
        ]
    with ExitStack() as running:
        ports = {name: [running.enter_context(serving(*server, folder)) for server in servers]
                 for name, servers in contenders.items()}  # fmt: skip
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
        for part in parts:  # the contenders take turns, a share of the load each
            for name, served in ports.items():
                rounds[name].append(load([port for port, _ in served], secret, part))
                settled(served[0][0])
        our_port, our_pid = ports["ledger"][0]
        our_rss = peak_rss_mb(our_pid)
        batches = batch_sizes(our_port)
    results = {name: combined(r) for name, r in rounds.items()}
    ours = results["ledger"]
    failed = {name: sum(n for status, n in r["statuses"].items() if not status.startswith("2"))
              for name, r in results.items()}  # fmt: skip
    store = dbs.store
    figures = [
        Figure(
            store,
            "HTTP ingestion, 16 connections (req/s)",
            ours["per_second"],
            base["per_second"],
            1.0,
            note=f"p50 {ours['p50_ms']:.1f} ms (baseline {base['p50_ms']:.1f}),"
            f" peak RSS {our_rss:.0f} MB (baseline {base_rss:.0f}), non-2xx {failed['ledger']},"
            f" group-commit batches {batches}",
        ),
        Figure(
            store,
            "HTTP ingestion with the transparency log vs without (req/s)",
            ours["per_second"],
            results["no tree"]["per_second"],
            0.95,
            note="baseline: the same build with the tree switched off (bench.without_tree),"
            f" the two taking turns, {scale.rounds} rounds each",
        ),
        Figure(
            store,
            "HTTP ingestion p99 latency (ms)",
            ours["p99_ms"],
            base["p99_ms"],
            None,
            limit=50.0,
        ),
    ]
    for name, what in (("2 workers", "ledger serve --workers 2"),
                       ("2 servers", "two ledger serve on one database, one keeping the"
                                     " read models")):  # fmt: skip
        if name in results:
            figures += [
                Figure(store, f"HTTP ingestion, {name} vs 1 (req/s)", results[name]["per_second"],
                       ours["per_second"], 1.0, note=f"{what}; non-2xx {failed[name]};"
                       f" taking turns with the one process, {scale.rounds} rounds each"),
                Figure(store, f"HTTP ingestion p99 latency, {name} (ms)", results[name]["p99_ms"],
                       None, None, limit=50.0),
            ]  # fmt: skip
    return figures


def backfill_rebuild_verify(
    dbs: Databases, scale: Scale
) -> tuple[list[Figure], tuple[int, str, dict[str, Any]]]:
    url = dbs.new("backfill")
    ours = task("backfill", url, scale.backfill)
    raw = task("raw_insert", dbs.new("raw_insert"), scale.backfill)
    required = required_work_rate(min(scale.backfill, 50_000))
    read = task("read_log", url)
    decoded = task("read_and_decode", url)
    rebuilt = task("rebuild", url)
    # Each read model alone (the links index now live): the slowest is the figure.
    alone = min((task("rebuild_one", url, n) for n in range(len(READ_MODELS))), key=rate)
    verified = task("verify", url)
    store, n = dbs.store, f"{scale.backfill:,}"
    figures = [
        Figure(
            store,
            f"backfill of {n} deliveries (rows/s)",
            rate(ours),
            rate(raw),
            0.05,
            note=f"peak RSS {ours['peak_rss_mb']:.0f} MB; baseline: "
            + ("executemany in one transaction" if store == "sqlite" else "COPY"),
        ),
        Figure(
            store,
            "  its ceiling: the work DESIGN requires per delivery, alone (rows/s)",
            required,
            rate(raw),
            None,
            note="parse and validate, seal personal data, encode, chain and tree hashes; one"
            " core, nothing stored (bench/required_work.py)",
        ),
        Figure(
            store,
            "rebuild of one projection, the slowest (events/s)",
            rate(alone),
            rate(read),
            0.25,
            note=f"{alone['name']}; baseline: reading the notification log",
        ),
        Figure(
            store,
            "rebuild of every projection at once (events/s)",
            rate(rebuilt),
            rate(read),
            0.1,
            note=f"baseline: reading the notification log; peak RSS"
            f" {rebuilt['peak_rss_mb']:.0f} MB",
        ),
        Figure(
            store,
            "  a rebuild's floor: every entry read and decoded, nothing folded (events/s)",
            rate(decoded),
            rate(read),
            None,
            note="in the projections' batches",
        ),
        Figure(
            store,
            "integrity verification (events/s)",
            rate(verified),
            rate(read),
            0.5,
            note=f"peak RSS {verified['peak_rss_mb']:.0f} MB",
        ),
    ]
    return figures, (scale.backfill, url, ours)


def work_limit(work: str) -> float:
    """The p99 targets (ms) of a proof's work in the server (5) and a bundle's (25)."""
    return 25.0 if work.startswith("evidence") else 5.0


def as_of_and_memory(
    dbs: Databases, scale: Scale, backfilled: tuple[int, str, dict[str, Any]]
) -> list[Figure]:
    """As-of reads in ledgers of each size; in each, the peak memory of the backfill that
    filled it, a rebuild and a verify."""
    results, memory = {}, {}
    for size in scale.as_of_sizes:
        url = backfilled[1] if size == backfilled[0] else dbs.new(f"as_of_{size}")
        ingested = task("backfill", url, size) if size != backfilled[0] else backfilled[2]
        results[size] = task("as_of_reads", url, 300)
        memory[size] = max(ingested["peak_rss_mb"], task("rebuild", url)["peak_rss_mb"],
                           task("verify", url)["peak_rss_mb"])  # fmt: skip
    smallest, largest = min(results), max(results)
    routes = task("read_routes", url, 200)  # in the largest ledger, its read models at the head
    pages = task("console_pages", url, 200)
    proofs = task("proof_work", url, 300)
    figures = [
        Figure(
            dbs.store,
            f"as-of status + timeline p99 at {size:,} events (ms)",
            r["p99_ms"],
            None,
            None,
            limit=10.0,
        )
        for size, r in results.items()
    ]
    figures += [
        Figure(dbs.store, f"p99 of GET {route} at {largest:,} events (ms)", r["p99_ms"],
               None, None, limit=50.0, note=f"GET {route}: p50 {r['p50_ms']:.1f} ms")
        for route, r in routes["routes"].items()
    ]  # fmt: skip
    figures += [
        Figure(dbs.store, f"p99 of the console's {page} page at {largest:,} events (ms)",
               r["p99_ms"], None, None, limit=100.0, note=f"p50 {r['p50_ms']:.1f} ms")
        for page, r in pages["pages"].items()
    ]  # fmt: skip
    figures += [
        Figure(dbs.store, f"{work} p99 in the server at {largest:,} events (ms)",
               r["p99_ms"], None, None, limit=work_limit(work),
               note=f"p50 {r['p50_ms']:.1f} ms; HTTP aside"
               + (f"; {proofs['bundle_entries']} entries" if "evidence" in work else ""))
        for work, r in proofs["work"].items()
    ]  # fmt: skip
    figures.append(
        Figure(
            dbs.store,
            f"as-of p50 at {largest:,} vs {smallest:,} events (x)",
            results[largest]["p50_ms"] / results[smallest]["p50_ms"],
            None,
            None,
            limit=1.5,
            note=f"p50 {results[smallest]['p50_ms']:.2f} ms -> {results[largest]['p50_ms']:.2f} ms",
        )
    )
    figures.append(
        Figure(
            dbs.store,
            f"peak RSS of backfill, rebuild and verify at {largest:,} events (MB)",
            memory[largest],
            None,
            None,
            limit=300.0,
        )
    )
    middle = max(size for size in memory if size < largest)  # 100,000 in the full run
    figures.append(
        Figure(
            dbs.store,
            f"peak RSS at {largest:,} vs {middle:,} events (x)",
            memory[largest] / memory[middle],
            None,
            None,
            limit=1.3,
            note=f"{memory[middle]:.0f} MB -> {memory[largest]:.0f} MB",
        )
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--full", action="store_true", help="the issue's full sizes (long)")
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    scale, mode = (FULL, "full") if args.full else (QUICK, "quick")
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        for store in args.stores.split(","):
            folder = Path(tmp) / store
            folder.mkdir()
            dbs = Databases(store, folder)
            print(f"[{store}] HTTP ingestion ...", file=sys.stderr, flush=True)
            figures += http_ingestion(dbs, scale, folder)
            print(f"[{store}] backfill, rebuild, verify ...", file=sys.stderr, flush=True)
            more, backfilled = backfill_rebuild_verify(dbs, scale)
            figures += more
            print(f"[{store}] as-of reads, memory ...", file=sys.stderr, flush=True)
            figures += as_of_and_memory(dbs, scale, backfilled)
    RESULTS.mkdir(exist_ok=True)
    command = "make bench-full" if args.full else "make bench"
    (RESULTS / f"{mode}.json").write_text(
        json.dumps({"command": command, "figures": [f.as_dict() for f in figures]}, indent=1)
    )
    write_chart(figures, RESULTS / f"{mode}.svg", title=f"`{command}`: ratio to baseline")
    print_figures(figures, command)


if __name__ == "__main__":
    main()
