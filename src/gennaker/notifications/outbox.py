"""Writing notifications in the engine transaction, and the loop that sends them.

`OutboxRecorder` is the engine's `on_events` hook: it selects the notifications an event sends and adds them
to the outbox table in the transaction that records the event. `Outbox` sends due rows: it leases a batch
(so several processes never send one row at once), sends each outside any transaction, then records the
delivery, or the error with a retry time that doubles per attempt, until `maxAttempts` marks the row
failed. Nothing here touches the execution: a notification that cannot be sent never fails a pipeline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from sqlalchemy.engine import Connection

from gennaker.model.execution import Execution, Stage
from gennaker.model.ids import new_id
from gennaker.model.status import Status
from gennaker.notifications.config import NotificationSettings
from gennaker.notifications.selection import select
from gennaker.notifications.senders import DeliveryError, Sender
from gennaker.store.database import Database
from gennaker.store.executions import ExecutionStore
from gennaker.store.notifications import LeasedNotification, NewNotification, NotificationStore

log = logging.getLogger(__name__)

# The notification types Gennaker can send (whether each is enabled is configuration).
SENT_TYPES = ("email", "slack", "microsoftteams", "googlechat", "cdevents")


class OutboxRecorder:
    """The engine hook: queue the notifications of a unit's events, in its transaction."""

    def __init__(
        self,
        settings: NotificationSettings,
        store: NotificationStore | None = None,
        clock: Callable[[], float] = time.time,
        types: tuple[str, ...] = SENT_TYPES,
    ):
        self.settings = settings
        self.store = store or NotificationStore()
        self.clock = clock
        self.types = types

    def __call__(self, conn: Connection, execution: Execution, events: list[tuple[str, Status, Stage | None]]) -> None:
        if not execution.notifications and not any(stage is not None for _, _, stage in events):
            return
        try:
            rows = [
                row
                for kind, status, stage in events
                for row in select(execution, kind, status, stage, self.settings.base_url, self.types)
            ]
        except Exception:  # a malformed entry must not stop the engine
            log.exception("selecting notifications for execution %s failed", execution.id)
            return
        if not rows:
            return
        # A savepoint, so a failed insert leaves the engine's transaction usable.
        try:
            with conn.begin_nested():
                self.store.add(conn, rows, int(self.clock() * 1000))
        except Exception:
            log.exception("queueing notifications for execution %s failed", execution.id)


class Outbox:
    def __init__(
        self,
        db: Database,
        senders: Mapping[str, Sender],
        clock: Callable[[], float] = time.time,
        settings: NotificationSettings | None = None,
        store: NotificationStore | None = None,
        owner: str | None = None,
    ):
        self.db = db
        self.senders = dict(senders)
        self.clock = clock
        self.settings = settings or NotificationSettings()
        self.store = store or NotificationStore()
        self.executions = ExecutionStore()
        self.owner = owner or f"outbox-{new_id()}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def _now(self) -> int:
        return int(self.clock() * 1000)

    def deliver_due(self) -> int:
        """Send one batch of due notifications; returns how many rows were attempted."""
        with self.db.transaction() as conn:
            leased = self.store.lease_due(
                conn, self.owner, self._now(), int(self.settings.lease_s * 1000), self.settings.batch_size
            )
        for notification in leased:
            self._deliver(notification)
        return len(leased)

    def _deliver(self, notification: LeasedNotification) -> None:
        if notification.payload.get("repeat") and not self._still_waiting(notification):
            with self.db.transaction() as conn:
                self.store.mark_dropped(conn, notification.id, self.owner, "the judgment was given")
            return
        error: str | None = None
        sender = self.senders.get(notification.type)
        if sender is None:
            error = f"{notification.type} notifications are not enabled (notifications.{notification.type}.enabled)"
        else:
            try:
                sender.send(notification)
            except DeliveryError as failure:
                error = str(failure)
            except Exception as failure:  # a sender bug must not stop the loop
                log.exception("sending notification %s failed unexpectedly", notification.id)
                error = f"{type(failure).__name__}: {failure}"
        now = self._now()
        with self.db.transaction() as conn:
            if error is None:
                kept = self.store.mark_sent(conn, notification.id, self.owner, now)
                self._remind_later(conn, notification, now)
            else:
                attempts = notification.attempts + 1
                retry_at = None if attempts >= self.settings.max_attempts else now + self.backoff_ms(attempts)
                kept = self.store.mark_failed(conn, notification.id, self.owner, error, retry_at=retry_at)
                log.warning(
                    "notification %s (%s, attempt %d) failed%s: %s",
                    notification.id,
                    notification.type,
                    attempts,
                    "" if retry_at is not None else " for good",
                    error,
                )
        if not kept:
            log.warning("lease on notification %s was lost before its outcome was recorded", notification.id)

    def _remind_later(self, conn: Connection, notification: LeasedNotification, now: int) -> None:
        """A judgment notification with `notifyEveryMs` queues its next reminder, sent only if the judgment
        still waits then (Echo's repeated manual judgment notifications)."""
        every = notification.payload.get("notifyEveryMs")
        if notification.payload.get("when") != "manualJudgment" or not isinstance(every, int):
            return
        repeat = int(notification.payload.get("repeat") or 0) + 1
        base = notification.idempotency_key.split("#repeat", 1)[0]
        follow_up = NewNotification(
            f"{base}#repeat{repeat}",
            notification.execution_id,
            notification.type,
            notification.address,
            {**notification.payload, "repeat": repeat, "subject": f"Reminder: {notification.payload.get('subject')}"},
        )
        self.store.add(conn, [follow_up], now, due_at=now + every)

    def _still_waiting(self, notification: LeasedNotification) -> bool:
        with self.db.read() as conn:
            execution = self.executions.get_json(conn, notification.execution_id)
        stage = next(
            (s for s in (execution or {}).get("stages", []) if s["id"] == notification.payload.get("stageId")), None
        )
        return stage is not None and stage["status"] == "RUNNING" and not stage["context"].get("judgmentStatus")

    def backoff_ms(self, attempts: int) -> int:
        """The wait before attempt `attempts + 1`: the base doubled per failed attempt, capped."""
        seconds = min(self.settings.max_backoff_s, self.settings.backoff_s * 2 ** (attempts - 1))
        return int(seconds * 1000)

    # -- the loop ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gennaker-notifications", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def wake(self) -> None:
        """Look for due rows now instead of at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            attempted = 0
            try:
                attempted = self.deliver_due()
            except Exception:  # e.g. the database is unreachable; the next poll tries again
                log.exception("notification outbox pass failed")
            if attempted >= self.settings.batch_size:
                continue  # more may be due
            self._wake.wait(self.settings.poll_s)
            self._wake.clear()
