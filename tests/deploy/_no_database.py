"""Dask worker preload of the topology test: a Dask worker that opens a database fails.

``dask worker --preload tests/deploy/_no_database.py`` runs this in each worker process:
every way the service's code reaches a database (psycopg for PostgreSQL, sqlite3 for SQLite,
which SQLAlchemy calls through these modules' ``connect``) then records the attempt in the
file named by ``VO_TEST_DATABASE_ATTEMPTS`` and raises, so that the test sees both the
failed task and the record.
"""

from __future__ import annotations

import os
import sqlite3
import sqlite3.dbapi2
from typing import Any, NoReturn

import psycopg


def _refuse(*args: Any, **kwargs: Any) -> NoReturn:
    with open(os.environ["VO_TEST_DATABASE_ATTEMPTS"], "a") as record:
        record.write(f"pid {os.getpid()}: connect{args!r}\n")
    raise RuntimeError("a Dask worker tried to open a database")


def dask_setup(worker: Any) -> None:
    """Called by the worker at start (Dask's preload protocol)."""
    psycopg.connect = _refuse  # type: ignore[assignment]
    psycopg.Connection.connect = _refuse  # type: ignore[method-assign, assignment]
    sqlite3.connect = _refuse
    sqlite3.dbapi2.connect = _refuse
