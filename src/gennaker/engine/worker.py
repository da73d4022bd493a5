"""The worker: takes due messages from the queue and runs their handlers.

One pass takes a batch of due messages in a single transaction, handles them (and the messages they lead
to, inline), deletes them and commits. Runs of external tasks are leased instead and run on a thread pool:
a run produced while a task thread is free is written already leased to this worker (`Claim`), so it costs
no transaction of its own. Results are applied in a second transaction that first checks the lease still
holds, together with whatever other results finished meanwhile (one commit for all), and that same
transaction starts what they lead to. A handler that raises rolls back its batch; the batch is then retried
one message at a time, and a message that keeps failing becomes dead and is turned into a terminating
message (orca.md §2.10).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gennaker.engine.cache import ExecutionCache
from gennaker.engine.contracts import TaskContext
from gennaker.engine.handlers import Handlers, result_to_json
from gennaker.engine.messages import Kind, Message
from gennaker.engine.unit import Claim, Unit
from gennaker.engine.wakeup import Wakeup
from gennaker.model.execution import Execution, Stage, Task, now_ms
from gennaker.model.status import Status
from gennaker.store.database import Database
from gennaker.store.executions import ExecutionStore
from gennaker.store.queue import QueuedMessage, QueueStore

log = logging.getLogger(__name__)

LEASE_MS = 10 * 60 * 1000  # an external task run may take this long before another worker retries it
MAX_ATTEMPTS = 5
RETRY_DELAY_MS = 1000
IDLE_CHECK_S = 30.0  # safety net only: wake-ups are pushed
CONTENDED_WAIT_S = 0.02
# A crashed worker loop restarts after a pause that doubles with each crash in a row, up to this.
MAX_RESTART_PAUSE_S = 30.0
# A loop that ran this long before crashing starts again from the shortest pause.
HEALTHY_RUN_S = 60.0


# An external task run leased to this worker, with its execution and stage when this process has them.
Run = tuple[QueuedMessage, tuple[Execution, Stage] | None]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a committed unit means for others: new work due (wake workers) and executions that changed."""

    wake: bool
    changed: frozenset[str]
    completed_stages: tuple[tuple[str, str, float], ...] = ()
    handled: int = 0  # queued messages taken off the queue (not counting the inline ones they led to)
    started: tuple[Run, ...] = ()  # external task runs leased to this worker in the unit
    delayed: bool = False  # messages due later were queued: idle workers must look at when


NOTHING = Outcome(False, frozenset())
StageObserver = Callable[[str, str, float], None]
Result = tuple[QueuedMessage, Message]  # an external task run and the message carrying its result


