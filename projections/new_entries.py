"""When to look for new ledger entries: the library's subscription, or a poll of the head.

On PostgreSQL every append NOTIFYs; the library's subscription LISTENs and wakes
the runner as soon as an entry commits. The library cannot subscribe to SQLite,
so there the runner polls the ledger's head, which costs one indexed query.
A subscription whose connection dies is started again (the library's stops for
good), and the head is checked at least once a second in either case.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from eventsourcing.postgres import PostgresApplicationRecorder

from application.ledger import Ledger

log = logging.getLogger(__name__)


class NewEntries:
    """Waits until the ledger has grown past what the runner last saw."""

    def __init__(self, ledger: Ledger, poll_interval: float = 0.05) -> None:
        self.ledger = ledger
        self.recorder: Any = ledger.recorder
        self.poll_interval = poll_interval
        self.notified = threading.Event()  # set by the subscription (PostgreSQL)
        self.listening = threading.Event()  # the subscription is in place
        self.seen = -1  # the head the last poll found (SQLite)
        self._stopped = threading.Event()
        self._listener: threading.Thread | None = None
        self._subscription: Any = None

    @property
    def pushed(self) -> bool:
        """Whether the database tells us about new entries (PostgreSQL) instead of being polled."""
        return isinstance(self.recorder, PostgresApplicationRecorder)

    def __enter__(self) -> NewEntries:
        if self.pushed:
            self._listener = threading.Thread(
                target=self._listen, name="ledger-listen", daemon=True
            )
            self._listener.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self.notified.set()
        if self._subscription is not None:
            self._subscription.stop()
        if self._listener is not None:
            self._listener.join(timeout=5)

    def _listen(self) -> None:
        while not self._stopped.is_set():
            try:
                gt = self.recorder.max_notification_id()
                with self.recorder.subscribe(gt=gt) as subscription:
                    self._subscription = subscription
                    self.listening.set()
                    self.notified.set()  # anything committed before LISTEN began
                    for _ in subscription:
                        self.notified.set()
            except Exception:
                log.exception("ledger subscription failed; subscribing again")
            self.listening.clear()
            self._stopped.wait(1.0)

    def wait(self, stop: threading.Event) -> None:
        """Return once there may be new entries, or `stop` is set (at most about a second)."""
        if self.pushed:
            self.notified.wait(timeout=1.0)
            self.notified.clear()
            return
        for _ in range(int(1.0 / self.poll_interval)):
            head = self.ledger.as_of().position
            if head != self.seen or stop.is_set():
                self.seen = head
                return
            stop.wait(self.poll_interval)
