"""Data keys for personal data (DESIGN §7): one per session, document or stream, wrapped by
the master key, and destroyed to erase.

A data key is 32 random bytes; the database holds it only wrapped (AES-GCM under
`LEDGER_MASTER_KEY`, bound to its scope). Erasing a scope replaces its wrapped
key with nothing and keeps the row as a tombstone, so personal data that arrives
later for that scope is stored already erased. After an erasure, SQLite's
write-ahead log is checkpointed and PostgreSQL's dead row versions vacuumed, so
the destroyed key does not linger in the database files either.
"""

from __future__ import annotations

import base64
import os
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from application.storage.clock import utc_now_iso
from application.storage.database import Database
from application.storage.dialect import POSTGRES
from application.storage.unit_of_work import UnitOfWork

KEYS_TABLE = """CREATE TABLE IF NOT EXISTS data_keys (
    scope TEXT PRIMARY KEY,
    wrapped {blob},
    created_at TEXT NOT NULL,
    erased_at TEXT,
    erased_position BIGINT)"""

_CHECK_SCOPE = "$master-key-check"  # a row that tells whether the master key is the right one
_CHECK_TEXT = b"verifa-ledger master key"


class WrongMasterKey(Exception):
    """The master key does not open this database's data keys."""


class NoMasterKey(Exception):
    """This process was given no master key: it can neither seal nor disclose personal data."""


def parse_master_key(text: str) -> bytes:
    """`LEDGER_MASTER_KEY`: 32 bytes, URL-safe base64 (as `ledger serve` generates it)."""
    try:
        key = base64.urlsafe_b64decode(text.strip().encode() + b"==")
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ValueError("LEDGER_MASTER_KEY must be 32 bytes in URL-safe base64 (44 characters)")
    return key


def generate_master_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def seal(key: bytes, scope: str, plaintext: bytes) -> bytes:
    """AES-GCM with a fresh nonce, bound to the scope (a sealed value cannot be moved)."""
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, scope.encode())


def unseal(key: bytes, scope: str, sealed: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:12], sealed[12:], scope.encode())


def erase_keys(uow: UnitOfWork, scopes: Iterable[str], position: int | None) -> None:
    """Destroy the scopes' keys in the unit of work, leaving tombstones (whether or not a key
    existed yet)."""
    if uow.sql is not POSTGRES:
        uow.execute("PRAGMA secure_delete=ON")  # overwritten bytes are zeroed, not left in the page
    for scope in sorted(set(scopes)):
        uow.execute("INSERT INTO data_keys VALUES (?, NULL, ?, ?, ?) ON CONFLICT (scope) DO UPDATE"
                    " SET wrapped=NULL, erased_at=excluded.erased_at,"
                    " erased_position=excluded.erased_position WHERE data_keys.wrapped IS NOT NULL",
                    (scope, utc_now_iso(), utc_now_iso(), position))  # fmt: skip