class Worker:
    def __init__(
        self,
        db: Database,
        handlers: Handlers,
        wakeup: Wakeup,
        *,
        batch_size: int = 64,
        external_threads: int = 8,
        lease_ms: int = LEASE_MS,
        on_handled: Callable[[float], None] | None = None,
        on_stage_complete: StageObserver | None = None,
    ):
        self.db = db
        self.handlers = handlers
        self.wakeup = wakeup
        self.executions: ExecutionStore = handlers.executions
        self.queue: QueueStore = handlers.queue
        self.cache: ExecutionCache = handlers.cache
        self.batch_size = batch_size
        self.lease_ms = lease_ms
        self._pool = ThreadPoolExecutor(max_workers=external_threads, thread_name_prefix="task")
        self._capacity = external_threads
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._results: list[Result] = []  # results waiting to be applied
        self._results_lock = threading.Lock()
        self._applying = False  # a task thread is applying results; others leave theirs to it
        self._contended = False
        self._starved = False  # an external run found no free task thread: look for it when one frees
        self._stopping = threading.Event()
        self._on_handled = on_handled
        self._on_stage_complete = on_stage_complete

    # -- the loop ----------------------------------------------------------------------------------
    def run_supervised(self) -> None:
        """`run_forever` until stopped, restarting it after a crash (logged with its traceback) so that one
        failure, at start or later, never leaves the process without this worker."""
        pause = 0.5
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                self.run_forever()
            except Exception:
                if time.monotonic() - started > HEALTHY_RUN_S:
                    pause = 0.5
                log.exception("worker loop crashed; restarting in %.1f s", pause)
                self._stopping.wait(pause)
                pause = min(pause * 2, MAX_RESTART_PAUSE_S)

    def run_forever(self) -> None:
        self.wakeup.listen()
        while not self._stopping.is_set():
            seen = self.wakeup.generation()
            if self.run_once():
                continue
            if self._contended:  # due work is held by another worker: look again shortly
                self.wakeup.wait(seen, CONTENDED_WAIT_S)
                continue
            self.wakeup.wait(seen, self._idle_seconds())

    def stop(self) -> None:
        self._stopping.set()
        self.wakeup.notify()
        self._pool.shutdown(wait=True, cancel_futures=False)

    def _idle_seconds(self) -> float:
        if self._in_flight >= self._capacity:
            return IDLE_CHECK_S  # every task thread is busy; a finishing one wakes us
        with self.db.read() as conn:
            next_due = self.queue.next_due_at(conn)
        if next_due is None:
            return IDLE_CHECK_S
        return min(IDLE_CHECK_S, max(0.0, (next_due - now_ms()) / 1000))

    def run_once(self) -> int:
        """Handle one batch of due messages; returns how many were taken."""
        claim = self._claim()
        started = time.perf_counter()
        try:
            with self._transaction() as (conn, units):
                now = now_ms()
                internal = self.queue.due(conn, now, self.batch_size, external=False)
                # Lease only what the task threads can start now: a lease must not expire in a backlog.
                free = self._capacity - self._in_flight
                external = self.queue.due(conn, now, free, external=True) if free > 0 else []
                if len(external) >= free:  # more may be due than task threads are free
                    self._starved = True
                if not internal and not external:
                    return 0
                external = [message for message in external if self._book(claim)]
                self.queue.lease(conn, external, claim.token, now + self.lease_ms)
                outcome = self._handle(conn, units, internal, claim) if internal else NOTHING
                # After the handling: a run's snapshot shows what this transaction did (a cancel, a pause).
                runs = self._with_snapshots(conn, external)
        except Exception:
            self._release(claim.taken)
            log.exception("batch failed; retrying its messages one at a time")
            return self._one_by_one()
        self._after_commit(outcome, outcome.handled, started)
        self._contended = outcome.handled < len(internal)
        self._start([*runs, *outcome.started])
        return outcome.handled + len(external)

    def _with_snapshots(self, conn: Connection, leased: list[QueuedMessage]) -> list[Run]:
        """The leased runs with their executions as kept by this process, where no other transaction holds
        them now (the others are read by the task thread)."""
        available = self.executions.lock_available(conn, {m.execution_id for m in leased})
        runs: list[Run] = []
        for queued in leased:
            header = available.get(queued.execution_id)
            loaded = self.cache.load(conn, queued.execution_id, header) if header is not None else None
            stage_id = str(queued.payload.get("stageId"))
            snapshot = self.cache.snapshot(loaded, stage_id) if loaded and stage_id in loaded.stage_docs else None
            runs.append((queued, snapshot))
        return runs

    def _handle(
        self,
        conn: Connection,
        units: list[Unit],
        messages: list[QueuedMessage],
        claim: Claim | None,
        *,
        inline: bool = True,
    ) -> Outcome:
        """Handle the messages whose executions no other worker is busy with; leave the rest for later."""
        available = self.executions.lock_available(conn, {m.execution_id for m in messages})
        messages = [m for m in messages if m.execution_id in available]
        headers = {execution_id: header for execution_id, header in available.items() if header is not None}
        unit = self._unit(conn, units, available, claim, inline=inline, headers=headers)
        for queued in messages:
            self.handlers.handle(unit, Message.from_payload(queued.kind, queued.execution_id, queued.payload))
        self.queue.delete(conn, [m.id for m in messages])
        return replace(self._flush(conn, unit), handled=len(messages))

    @contextmanager
    def _transaction(self) -> Iterator[tuple[Connection, list[Unit]]]:
        """A write transaction and the units made in it, which forget what they changed in memory if it fails,
        at its commit too: the cache must only ever hold what is stored."""
        units: list[Unit] = []
        try:
            with self.db.transaction() as conn:
                yield conn, units
        except BaseException:
            for unit in units:
                unit.discard()
            raise

    def _unit(
        self,
        conn: Connection,
        units: list[Unit],
        locked: Collection[str],
        claim: Claim | None,
        *,
        inline: bool = True,
        headers: dict[str, str] | None = None,
        polls: dict[tuple[str, str | None, str | None], int] | None = None,
    ) -> Unit:
        unit = Unit(
            conn,
            self.executions,
            self.queue,
            locked,
            self._external_flagged,
            inline=inline,
            on_events=self.handlers.services.on_events,
            claim=claim,
            cache=self.cache,
            tracked=True,
            headers=headers,
            polls=polls,
        )
        units.append(unit)
        return unit

    # -- task threads ----------------------------------------------------------------------------------
    def _claim(self) -> Claim:
        return Claim(lambda: self._reserve(1), uuid.uuid4().hex, self.lease_ms)

    def _book(self, claim: Claim) -> bool:
        if not self._reserve(1):
            return False
        claim.taken += 1
        return True

    def _reserve(self, count: int) -> bool:
        """Book task threads for runs about to be leased; False when not enough are free."""
        with self._in_flight_lock:
            if self._in_flight + count > self._capacity:
                self._starved = True
                return False
            self._in_flight += count
            return True

    def _release(self, count: int) -> None:
        if count:
            with self._in_flight_lock:
                self._in_flight -= count

    def _start(self, runs: list[Run]) -> None:
        for index, (queued, execution) in enumerate(runs):
            try:
                self._pool.submit(self._run_external, queued, execution)
            except RuntimeError:  # `stop` shut the pool down meanwhile: the leases expire and are redelivered
                self._release(len(runs) - index)
                return

    def _external_flagged(self, execution: Execution, message: Message) -> bool:
        """Route runs of external tasks through the queue, marked so a worker leases them."""
        if self.handlers.runs_outside(execution, message):
            message.data["external"] = True
            return True
        return False

    def _flush(self, conn: Connection, unit: Unit) -> Outcome:
        """Write the unit; announce new work and changed executions to other processes (sent at commit)."""
        wake = unit.flush()
        outcome = Outcome(
            wake, frozenset(unit.changed), tuple(unit.completed_stages), 1, tuple(unit.started), unit.delayed
        )
        for sql in (self.wakeup.notify_sql() if outcome.wake else None, self.wakeup.changed_sql(outcome.changed)):
            if sql:
                conn.execute(text(sql))
        return outcome

    def _after_commit(self, outcome: Outcome, handled: int, started: float) -> None:
        if outcome.wake:  # other processes were told by the transaction itself where the database can
            self.wakeup.wake_local() if self.wakeup.notify_sql() else self.wakeup.notify()
        elif outcome.delayed:  # this process's idle workers may be sleeping past the new due time
            self.wakeup.wake_local()
        if self.wakeup.changed_sql(outcome.changed) is None:  # no NOTIFY carried them: tell this process
            self.wakeup.publish_changes(outcome.changed)
        if self._on_handled and handled:
            self._on_handled(time.perf_counter() - started)
        if self._on_stage_complete:
            for stage_type, status, seconds in outcome.completed_stages:
                self._on_stage_complete(stage_type, status, seconds)

    def _one_by_one(self) -> int:
        with self.db.transaction() as conn:
            due = self.queue.due(conn, now_ms(), self.batch_size, external=False)
        for message in due:
            try:
                with self._transaction() as (conn, units):
                    claimed = self.queue.still_due(conn, message.id, now_ms())
                    # Without inline chains, so a failure is pinned on the message that causes it.
                    outcome = self._handle(conn, units, claimed, None, inline=False) if claimed else NOTHING
                self._after_commit(outcome, len(claimed), time.perf_counter())
            except Exception:
                log.exception("message %s (%s) failed", message.id, message.kind)
                self._record_failure(message)
        return len(due)

    def _record_failure(self, message: QueuedMessage) -> None:
        with self.db.transaction() as conn:
            if message.attempts + 1 < MAX_ATTEMPTS:
                self.queue.retry_later(conn, message.id, now_ms() + RETRY_DELAY_MS * (message.attempts + 1))
                return
            log.error("message %s (%s) is dead after %d attempts", message.id, message.kind, MAX_ATTEMPTS)
            self.queue.delete(conn, [message.id])
            self.queue.push(conn, [dead_letter_replacement(message)])
        self.wakeup.notify()

    # -- external tasks ------------------------------------------------------------------------------
    def _run_external(self, queued: QueuedMessage, snapshot: tuple[Execution, Stage] | None) -> None:
        """Run the task on the execution as it was committed (read now when the run came off the queue)."""
        message = Message.from_payload(queued.kind, queued.execution_id, queued.payload)
        try:
            execution: Execution | None
            stage: Stage | None
            if snapshot is not None:
                execution, stage = snapshot
            else:
                with self.db.read() as conn:
                    loaded = self.executions.load(conn, queued.execution_id)
                execution = loaded.execution if loaded is not None else None
                stage = execution.stage(message.stage_id or "") if execution is not None else None
            task = stage.task(message.task_id or "") if stage is not None else None
            if (
                execution is not None
                and stage is not None
                and task is not None
                and task.status is Status.RUNNING
                and self._may_run(execution, stage, task)
            ):
                if not stage.is_synthetic:
                    self.handlers.services.expressions.evaluate_stage(execution, stage)
                context = TaskContext(execution, stage, now_ms(), self.handlers.services)
                message.data["result"] = result_to_json(self.handlers.execute_task(context, task))
        except Exception:  # left leased: the run is retried once the lease runs out
            log.exception("external task message %s failed", queued.id)
            return
        finally:
            self._release(1)
            if self._starved:  # runs wait in the queue for a free task thread: this one is
                self._starved = False
                self.wakeup.wake_local()
        self._deliver((queued, message))

    def _may_run(self, execution: Execution, stage: Stage, task: Task) -> bool:
        if execution.canceled or execution.status is not Status.RUNNING or stage.context.get("manualSkip"):
            return False
        return self.handlers.timeout(now_ms(), execution, stage, task) is None

    def _deliver(self, result: Result) -> None:
        """Queue a result for applying; the first task thread to find no one applying applies every result
        that arrives until none is left, so results that finish together share one transaction."""
        with self._results_lock:
            self._results.append(result)
            if self._applying:
                return
            self._applying = True
        while True:
            with self._results_lock:
                batch, self._results = self._results, []
                if not batch:
                    self._applying = False
                    return
            self._apply(batch)

    def _apply(self, batch: list[Result]) -> None:
        try:
            self._apply_together(batch)
            return
        except Exception:
            if len(batch) == 1:  # left leased: the run is retried once the lease runs out
                log.exception("applying the result of message %s failed", batch[0][0].id)
                return
            log.exception("applying %d results failed; applying them one at a time", len(batch))
        for result in batch:
            self._apply([result])

    def _apply_together(self, batch: list[Result]) -> None:
        claim = self._claim()
        started = time.perf_counter()
        try:
            with self._transaction() as (conn, units):
                held = self.queue.still_held(conn, [queued for queued, _ in batch])
                for queued, _ in batch:
                    if queued.id not in held:
                        log.info("lease on message %s was lost; dropping its result", queued.id)
                live = [(queued, message) for queued, message in batch if queued.id in held]
                if not live:
                    return
                execution_ids = {queued.execution_id for queued, _ in live}
                headers = self.executions.lock(conn, execution_ids)
                polls = {(m.execution_id, m.stage_id, m.task_id): queued.id for queued, m in live}
                unit = self._unit(conn, units, execution_ids, claim, headers=headers, polls=polls)
                for _, message in live:
                    message.data.pop("external", None)
                    self.handlers.handle(unit, message)
                kept = {row for row, _ in unit.repolled}
                self.queue.delete(conn, [queued.id for queued, _ in live if queued.id not in kept])
                outcome = self._flush(conn, unit)
        except Exception:
            self._release(claim.taken)
            raise
        self._after_commit(outcome, len(live), started)
        self._start(list(outcome.started))


def dead_letter_replacement(message: QueuedMessage) -> tuple[str, str, dict[str, object], int]:
    """The message replacing a dead one: fail the task, abort the stage, or settle the execution."""
    payload = message.payload
    if payload.get("taskId") and message.kind != Kind.START_TASK:
        data = {"stageId": payload["stageId"], "taskId": payload["taskId"], "status": "TERMINAL"}
        return (message.execution_id, Kind.COMPLETE_TASK.value, data, now_ms())
    if payload.get("stageId"):
        return (message.execution_id, Kind.ABORT_STAGE.value, {"stageId": payload["stageId"]}, now_ms())
    return (message.execution_id, Kind.COMPLETE_EXECUTION.value, {}, now_ms())
