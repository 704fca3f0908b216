"""The naive endpoint the ledger must beat: verify the signature, parse the body, insert and
commit one row with a unique key. Served by uvicorn like the ledger (`--factory`)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from application.webhook_authentication.signature import SignatureError, WebhookSecret, verify

TABLE = "CREATE TABLE IF NOT EXISTS deliveries (key TEXT PRIMARY KEY, body TEXT NOT NULL)"


def app() -> FastAPI:
    """Settings from BENCH_DATABASE (a SQLite path or a PostgreSQL URL) and BENCH_SECRET."""
    database = os.environ["BENCH_DATABASE"]
    secret = WebhookSecret.parse(os.environ["BENCH_SECRET"])
    insert: Any
    if database.startswith("postgresql://"):
        pool = ConnectionPool(database, min_size=4, max_size=16, open=True)
        with pool.connection() as conn:
            conn.execute(TABLE)

        def insert(key: str, body: str) -> None:
            with pool.connection() as conn:  # commits on leaving the block
                conn.execute(
                    "INSERT INTO deliveries VALUES (%s, %s) ON CONFLICT DO NOTHING", (key, body)
                )
    else:
        local = threading.local()

        def connection() -> sqlite3.Connection:
            if not hasattr(local, "conn"):
                local.conn = sqlite3.connect(database, timeout=30, isolation_level=None)
                local.conn.execute("PRAGMA journal_mode=WAL")
                local.conn.execute(TABLE)
            conn: sqlite3.Connection = local.conn
            return conn

        def insert(key: str, body: str) -> None:
            conn = connection()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO deliveries VALUES (?, ?) ON CONFLICT DO NOTHING", (key, body))
            conn.execute("COMMIT")

    api = FastAPI()

    @api.post("/webhooks/verifa")
    async def receive(request: Request) -> dict[str, str]:
        body = await request.body()
        try:
            webhook_id = verify(
                [secret], request.headers, body, now=time.time(), tolerance_seconds=300
            )
        except SignatureError as error:
            raise HTTPException(401, str(error)) from None
        payload = json.loads(body)
        await run_in_threadpool(insert, payload.get("idempotency_key") or webhook_id, body.decode())
        return {"status": "recorded"}

    @api.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return api
