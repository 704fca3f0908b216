"""`ledger serve`: the HTTP API in one or more processes, and the projections worker beside it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import resource
import tempfile
from typing import cast

from api.connection_limits import ConnectionLimits, LimitedH11Protocol
from bootstrap.settings import Settings
from cli.errors import CliError
from workers.projections import ProjectionWorker

# Descriptors a process needs besides its clients' connections and its database pool:
# the listening socket, SQLite's files, logs, pipes to the worker.
OTHER_DESCRIPTORS = 64


def serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    if args.workers < 1:
        raise CliError("--workers must be at least 1")
    check_descriptors(settings)
    kept = settings.data_dir / "credentials.json"
    print(f"Credentials: LEDGER_* environment variables, else {kept}.")
    print(f"Console: http://{args.host}:{args.port}/console (sign in with an API token)")
    # Each API process reads its settings and credentials as this one did (`main` generated
    # what was missing): from the environment, else from the file; none is handed on here.
    # The read models are the projections worker's job (or, with --no-projections,
    # `projections run`'s), and it is given no credentials.
    limits = ConnectionLimits(settings.header_timeout_seconds, settings.body_timeout_seconds,
                              settings.max_connections)  # fmt: skip
    protocol = functools.partial(LimitedH11Protocol, limits=limits)  # built per connection
    with contextlib.ExitStack() as background:
        if args.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            # Each API process keeps its metrics in files here, so that any one answers for all.
            shared = background.enter_context(tempfile.TemporaryDirectory(prefix="ledger-metrics-"))
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared
        if not args.no_projections:
            background.enter_context(ProjectionWorker())
        uvicorn.run("api.app:app_from_environment", factory=True, workers=args.workers,
                    host=args.host, port=args.port, log_level="info",
                    access_log=args.access_log,
                    http=cast("type[asyncio.Protocol]", protocol))  # fmt: skip


def check_descriptors(settings: Settings) -> None:
    """Refuse a connection limit the process's open-files limit could not honour: clients
    would then exhaust the descriptors the database needs."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = (settings.max_connections + settings.pool_size + settings.pool_max_overflow
              + OTHER_DESCRIPTORS)  # fmt: skip
    if soft != resource.RLIM_INFINITY and soft < needed:
        msg = (f"LEDGER_MAX_CONNECTIONS={settings.max_connections} needs {needed} open files"
               f" per process, and this one may open {soft} (ulimit -n): lower the setting or"
               " raise the limit")  # fmt: skip
        raise CliError(msg)
