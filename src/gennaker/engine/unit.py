"""One transaction of engine work: the executions it holds, the messages it produces, the events it records.

Messages produced for an execution this unit already holds, and due now, are handled in the same
transaction instead of going through the queue table: a whole chain (complete a task, complete the stage,
start the next stage, ...) commits at once. Everything else is written to the queue when the unit
flushes, in the same transaction as the state changes that produced it. A run of an external task due now
is written already leased to the worker when one of its task threads is free (`Claim`): the worker starts it
after the commit, with no transaction of its own to claim it.

A tracked unit (the workers') writes back only the stages its handlers touched (`touch`), plus stages
added or removed; `verify_touched` (set by the engine's tests) checks that no other stage changed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy.engine import Connection

from gennaker.engine.cache import ExecutionCache
from gennaker.engine.messages import Kind, Message
from gennaker.model.execution import Execution, Stage, now_ms
from gennaker.model.status import Status
from gennaker.store import codec
from gennaker.store.executions import ExecutionStore, Loaded, stage_event
from gennaker.store.queue import QueuedMessage, QueueStore

# Bound on messages handled in one transaction, so one busy execution cannot hold the writer forever.
INLINE_BUDGET = 2000


@dataclass(slots=True)
class Claim:
    """How a worker takes the external task runs a unit produces: `reserve` books a free task thread (False
    when none is), and the rows are leased to `token` for `lease_ms`. `taken` counts the threads booked."""

    reserve: Callable[[], bool]
    token: str
    lease_ms: int
    taken: int = 0


class Unit:
    verify_touched: ClassVar[bool] = False

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
        claim: Claim | None = None,
        cache: ExecutionCache | None = None,
        tracked: bool = False,
        headers: dict[str, str] | None = None,
        polls: dict[tuple[str, str | None, str | None], int] | None = None,
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
        # Queue rows of the task runs being applied, by (execution, stage, task): a run that polls again later
        # keeps its row (`repolled`) instead of deleting it and writing a new one.
        self._polls = polls or {}
        self.repolled: list[tuple[int, int]] = []  # (row id, due at)
        self._claim = claim
        self._cache = cache
        self._tracked = tracked
        self._headers = headers or {}  # stored headers read when the executions were locked
        self.touched: dict[str, set[str] | None] = {}  # execution id -> stage ids its handlers touched (None: all)
        self.claimed: list[Message] = []  # external runs to write leased to this worker
        # Those written, with a snapshot of their execution and stage: the worker runs them after the commit.
        self.started: list[tuple[QueuedMessage, tuple[Execution, Stage] | None]] = []
        self.events: list[dict[str, Any]] = []
        self._on_events = on_events
        self.notable: dict[str, tuple[Execution, list[tuple[str, Status, Stage | None]]]] = {}
        self.rescheduled: set[str] = set()
        self.executions_started = False  # an execution was started in this transaction: its first message is due
        self.changed: set[str] = set()
        # (stage type, status, seconds) of stages completed in this unit, for metrics after the commit.
        self.completed_stages: list[tuple[str, str, float]] = []
        self.handled = 0
        self.delayed = False  # flushed messages due later: idle workers should look again when they are

    def execution(self, execution_id: str) -> Execution | None:
        """The execution, loaded once per unit. Only executions locked for this unit may be changed."""
        loaded = self.loaded.get(execution_id)
        if loaded is None:
            if execution_id not in self._locked:
                self._executions.lock(self.conn, [execution_id])
                self._locked.add(execution_id)
            if self._cache is not None:
                loaded = self._cache.load(self.conn, execution_id, self._headers.pop(execution_id, None))
            else:
                loaded = self._executions.load(self.conn, execution_id)
            if loaded is None:
                return None
            self.loaded[execution_id] = loaded
        return loaded.execution

    def touch(self, execution: Execution, *stages: Stage | None) -> None:
        """Note stages a handler changes, so they are written back."""
        touched = self.touched.setdefault(execution.id, set())
        if touched is not None:
            touched.update(stage.id for stage in stages if stage is not None)

    def touch_all(self, execution: Execution) -> None:
        """A handler that may change any stage: every stage is compared with what was loaded."""
        self.touched[execution.id] = None

    def discard(self) -> None:
        """Forget the executions this unit changed in memory (its transaction is failing)."""
        if self._cache is not None:
            self._cache.evict(self.loaded)

    def push(self, message: Message, delay_ms: int = 0) -> None:
        loaded = self.loaded.get(message.execution_id)
        outside = loaded is not None and self._runs_outside(loaded.execution, message)
        inline = self._inline and delay_ms <= 0 and loaded is not None and self.handled < INLINE_BUDGET and not outside
        if inline:
            self.local.append(message)
        elif outside and delay_ms <= 0 and self._claim is not None and self._claim.reserve():
            self._claim.taken += 1
            self.claimed.append(message)
        elif outside and (row := self._polls.pop((message.execution_id, message.stage_id, message.task_id), None)):
            self.repolled.append((row, self.now + max(0, delay_ms)))
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
        items = []
        for execution_id, loaded in self.loaded.items():
            touched = self.touched.get(execution_id, set()) if self._tracked else None
            if touched is not None and self.verify_touched:
                _check_untouched(loaded, touched)
            items.append((loaded, touched))
        self.changed.update(self._executions.save_many(self.conn, items))

    def flush(self) -> bool:
        """Write every change; returns whether new messages are due soon (so workers should wake)."""
        self.save_executions()
        self._queue.push(self.conn, ((m.execution_id, m.kind.value, m.payload(), at) for m, at in self.outbox))
        if self._claim is not None and self.claimed:
            rows = [(m.execution_id, m.kind.value, m.payload(), self.now) for m in self.claimed]
            until = self.now + self._claim.lease_ms
            for queued in self._queue.push_claimed(self.conn, rows, self._claim.token, until):
                self.started.append((queued, self._snapshot(queued)))
            self.claimed.clear()
        for execution_id in self.rescheduled:
            self._queue.reschedule(self.conn, execution_id, [Kind.RUN_TASK.value], self.now)
        self._executions.record_events(self.conn, self.events)
        if self._on_events is not None:
            for execution, happened in self.notable.values():
                self._on_events(self.conn, execution, happened)
            self.notable.clear()
        self._queue.repoll(self.conn, self.repolled)
        due = [*self.outbox, *self.repolled]
        wake = bool(self.rescheduled) or self.executions_started or any(at <= self.now + 50 for _, at in due)
        self.delayed = not wake and bool(due)
        self.outbox.clear()
        self.events.clear()
        self.rescheduled.clear()
        self.executions_started = False
        return wake

    def _snapshot(self, queued: QueuedMessage) -> tuple[Execution, Stage] | None:
        loaded = self.loaded.get(queued.execution_id)
        stage_id = str(queued.payload.get("stageId"))
        if self._cache is None or loaded is None or stage_id not in loaded.stage_docs:
            return None
        return self._cache.snapshot(loaded, stage_id)


def _check_untouched(loaded: Loaded, touched: set[str]) -> None:
    """Fail loudly if a stage no handler marked as touched changed (it would not be written back)."""
    for position, stage in enumerate(loaded.execution.stages):
        previous = loaded.stage_docs.get(stage.id)
        if stage.id in touched or previous is None or previous[0] != position:
            continue
        if codec.dumps(stage.to_json()) != previous[1]:
            raise AssertionError(f"stage {stage.name} ({stage.type}) changed without being touched")
