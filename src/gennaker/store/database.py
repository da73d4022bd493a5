"""Connections to SQLite (embedded default, WAL) or PostgreSQL, transactions, and schema migration.

SQLite allows one writer at a time, so write transactions start with BEGIN IMMEDIATE (the lock is taken
up front instead of failing on upgrade) behind a process-wide lock so threads queue in Python rather
than spinning on SQLITE_BUSY. Reads go through a second engine and never block on writers (WAL).

SQLite durability is `synchronous=NORMAL` by default: in WAL mode a commit survives a crash of the process
but the last commits may be lost on a power failure or an OS crash; `FULL` syncs the log at every commit
and survives those too, at the cost of one fsync per write transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from gennaker.store import revisions

MIGRATIONS = Path(__file__).parent / "migrations"
SYNCHRONOUS = ("NORMAL", "FULL")


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    def __init__(self, url: str, *, synchronous: str = "NORMAL"):
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}")
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.synchronous = synchronous
        self._write_lock = threading.RLock() if self.is_sqlite else None
        if self.is_sqlite:
            self.writer = self._sqlite_engine(immediate=True)
            self.reader = self._sqlite_engine(immediate=False)
        else:
            self.writer = sa.create_engine(self.url, pool_size=10, max_overflow=20, pool_pre_ping=True)
            self.reader = self.writer

    def _sqlite_engine(self, *, immediate: bool) -> Engine:
        engine = sa.create_engine(self.url, connect_args={"check_same_thread": False, "timeout": 60})

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={self.synchronous}")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: commits on success, rolls back on any exception."""
        if self._write_lock is None:
            with self.writer.begin() as conn:
                yield conn
            return
        with self._write_lock, self.writer.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.reader.connect() as conn:
            yield conn

    def has_schema(self) -> bool:
        """Whether the tables exist (a migrated database), without creating anything."""
        with self.read() as conn:
            return sa.inspect(conn).has_table("executions")

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (Alembic is loaded only when there is work to do)."""
        with self.read() as conn:
            if revisions.at_head(conn, MIGRATIONS / "versions"):
                return
        from alembic import command  # imported here: commands that only read never load Alembic
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.transaction() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()
