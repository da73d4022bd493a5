"""The durable, delay-capable message queue, in the same database as the executions.

A message becomes due at `deliver_at`. Messages handled inside one transaction need no lease: the
handler's transaction deletes them, and a crash rolls the delete back. Messages whose work happens
outside a transaction (tasks that call other systems) are leased first; an expired lease makes the
message due again, so delivery is at-least-once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gennaker.model.execution import now_ms
from gennaker.store import codec
from gennaker.store.tables import pending_executions, queue


@dataclass(slots=True)
class QueuedMessage:
    id: int
    execution_id: str
    kind: str
    payload: dict[str, Any]
    deliver_at: int
    attempts: int
    claim_token: str | None


class QueueStore:
    def push(self, conn: Connection, rows: Iterable[tuple[str, str, dict[str, Any], int]]) -> None:
        """Insert `(execution_id, kind, payload, deliver_at)` rows."""
        created = now_ms()
        values = [
            {
                "execution_id": e,
                "kind": k,
                "external": bool(p.get("external")),
                "payload": codec.dumps(p),
                "deliver_at": d,
                "attempts": 0,
                "created_at": created,
            }
            for e, k, p, d in rows
        ]
        if values:
            conn.execute(queue.insert(), values)

    def due(self, conn: Connection, now: int, limit: int, *, external: bool) -> list[QueuedMessage]:
        """Due, unleased messages of one kind (external task runs or not), oldest first.

        On PostgreSQL the rows are locked for this transaction and rows locked by others are skipped.
        """
        query = _due_now(now).where(queue.c.external.is_(external)).order_by(queue.c.deliver_at, queue.c.id)
        return _claim(conn, query.limit(limit))

    def still_due(self, conn: Connection, message_id: int, now: int) -> list[QueuedMessage]:
        """The message as a one-item batch if it is still due and unleased (locked like `due`), else empty."""
        return _claim(conn, _due_now(now).where(queue.c.id == message_id))

    def lease(self, conn: Connection, message_id: int, token: str, until: int) -> None:
        conn.execute(
            queue.update()
            .where(queue.c.id == message_id)
            .values(lease_until=until, claim_token=token, attempts=queue.c.attempts + 1)
        )

    def get_claimed(self, conn: Connection, message_id: int, token: str) -> QueuedMessage | None:
        """The message if this claim still holds it (locked on PostgreSQL until the transaction ends)."""
        query = sa.select(queue).where((queue.c.id == message_id) & (queue.c.claim_token == token))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        return _message(row) if row else None

    def delete(self, conn: Connection, message_ids: Iterable[int]) -> None:
        ids = list(message_ids)
        if ids:
            conn.execute(queue.delete().where(queue.c.id.in_(ids)))

    def retry_later(self, conn: Connection, message_id: int, deliver_at: int) -> None:
        conn.execute(
            queue.update()
            .where(queue.c.id == message_id)
            .values(deliver_at=deliver_at, lease_until=None, claim_token=None, attempts=queue.c.attempts + 1)
        )

    def reschedule(self, conn: Connection, execution_id: str, kinds: Iterable[str], now: int) -> int:
        """Make the execution's waiting messages of these kinds due now (leased ones are left alone)."""
        return conn.execute(
            queue.update()
            .where(
                (queue.c.execution_id == execution_id)
                & queue.c.kind.in_(list(kinds))
                & (queue.c.deliver_at > now)
                & queue.c.lease_until.is_(None)
            )
            .values(deliver_at=now)
        ).rowcount

    def for_execution(self, conn: Connection, execution_id: str) -> list[QueuedMessage]:
        return [_message(r) for r in conn.execute(sa.select(queue).where(queue.c.execution_id == execution_id))]

    def next_due_at(self, conn: Connection) -> int | None:
        """When the next message becomes deliverable (a due time, or the end of a lease)."""
        value = conn.execute(
            sa.select(
                sa.func.min(sa.case((queue.c.lease_until.is_(None), queue.c.deliver_at), else_=queue.c.lease_until))
            )
        ).scalar()
        return int(value) if value is not None else None

    def stats(self, conn: Connection, now: int) -> dict[str, Any]:
        depth, oldest = conn.execute(sa.select(sa.func.count(), sa.func.min(queue.c.deliver_at))).one()
        due = conn.execute(sa.select(sa.func.count()).where(queue.c.deliver_at <= now)).scalar_one()
        return {
            "depth": int(depth),
            "due": int(due),
            "oldest_due_age_ms": max(0, now - oldest) if oldest and due else 0,
        }

    # -- executions waiting for a concurrency slot (orca.md §2.9) --------------------------------
    def park(self, conn: Connection, pipeline_config_id: str, execution_id: str, payload: dict[str, Any]) -> None:
        conn.execute(
            pending_executions.insert().values(
                pipeline_config_id=pipeline_config_id,
                execution_id=execution_id,
                payload=codec.dumps(payload),
                created_at=now_ms(),
            )
        )

    def parked(self, conn: Connection, pipeline_config_id: str) -> list[tuple[int, str, dict[str, Any]]]:
        """Waiting entries for a config, oldest first: `(entry id, execution id, payload)`."""
        rows = conn.execute(
            sa.select(pending_executions)
            .where(pending_executions.c.pipeline_config_id == pipeline_config_id)
            .order_by(pending_executions.c.id)
        )
        return [(r.id, r.execution_id, codec.loads(r.payload)) for r in rows]

    def is_parked(self, conn: Connection, execution_id: str) -> bool:
        query = sa.select(pending_executions.c.id).where(pending_executions.c.execution_id == execution_id)
        return conn.execute(query.limit(1)).first() is not None

    def unpark(self, conn: Connection, entry_ids: Iterable[int]) -> None:
        ids = list(entry_ids)
        if ids:
            conn.execute(pending_executions.delete().where(pending_executions.c.id.in_(ids)))


def _message(row: Any) -> QueuedMessage:
    return QueuedMessage(
        row.id,
        row.execution_id,
        row.kind,
        codec.loads(row.payload),
        row.deliver_at,
        row.attempts,
        row.claim_token,
    )


def _due_now(now: int) -> sa.Select[Any]:
    return sa.select(queue).where(
        (queue.c.deliver_at <= now) & ((queue.c.lease_until.is_(None)) | (queue.c.lease_until <= now))
    )


def _claim(conn: Connection, query: sa.Select[Any]) -> list[QueuedMessage]:
    """Run a due-message query; on PostgreSQL lock the rows and skip those other workers hold."""
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [_message(r) for r in conn.execute(query)]
