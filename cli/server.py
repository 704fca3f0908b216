"""`ledger serve`: the HTTP API in one or more processes, and the projections worker beside it."""

from __future__ import annotations

import argparse
import contextlib
import os

from bootstrap.credentials import load_credentials
from bootstrap.settings import Settings
from cli.errors import CliError
from workers.projections import ProjectionWorker


def serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    if args.workers < 1:
        raise CliError("--workers must be at least 1")
    credentials = load_credentials(settings, generate=False)  # `main` generated what was missing
    kept = settings.data_dir / "credentials.json"
    print(f"Credentials: LEDGER_* environment variables, else {kept}.")
    # Every process builds its app from the environment: hand them the credentials. The read
    # models are the projections worker's job (or, with --no-projections, `projections run`'s).
    os.environ["LEDGER_WEBHOOK_SECRETS"] = ",".join(str(s) for s in credentials.webhook_secrets)
    os.environ["LEDGER_API_TOKENS"] = ",".join(
        f"{t}:{r}" for t, r in credentials.api_tokens.items()
    )
    with contextlib.ExitStack() as background:
        if not args.no_projections:
            background.enter_context(ProjectionWorker())
        uvicorn.run("api.app:app_from_environment", factory=True, workers=args.workers,
                    host=args.host, port=args.port, log_level="info",
                    access_log=args.access_log)  # fmt: skip
