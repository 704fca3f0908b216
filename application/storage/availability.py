"""What a store failure means: the store out of reach, which passes, or a fault, which does not.

Only the first is worth trying again later (the API answers it 503): the connection was
refused or lost, no connection could be had from the pool in time, the database was busy
with other writers. Anything else (a missing table, a query the database refuses, a value
it cannot hold) fails again the same way until someone fixes it, so it must be seen. Two
kinds of failure the ledger handles itself: an append that lost to another writer (tried
again), and a delivery whose values the database refuses (quarantined, alone).
"""

from __future__ import annotations

import sqlite3

import psycopg
from eventsourcing.persistence import (
    ConnectionUnavailableError,
    DataError,
    OperationalError,
    PersistenceError,
)

# SQLite's own names for "busy": another connection holds a lock this one needs; and for a
# database file that cannot be opened (the disk or the folder is gone).
_SQLITE_OUT_OF_REACH = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN")

# PostgreSQL's: a connection exception (class 08), too many connections (53300), the server
# shutting down or starting (57P01-57P03), and writers in each other's way (40001, 40P01, 55P03).
_POSTGRES_OUT_OF_REACH = ("08", "53300", "57P01", "57P02", "57P03", "40001", "40P01", "55P03")


def out_of_reach(error: BaseException) -> bool:
    """Whether `error` (as the `eventsourcing` library raises it) says the store could not be
    reached or was too busy: trying again later can succeed."""
    if isinstance(error, ConnectionUnavailableError):  # the library's own pool timed out
        return True
    if not isinstance(error, OperationalError):
        return False
    cause = error.__cause__
    if isinstance(cause, sqlite3.OperationalError):
        return getattr(cause, "sqlite_errorname", "").startswith(_SQLITE_OUT_OF_REACH)
    if isinstance(cause, psycopg.OperationalError):
        # Without a SQLSTATE the server never answered: refused, lost, or the pool timed out.
        return cause.sqlstate is None or cause.sqlstate.startswith(_POSTGRES_OUT_OF_REACH)
    return False


def lost_to_another_writer(error: Exception) -> bool:
    """Whether the database refused a transaction because another writer held what it needed
    (on PostgreSQL: a deadlock, or a lock not granted in time): it can succeed if tried again."""
    cause = error.__cause__
    return isinstance(cause, psycopg.errors.DeadlockDetected | psycopg.errors.LockNotAvailable)


def refused_for_its_data(error: BaseException) -> bool:
    """Whether the database refused a write for the values it was given (not representable, or
    too large for an index row): trying again can never store them. `error` is the library's
    (whose cause is the driver's) or the driver's own."""
    if isinstance(error, DataError):
        return True
    for driver_error in (error, error.__cause__):
        if isinstance(driver_error, psycopg.Error):  # SQLSTATE 22: data exception; 54: a limit
            return (driver_error.sqlstate or "").startswith(("22", "54"))
        if isinstance(driver_error, sqlite3.Error):
            return isinstance(driver_error, sqlite3.DataError) or "too big" in str(driver_error)
    return False


def is_store_error(error: BaseException) -> bool:
    """Whether an error came from the database (the library's, or its driver's own)."""
    return isinstance(error, PersistenceError | psycopg.Error | sqlite3.Error)
