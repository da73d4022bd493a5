"""The notification outbox.

A row is written in the engine transaction that records the event it announces (`add`), under an
idempotency key, so an event is never lost (the row commits with the state change) and never queued twice
(a second insert of the same key does nothing). The outbox loop then takes due rows under a lease
(`lease_due`), sends them outside any transaction, and records the outcome (`mark_sent`, `mark_failed`).
A lease that runs out (its process died while sending) makes the row due again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gennaker.store import codec, dialects
from gennaker.store.tables import notifications

PENDING, SENT, FAILED, DROPPED = "pending", "sent", "failed", "dropped"
# Bound on the stored error text, so a verbose server cannot bloat the table.
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True, slots=True)
class NewNotification:
    idempotency_key: str
    execution_id: str
    type: str
    address: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LeasedNotification:
    id: int
    idempotency_key: str
    execution_id: str
    type: str
    address: str
    payload: dict[str, Any]
    attempts: int


class NotificationStore:
    def add(self, conn: Connection, rows: Iterable[NewNotification], now: int, due_at: int | None = None) -> int:
        """Queue notifications (due at `due_at`, default now), skipping keys already queued; returns how many
        were new."""
        added = 0
        for row in rows:
            statement = (
                dialects.insert(conn, notifications)
                .values(
                    idempotency_key=row.idempotency_key,
                    execution_id=row.execution_id,
                    type=row.type,
                    address=row.address,
                    payload=codec.dumps(row.payload),
                    status=PENDING,
                    attempts=0,
                    next_attempt_at=now if due_at is None else due_at,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
                .returning(notifications.c.id)
            )
            if conn.execute(statement).first() is not None:
                added += 1
        return added

    def lease_due(self, conn: Connection, owner: str, now: int, lease_ms: int, limit: int) -> list[LeasedNotification]:
        """Take up to `limit` pending rows that are due and not leased by a live lease; they are `owner`'s until
        `now + lease_ms`. Each row is taken with a conditional update, so two processes never both take one."""
        free = notifications.c.lease_until.is_(None) | (notifications.c.lease_until < now)
        query = (
            sa.select(notifications.c.id)
            .where((notifications.c.status == PENDING) & (notifications.c.next_attempt_at <= now) & free)
            .order_by(notifications.c.next_attempt_at, notifications.c.id)
            .limit(limit)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = [int(i) for i in conn.execute(query).scalars()]
        taken: list[LeasedNotification] = []
        for row_id in ids:
            row = conn.execute(
                notifications.update()
                .where((notifications.c.id == row_id) & (notifications.c.status == PENDING) & free)
                .values(lease_owner=owner, lease_until=now + lease_ms)
                .returning(notifications)
            ).first()
            if row is None:
                continue
            taken.append(
                LeasedNotification(
                    id=row.id,
                    idempotency_key=row.idempotency_key,
                    execution_id=row.execution_id,
                    type=row.type,
                    address=row.address,
                    payload=codec.loads(row.payload),
                    attempts=row.attempts,
                )
            )
        return taken

    def mark_sent(self, conn: Connection, row_id: int, owner: str, now: int) -> bool:
        """Record a delivery; False when the lease was lost (the row is then left to its new owner)."""
        return self._settle(
            conn, row_id, owner, status=SENT, sent_at=now, attempts=notifications.c.attempts + 1, last_error=None
        )

    def mark_dropped(self, conn: Connection, row_id: int, owner: str, reason: str) -> bool:
        """Record that a queued notification is no longer wanted (a reminder for a judgment already given)."""
        return self._settle(conn, row_id, owner, status=DROPPED, last_error=reason, sent_at=None)

    def mark_failed(self, conn: Connection, row_id: int, owner: str, error: str, *, retry_at: int | None) -> bool:
        """Record a failed attempt: pending again at `retry_at`, or failed for good when it is None."""
        later: dict[str, Any] = {"status": FAILED} if retry_at is None else {"next_attempt_at": retry_at}
        return self._settle(
            conn, row_id, owner, attempts=notifications.c.attempts + 1, last_error=error[:MAX_ERROR_CHARS], **later
        )

    def _settle(self, conn: Connection, row_id: int, owner: str, **values: Any) -> bool:
        """Release `owner`'s lease on the row with `values`; False when the lease was lost (the row is then left
        to its new owner)."""
        return bool(
            conn.execute(
                notifications.update()
                .where((notifications.c.id == row_id) & (notifications.c.lease_owner == owner))
                .values(lease_owner=None, lease_until=None, **values)
            ).rowcount
        )

    def for_execution(self, conn: Connection, execution_id: str) -> list[dict[str, Any]]:
        """An execution's notifications, oldest first (without payloads, which may carry message text)."""
        rows = conn.execute(
            sa.select(notifications).where(notifications.c.execution_id == execution_id).order_by(notifications.c.id)
        ).all()
        return [
            {
                "id": r.id,
                "key": r.idempotency_key,
                "type": r.type,
                "address": r.address,
                "status": r.status,
                "attempts": r.attempts,
                "nextAttemptAt": r.next_attempt_at,
                "lastError": r.last_error,
                "createdAt": r.created_at,
                "sentAt": r.sent_at,
            }
            for r in rows
        ]

    def payload(self, conn: Connection, row_id: int) -> dict[str, Any]:
        text = conn.execute(sa.select(notifications.c.payload).where(notifications.c.id == row_id)).scalar_one()
        loaded: dict[str, Any] = codec.loads(text)
        return loaded
