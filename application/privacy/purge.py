"""Destroyed data keys purged from the database files, soon after each erasure (DESIGN §7).

An erasure destroys its keys in its own append, but their old bytes may linger in
SQLite's write-ahead log or in PostgreSQL's dead row versions until purged
(`Keyring.purge_destroyed`). The purge runs in a thread of its own, never the
group committer's: at once when no delivery is waiting, else within
`PURGE_DELAY_SECONDS`, once for all erasures meanwhile, so that under load it
delays few appends. Readers that keep old pages make it try again a little later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from application.privacy.keyring import Keyring

log = logging.getLogger(__name__)

PURGE_DELAY_SECONDS = 1.0  # the longest a purge waits for a moment without deliveries
RETRY_SECONDS = 0.2  # before trying again when readers held it back
ATTEMPTS = 50  # then it is left to the next checkpoint, with a warning


class KeyPurger:
    def __init__(self, keyring: Keyring, busy: Callable[[], bool]) -> None:
        self.keyring = keyring
        self.busy = busy  # whether deliveries are waiting to be appended
        self._due: float | None = None  # when the next purge is due; None: nothing to purge
        self._not_before = 0.0  # after an attempt that readers held back
        self._attempts = 0
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def erased(self) -> None:
        """Keys were destroyed: purge them soon."""
        with self._changed:
            if self._due is None:
                self._due = time.monotonic() + PURGE_DELAY_SECONDS
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="key-purge", daemon=True)
                self._thread.start()
            self._changed.notify()

    def close(self) -> None:
        """Stop the thread; purge once more if anything is still to be purged."""
        with self._changed:
            if self._closed:
                return
            self._closed = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._due is not None:
            self._due = None
            self.keyring.purge_destroyed()

    def _run(self) -> None:
        while self._next_purge():
            try:
                done = self.keyring.purge_destroyed()
            except Exception:  # a purge that failed is tried again; it never stops appends
                log.exception("purging destroyed keys failed; trying again")
                done = False
            with self._changed:
                self._attempts = 0 if done else self._attempts + 1
                if not done and self._attempts >= ATTEMPTS:
                    log.warning("destroyed keys may linger in the database files until the"
                                " next checkpoint or vacuum")  # fmt: skip
                    self._attempts = 0
                elif not done:
                    self._not_before = time.monotonic() + RETRY_SECONDS
                    self._due = self._due or self._not_before

    def _next_purge(self) -> bool:
        """Wait until a purge is due: once nothing waits to be appended, or at the latest when
        its delay is up. False once closed."""
        with self._changed:
            while not self._closed:
                now = time.monotonic()
                ready = self._due is not None and now >= self._not_before
                if ready and (now >= (self._due or now) or not self.busy()):
                    self._due = None
                    return True
                timeout = None if self._due is None else 0.05
                self._changed.wait(timeout)
            return False
