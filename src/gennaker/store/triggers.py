"""What triggers did, and what pollers remember.

`trigger_events` holds one row per event a pipeline's trigger saw, under a unique event key (a cron fire
time, a git delivery, a Docker tag and digest, a parent execution): the row is written in the transaction
that starts the execution, so however many scheduler processes see the same event, exactly one of them
starts it; the others find the key taken. Skipped events are kept too, with the reason, for the trigger
history.

`poller_state` holds each poller's cursor (last seen tags, digests, versions, build numbers, cron fire
times) and a lease, so one process polls a source at a time and a restart neither refires nor misses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gennaker.store import codec, dialects
from gennaker.store.tables import poller_state, trigger_events

FIRED, SKIPPED = "fired", "skipped"


@dataclass(frozen=True, slots=True)
class TriggerEvent:
    """One event one pipeline's trigger saw."""

    event_key: str
    pipeline_id: str
    application: str
    trigger_type: str
    outcome: str  # FIRED or SKIPPED
    reason: str | None = None
    execution_id: str | None = None
    details: dict[str, Any] | None = None


class TriggerStore:
    def record(self, conn: Connection, event: TriggerEvent, now: int) -> bool:
        """Store the event under its key; False when the key was already taken (another process has it)."""
        row = {
            "event_key": event.event_key,
            "pipeline_id": event.pipeline_id,
            "application": event.application,
            "trigger_type": event.trigger_type,
            "outcome": event.outcome,
            "reason": event.reason,
            "execution_id": event.execution_id,
            "details": codec.dumps(event.details or {}),
            "created_at": now,
        }
        statement = (
            dialects.insert(conn, trigger_events)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["event_key"])
            .returning(trigger_events.c.id)
        )
        return conn.execute(statement).first() is not None

    def mark_skipped(self, conn: Connection, event_key: str, reason: str) -> None:
        conn.execute(
            trigger_events.update()
            .where(trigger_events.c.event_key == event_key)
            .values(outcome=SKIPPED, reason=reason, execution_id=None)
        )

    def attach_execution(self, conn: Connection, event_key: str, execution_id: str) -> None:
        conn.execute(
            trigger_events.update().where(trigger_events.c.event_key == event_key).values(execution_id=execution_id)
        )

    def history(self, conn: Connection, pipeline_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The newest events of a pipeline's triggers, newest first."""
        rows = conn.execute(
            sa.select(trigger_events)
            .where(trigger_events.c.pipeline_id == pipeline_id)
            .order_by(trigger_events.c.id.desc())
            .limit(limit)
        ).all()
        return [
            {
                "eventKey": r.event_key,
                "type": r.trigger_type,
                "outcome": r.outcome,
                "reason": r.reason,
                "executionId": r.execution_id,
                "details": codec.loads(r.details) if r.details else {},
                "time": r.created_at,
            }
            for r in rows
        ]

    # -- poller state ------------------------------------------------------------------------------
    def state(self, conn: Connection, key: str) -> dict[str, Any] | None:
        """A poller's stored cursor, or None before its first poll."""
        text = conn.execute(sa.select(poller_state.c.state).where(poller_state.c.key == key)).scalar()
        return codec.loads(text) if text is not None else None

    def save_state(self, conn: Connection, key: str, state: dict[str, Any], now: int) -> None:
        values = {"state": codec.dumps(state), "updated_at": now}
        updated = conn.execute(poller_state.update().where(poller_state.c.key == key).values(**values)).rowcount
        if not updated:
            conn.execute(poller_state.insert().values(key=key, **values))

    def try_lease(self, conn: Connection, key: str, owner: str, now: int, ttl_ms: int) -> bool:
        """Take (or keep) the lease on a poller for `ttl_ms`; False while another owner holds it."""
        conn.execute(
            dialects.insert(conn, poller_state)
            .values(key=key, state=None, updated_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        taken = conn.execute(
            poller_state.update()
            .where(
                (poller_state.c.key == key)
                & (
                    poller_state.c.lease_owner.is_(None)
                    | (poller_state.c.lease_owner == owner)
                    | (poller_state.c.lease_until < now)
                )
            )
            .values(lease_owner=owner, lease_until=now + ttl_ms)
        ).rowcount
        return bool(taken)
