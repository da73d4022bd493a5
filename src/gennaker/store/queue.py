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

# Statements of every pass, built once (SQLAlchemy then reuses their compiled form without work).
_NOW: sa.BindParameter[int] = sa.bindparam("now")
_DUE = sa.select(queue).where(
    (queue.c.deliver_at <= _NOW)
    & (queue.c.lease_until.is_(None) | (queue.c.lease_until <= _NOW))
    & (queue.c.external == sa.bindparam("external"))
)
_DUE_ORDERED = _DUE.order_by(queue.c.deliver_at, queue.c.id).limit(sa.bindparam("limit"))
_DUE_LOCKED = _DUE_ORDERED.with_for_update(skip_locked=True)
_IDS = queue.c.id.in_(sa.bindparam("ids", expanding=True))
_INSERT = queue.insert()
_INSERT_CLAIMED = queue.insert().returning(queue.c.id, sort_by_parameter_order=True)
_LEASE = (
    queue.update()
    .where(_IDS)
    .values(lease_until=sa.bindparam("until"), claim_token=sa.bindparam("token"), attempts=queue.c.attempts + 1)
)
_HELD = sa.select(queue.c.id, queue.c.claim_token).where(_IDS).order_by(queue.c.id)
_HELD_LOCKED = _HELD.with_for_update()
_DELETE = queue.delete().where(_IDS)
_REPOLL = (
    queue.update()
    .where(queue.c.id == sa.bindparam("b_id"))
    .values(deliver_at=sa.bindparam("at"), lease_until=None, claim_token=None, attempts=0)
)


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
        values = _rows(rows)
        if values:
            conn.execute(_INSERT, values)

    def push_claimed(
        self, conn: Connection, rows: Iterable[tuple[str, str, dict[str, Any], int]], token: str, until: int
    ) -> list[QueuedMessage]:
        """Insert rows already leased to `token` until `until` (the worker that wrote them runs them next), so
        queueing and claiming a message is one write."""
        values = [{**v, "lease_until": until, "claim_token": token, "attempts": 1} for v in _rows(rows)]
        if not values:
            return []
        inserted = conn.execute(_INSERT_CLAIMED, values)
        return [
            QueuedMessage(row.id, v["execution_id"], v["kind"], codec.loads(v["payload"]), v["deliver_at"], 1, token)
            for row, v in zip(inserted, values, strict=True)
        ]

    def due(self, conn: Connection, now: int, limit: int, *, external: bool) -> list[QueuedMessage]:
        """Due, unleased messages of one kind (external task runs or not), oldest first.

        On PostgreSQL the rows are locked for this transaction and rows locked by others are skipped.
        """
        query = _DUE_LOCKED if conn.dialect.name == "postgresql" else _DUE_ORDERED
        return [_message(r) for r in conn.execute(query, {"now": now, "external": external, "limit": limit})]

    def still_due(self, conn: Connection, message_id: int, now: int) -> list[QueuedMessage]:
        """The message as a one-item batch if it is still due and unleased (locked like `due`), else empty."""
        return _claim(conn, _due_now(now).where(queue.c.id == message_id))

    def lease(self, conn: Connection, messages: list[QueuedMessage], token: str, until: int) -> None:
        """Lease the messages to `token` until `until` (one statement however many)."""
        if not messages:
            return
        conn.execute(_LEASE, {"ids": [m.id for m in messages], "until": until, "token": token})
        for message in messages:
            message.claim_token, message.attempts = token, message.attempts + 1

    def still_held(self, conn: Connection, messages: Iterable[QueuedMessage]) -> set[int]:
        """Ids of the messages whose lease is still theirs (locked on PostgreSQL until the transaction ends):
        a message another worker took over after its lease ran out is not."""
        tokens = {m.id: m.claim_token for m in messages}
        if not tokens:
            return set()
        query = _HELD_LOCKED if conn.dialect.name == "postgresql" else _HELD
        return {row.id for row in conn.execute(query, {"ids": sorted(tokens)}) if row.claim_token == tokens[row.id]}

    def repoll(self, conn: Connection, rows: list[tuple[int, int]]) -> None:
        """Make leased task runs due again at the given times, unleased: a polling task reuses its row."""
        if rows:
            conn.execute(_REPOLL, [{"b_id": row, "at": at} for row, at in rows])

    def delete(self, conn: Connection, message_ids: Iterable[int]) -> None:
        ids = list(message_ids)
        if ids:
            conn.execute(_DELETE, {"ids": ids})

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

    def unpark(self, conn: Connection, entry_ids: Iterable[int]) -> set[int]:
        """Take entries off the wait list; returns those this transaction removed (a concurrent one may have
        removed the others first)."""
        ids = sorted(entry_ids)
        if not ids:
            return set()
        removed = conn.execute(
            pending_executions.delete().where(pending_executions.c.id.in_(ids)).returning(pending_executions.c.id)
        )
        return set(removed.scalars())


def _rows(rows: Iterable[tuple[str, str, dict[str, Any], int]]) -> list[dict[str, Any]]:
    created = now_ms()
    return [
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
