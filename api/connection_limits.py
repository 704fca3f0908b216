"""Slow and greedy clients: deadlines for reading a request, and a cap on connections.

uvicorn's HTTP/1.1 protocol (h11) waits for a request as long as the client cares
to send it: a connection that sends its head a byte at a time, or `Content-Length:
1000` and then 3 bytes, or nothing at all, holds a connection, a file descriptor
and a request's memory for ever (its keep-alive timeout only runs between
requests, and its `limit_concurrency` answers only requests already read). A few
hundred of them exhaust a server. This protocol is uvicorn's, with, per process:

- a head deadline: a request's head must have arrived `header_timeout` seconds
  after its first byte (or after the connection opened, for the first request;
  an idle connection between requests is left to uvicorn's keep-alive timeout);
- a body deadline: its body, `body_timeout` seconds after its head;
- a cap: at most `max_connections` at once; one more is closed as it is
  accepted, unread (nothing is owed to it), so descriptors stay bounded.

A request that misses a deadline is answered `408 Request Timeout` with
`Connection: close` where HTTP allows it (RFC 9110 §15.5.9): part of it has
arrived and nothing has been answered yet. Either way the connection is closed:
its framing is lost. `ledger serve` runs this protocol in every API process.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

log = logging.getLogger("uvicorn.error")

Awaiting = Literal["head", "body"] | None  # what a connection waits for from its client

TIMED_OUT_BODY = b"request not received in time\n"


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float  # seconds
    body_timeout: float  # seconds
    max_connections: int  # per process


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with read deadlines and a connection cap (`ConnectionLimits`).

    uvicorn builds one per connection from its `http` setting, as
    `functools.partial(LimitedH11Protocol, limits=...)`.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self.awaiting: Awaiting = None
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            log.warning("Connection limit (%d) reached: a new connection closed unread",
                        self.limits.max_connections)  # fmt: skip
            transport.close()
            return
        self.wait_for("head")

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self.wait_for(None)
        super().connection_lost(exc)

    def follow(self) -> None:
        """Set the deadline for what the connection now waits for from its client."""
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            awaiting: Awaiting = "body"
        elif state is h11.IDLE and (self.awaiting == "head" or self.conn.trailing_data[0]):
            awaiting = "head"  # the first request, or a part of the next one, is awaited
        else:
            awaiting = None  # a whole request is read, or the connection idles between requests
        if awaiting != self.awaiting:
            self.wait_for(awaiting)

    def wait_for(self, awaiting: Awaiting) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        self.awaiting = awaiting
        if awaiting is not None and not self.transport.is_closing():
            seconds = self.limits.header_timeout if awaiting == "head" else self.limits.body_timeout
            self.deadline = self.loop.call_later(seconds, self.timed_out)

    def timed_out(self) -> None:
        """Answer 408 if HTTP allows it, end the request for the app, close the connection."""
        self.deadline = None
        begun = self.awaiting == "body" or bool(self.conn.trailing_data[0])
        unanswered = self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE)
        if begun:
            log.info("%s - request %s not received in time: closed", self.peer(), self.awaiting)
        if begun and unanswered:
            headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close"),
                       (b"content-length", str(len(TIMED_OUT_BODY)).encode())]  # fmt: skip
            for event in (h11.Response(status_code=408, headers=headers, reason=b"Request Timeout"),
                          h11.Data(data=TIMED_OUT_BODY), h11.EndOfMessage()):  # fmt: skip
                self.transport.write(self.conn.send(event))
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app's request ends here: it sends nothing more
            self.cycle.message_event.set()
        self.transport.close()

    def peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
