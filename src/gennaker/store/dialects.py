"""`INSERT … ON CONFLICT` and transaction locks in the connection's own dialect.

The statement comes from SQLAlchemy's dialect modules; the PostgreSQL one takes a tenth of a second to import,
which a SQLite deployment (`gennaker up`) should not pay at every start, so each is imported when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite


def insert(conn: Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` that can take `on_conflict_do_nothing` / `on_conflict_do_update`."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def advisory_lock(conn: Connection, key: str, *, shared: bool = False) -> None:
    """Hold a lock named `key` until the transaction ends (PostgreSQL; SQLite runs one writer at a time)."""
    if conn.dialect.name == "postgresql":
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        conn.execute(sa.text(f"SELECT {function}(hashtext(:key))"), {"key": key})
