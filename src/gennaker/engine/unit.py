"""One transaction of engine work: the executions it holds, the messages it produces, the events it records.

Messages produced for an execution this unit already holds, and due now, are handled in the same
transaction instead of going through the queue table: a whole chain (complete a task, complete the stage,
start the next stage, ...) commits at once. Everything else is written to the queue when the unit
flushes, in the same transaction as the state changes that produced it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy.engine import Connection

from gennaker.engine.messages import Kind, Message
from gennaker.model.execution import Execution, Stage, now_ms
from gennaker.model.status import Status
from gennaker.store.executions import ExecutionStore, Loaded, stage_event
from gennaker.store.queue import QueueStore

# Bound on messages handled in one transaction, so one busy execution cannot hold the writer forever.
INLINE_BUDGET = 2000


class Unit:
    def __init__(
        self,
        conn: Connection,
        executions: ExecutionStore,
        queue: QueueStore,
        locked: Collection[str],
        runs_outside: Callable[[Execution, Message], bool],
        *,
        inline: bool = True,
        on_events: Callable[[Connection, Execution, list[tuple[str, Status, Stage | None]]], None] | None = None,
    ):
        self.conn = conn
        self.now = now_ms()
        self._executions = executions
        self._queue = queue
        self._locked = set(locked)
        self._runs_outside = runs_outside
        self._inline = inline  # off when isolating a failing message: everything it produces is queued
        self.loaded: dict[str, Loaded] = {}
        self.local: deque[Message] = deque()
        self.outbox: list[tuple[Message, int]] = []
        self.events: list[dict[str, Any]] = []
        self._on_events = on_events
        self.notable: dict[str, tuple[Execution, list[tuple[str, Status, Stage | None]]]] = {}
        self.rescheduled: set[str] = set()
        self.changed: set[str] = set()
        # (stage type, status, seconds) of stages completed in this unit, for metrics after the commit.
        self.completed_stages: list[tuple[str, str, float]] = []
        self.handled = 0

    def execution(self, execution_id: str) -> Execution | None:
        """The execution, loaded once per unit. Only executions locked for this unit may be changed."""
        loaded = self.loaded.get(execution_id)
        if loaded is None:
            if execution_id not in self._locked:
                self._executions.lock(self.conn, [execution_id])
                self._locked.add(execution_id)
            loaded = self._executions.load(self.conn, execution_id, for_update=False)
            if loaded is None:
                return None
            self.loaded[execution_id] = loaded
        return loaded.execution

    def push(self, message: Message, delay_ms: int = 0) -> None:
        loaded = self.loaded.get(message.execution_id)
        outside = loaded is not None and self._runs_outside(loaded.execution, message)
        inline = self._inline and delay_ms <= 0 and loaded is not None and self.handled < INLINE_BUDGET and not outside
        if inline:
            self.local.append(message)
        else:
            self.outbox.append((message, self.now + max(0, delay_ms)))

    def reschedule(self, execution_id: str) -> None:
        """Make the execution's pending task polls due now (after this unit's own messages are written)."""
        self.rescheduled.add(execution_id)

    def event(
        self,
        execution: Execution,
        kind: str,
        status: Status,
        stage: Stage | None = None,
        task_id: str | None = None,
    ) -> None:
        self.events.append(stage_event(execution, stage, kind, status, task_id))
        if self._on_events is not None and task_id is None:
            self.notable.setdefault(execution.id, (execution, []))[1].append((kind, status, stage))
        if kind == "StageComplete" and stage is not None and stage.start_time:
            self.completed_stages.append((stage.type, status.value, (self.now - stage.start_time) / 1000))

    def save_executions(self) -> None:
        """Write the executions' state now, so queries later in this transaction see it."""
        for execution_id, loaded in self.loaded.items():
            if self._executions.save(self.conn, loaded):
                self.changed.add(execution_id)

    def flush(self) -> bool:
        """Write every change; returns whether new messages are due soon (so workers should wake)."""
        self.save_executions()
        self._queue.push(self.conn, ((m.execution_id, m.kind.value, m.payload(), at) for m, at in self.outbox))
        for execution_id in self.rescheduled:
            self._queue.reschedule(self.conn, execution_id, [Kind.RUN_TASK.value], self.now)
        self._executions.record_events(self.conn, self.events)
        if self._on_events is not None:
            for execution, happened in self.notable.values():
                self._on_events(self.conn, execution, happened)
            self.notable.clear()
        wake = bool(self.rescheduled) or any(at <= self.now + 50 for _, at in self.outbox)
        self.outbox.clear()
        self.events.clear()
        self.rescheduled.clear()
        return wake
