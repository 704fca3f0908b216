"""A load generator in a process of its own: signed deliveries over keep-alive connections.

A minimal HTTP/1.1 client on asyncio streams, so the generator is never what limits
the rate: each connection sends one request, reads the answer, and sends the next.
Run as `python -m bench.load HOST PORTS SECRET CONNECTIONS FILE`; prints JSON. With several
comma-separated ports (servers on one database), the connections are spread over them.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from application.webhook_authentication.signature import WebhookSecret, signed_headers


async def _connection(
    host: str,
    port: int,
    secret: WebhookSecret,
    bodies: list[bytes],
    cursor: list[int],
    latencies: list[float],
    statuses: dict[int, int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while cursor[0] < len(bodies):
            body = bodies[cursor[0]]
            cursor[0] += 1
            headers = signed_headers(secret, body)
            head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            request = (
                f"POST /webhooks/verifa HTTP/1.1\r\nHost: {host}\r\n{head}"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            started = time.perf_counter()
            writer.write(request.encode() + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            status = int(status_line.split()[1])
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def run(
    host: str, ports: list[int], secret: WebhookSecret, connections: int, bodies: list[bytes]
) -> dict[str, object]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    cursor = [0]
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _connection(host, ports[n % len(ports)], secret, bodies, cursor, latencies, statuses)
            for n in range(connections)
        )
    )
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "per_second": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "statuses": statuses,
        "latencies_ms": [round(1000 * x, 3) for x in latencies],
    }


def main() -> None:
    host, ports, secret, connections, path = sys.argv[1:6]
    bodies = [line for line in Path(path).read_bytes().splitlines() if line]
    result = asyncio.run(run(host, [int(p) for p in ports.split(",")],
                             WebhookSecret.parse(secret), int(connections), bodies))  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
