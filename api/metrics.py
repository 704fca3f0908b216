"""Prometheus metrics (DESIGN §6): what an operator watches, in the text format at `/metrics`.

Counts and latencies are kept by each API process as it works; with several
processes (`ledger serve --workers N`) they are kept in files that every process
reads at a scrape (`PROMETHEUS_MULTIPROC_DIR`, set by `ledger serve`), so any one
of them answers for all. The ledger's head and each read model's position, lag
and rows set aside are read from the store at the scrape: one answer, whichever
process gives it. Labels are bounded: route templates and outcomes, never a
requested path or a subject.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bootstrap.services import Services

# Chosen by prometheus_client when it is first imported, as here: files shared by processes.
SHARED_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")

DELIVERIES = Counter(
    "ledger_deliveries",
    "Webhook deliveries answered, by outcome: recorded, duplicate, quarantined (2xx); refused"
    " (bad signature), too_large, unavailable (503), failed (500).",
    ["outcome"],
)
APPEND_SECONDS = Histogram(
    "ledger_append_seconds",
    "From an authentic delivery's hand-off to the ledger to its answer: its group commit,"
    " or its quarantine.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
BATCH_SIZE = Histogram(
    "ledger_group_commit_batch_size",
    "Deliveries committed together in one transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
BATCH_SECONDS = Histogram(
    "ledger_group_commit_seconds",
    "How long one group-commit batch took to commit.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
CONFLICTS = Counter(
    "ledger_append_conflicts",
    "Deliveries in a part of a batch another writer got to first, appended again one at a"
    " time (on PostgreSQL, never: each batch reads under the append lock).",
)
REQUEST_SECONDS = Histogram(
    "ledger_request_seconds",
    "HTTP requests by method, route template and status code, reads and writes.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)

# Any token is a method to HTTP: others are counted together, so labels stay few.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def batch_committed(size: int, seconds: float) -> None:
    """The group committer's observer (`Ledger.observe_batches`)."""
    BATCH_SIZE.observe(size)
    BATCH_SECONDS.observe(seconds)


def conflicted(deliveries: int) -> None:
    """The appender's observer (`Ledger.observe_conflicts`)."""
    CONFLICTS.inc(deliveries)


class StoreCollector(Collector):
    """Figures read from the store at each scrape: the ledger's head, the size of its latest
    signed checkpoint, and for each read model build its position, its lag behind the head
    and the rows it set aside."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        head = GaugeMetricFamily("ledger_head_position", "Position of the newest ledger entry.")
        head.add_metric([], self.services.ledger.as_of().position)
        yield head
        latest = self.services.ledger.checkpoints.latest()
        signed = GaugeMetricFamily(
            "ledger_checkpoint_size",
            "Entries the latest signed checkpoint covers (0 before the first); the head's"
            " position minus this is what no checkpoint proves yet.",
        )
        signed.add_metric([], latest.tree_size if latest else 0)
        yield signed
        labels = ["name", "version", "generation", "state"]
        position = GaugeMetricFamily(
            "ledger_projection_position",
            "Ledger position a read model build has applied.",
            labels=labels,
        )
        lag = GaugeMetricFamily(
            "ledger_projection_lag_entries",
            "Ledger entries a read model build has yet to apply.",
            labels=labels,
        )
        unapplied = GaugeMetricFamily(
            "ledger_projection_unapplied_rows",
            "Rows a read model build could not apply and set aside (`ledger projections retry`).",
            labels=labels,
        )
        for state in self.services.runner.states():
            values = [str(state[label]) for label in labels]
            position.add_metric(values, int(state["position"]))  # type: ignore[call-overload]
            lag.add_metric(values, int(state["lag"]))  # type: ignore[call-overload]
            unapplied.add_metric(values, int(state["unapplied"]))  # type: ignore[call-overload]
        yield from (position, lag, unapplied)


def exposition(services: Services) -> tuple[bytes, str]:
    """Every metric, in the Prometheus text format, and its content type."""
    registry = CollectorRegistry()
    if SHARED_DIR:
        MultiProcessCollector(registry, SHARED_DIR)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Process())
    registry.register(StoreCollector(services))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Process(Collector):
    """This process's own metrics (one API process: nothing shared to read)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


class RequestTimer:
    """ASGI middleware: each HTTP request's duration, by method, route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]  # if the app raises before answering

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in METHODS else "other"
            REQUEST_SECONDS.labels(method, template, str(status[0])).observe(
                time.perf_counter() - started
            )
