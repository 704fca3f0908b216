"""Whether a store failure is the store out of reach, which passes, or a fault, which does not.

Only the first is worth trying again later (the API answers it 503): the connection was
refused or lost, no connection could be had from the pool in time, the database was busy
with other writers. Anything else (a missing table, a query the database refuses, a value
it cannot hold) fails again the same way until someone fixes it, so it must be seen.
"""

from __future__ import annotations

import sqlite3

import psycopg
from eventsourcing.persistence import ConnectionUnavailableError, OperationalError

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