class Keyring:
    """The data keys of one ledger database, opened with its master key.

    Without one (None: a process that handles no personal data, such as the projections
    worker, is given no secret it does not need) it still erases and purges keys, but
    sealing or disclosing personal data raises `NoMasterKey`.
    """

    def __init__(self, database: Database, master_key: bytes | None) -> None:
        self.database = database
        self._master = AESGCM(master_key) if master_key is not None else None

    @property
    def master(self) -> AESGCM:
        if self._master is None:
            raise NoMasterKey("this process was given no master key (LEDGER_MASTER_KEY)")
        return self._master

    def create_table(self) -> None:
        """Create the table, and check (or, on a new database, record) the master key."""
        with self.database.writing() as uow:
            uow.execute(KEYS_TABLE.format(blob=uow.sql.blob))
        if self._master is None:
            return
        with self.database.writing() as uow:
            stored = self._keep(uow, _CHECK_SCOPE, self._wrap(_CHECK_SCOPE, _CHECK_TEXT))
        try:
            self._unwrap(_CHECK_SCOPE, stored)
        except InvalidTag:
            msg = ("LEDGER_MASTER_KEY is not the key this database was created with:"
                   " its personal data cannot be read or written")  # fmt: skip
            raise WrongMasterKey(msg) from None

    def _wrap(self, scope: str, key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self.master.encrypt(nonce, key, scope.encode())

    def _keep(self, uow: UnitOfWork, scope: str, wrapped: bytes) -> Any:
        """Keep a wrapped key unless the scope has a row (a key or a tombstone); the row's key."""
        uow.execute("INSERT INTO data_keys VALUES (?,?,?,NULL,NULL) ON CONFLICT DO NOTHING",
                    (scope, wrapped, utc_now_iso()))  # fmt: skip
        return uow.rows("SELECT wrapped FROM data_keys WHERE scope=?", scope)[0]["wrapped"]

    def _unwrap(self, scope: str, wrapped: Any) -> bytes | None:
        if wrapped is None:
            return None
        data = bytes(wrapped)
        return self.master.decrypt(data[:12], data[12:], scope.encode())

    def keys_for_sealing(
        self,
        uow: UnitOfWork,
        scopes: Iterable[str],
        known: Mapping[str, bytes | None] | None = None,
    ) -> dict[str, bytes | None]:
        """Each scope's data key, created in the (writing) unit of work on first use; None once
        the scope is erased. `known` is what `lookup` just read, if the caller has it: the
        keys created are those of the scopes with no row at all."""
        wanted = set(scopes)
        found = dict(known) if known is not None else self.lookup(uow, wanted)
        missing = sorted(wanted - found.keys())
        if missing:
            fresh = [(s, self._wrap(s, AESGCM.generate_key(bit_length=256)), utc_now_iso())
                     for s in missing]  # fmt: skip
            uow.execute_many("INSERT INTO data_keys VALUES (?,?,?,NULL,NULL)"
                             " ON CONFLICT DO NOTHING", fresh)  # fmt: skip
            marks = ",".join("?" * len(missing))
            rows = uow.rows(f"SELECT scope, wrapped FROM data_keys WHERE scope IN ({marks})",
                            *missing)  # fmt: skip
            found.update({r["scope"]: self._unwrap(r["scope"], r["wrapped"]) for r in rows})
        return {scope: found[scope] for scope in wanted}

    def lookup(self, uow: UnitOfWork, scopes: Iterable[str]) -> dict[str, bytes | None]:
        """The scopes that have a row, read now: each one's data key, or None where it was
        destroyed (never cached: an erasure in another process takes effect at once)."""
        wanted = sorted(set(scopes))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = uow.rows(f"SELECT scope, wrapped FROM data_keys WHERE scope IN ({marks})", *wanted)
        return {r["scope"]: self._unwrap(r["scope"], r["wrapped"]) for r in rows}

    def keys(self, scopes: Iterable[str]) -> dict[str, bytes | None]:
        """The data keys of the scopes that still have one (None for the others), read now."""
        wanted = set(scopes)
        with self.database.reading() as uow:
            found = self.lookup(uow, wanted)
        return {scope: found.get(scope) for scope in wanted}

    def erased(self) -> list[dict[str, Any]]:
        with self.database.reading() as uow:
            rows = uow.rows("SELECT scope, erased_at, erased_position FROM data_keys"
                            " WHERE erased_at IS NOT NULL ORDER BY erased_at, scope")  # fmt: skip
        return [dict(row) for row in rows]

    def purge_destroyed(self) -> bool:
        """Make destroyed keys unrecoverable from the files (no old copies in the write-ahead
        log or the heap); whether it is done. On SQLite, readers that keep old pages in the
        log hold the checkpoint back: it is then for the caller to try again later."""
        if self.database.sql is POSTGRES:
            with self.database.datastore.get_connection() as conn:
                autocommit = conn.autocommit
                conn.autocommit = True
                try:
                    conn.execute("VACUUM data_keys")
                finally:
                    conn.autocommit = autocommit
            return True
        # A connection of its own, outside the library's pool (whose one writer connection the
        # appends need), that never waits: a checkpoint that truncates the log holds the write
        # lock while it waits for readers, and would hold up the appends meanwhile.
        connection = sqlite3.connect(self.database.sqlite_path, timeout=0, isolation_level=None)
        try:
            busy = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.OperationalError:  # locked by a writer meanwhile
            busy = 1
        finally:
            connection.close()
        return not busy
