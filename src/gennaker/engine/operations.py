"""What people do to executions: cancel, pause, resume, restart a stage, patch a stage, judge (orca.md §2.8).

Each operation checks that it makes sense now (a clear `OperationError` otherwise), records who did it,
and queues the message that carries it out, all in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text

from gennaker.engine.messages import Kind, Message
from gennaker.engine.registry import Registry
from gennaker.engine.unit import Unit
from gennaker.engine.wakeup import Wakeup
from gennaker.model.execution import Execution, Stage
from gennaker.model.status import Status
from gennaker.store.database import Database
from gennaker.store.executions import ExecutionStore
from gennaker.store.queue import QueueStore


class OperationError(ValueError):
    """The operation is not allowed in the execution's current state."""


class NotFound(LookupError):
    pass


class Operations:
    def __init__(self, db: Database, executions: ExecutionStore, queue: QueueStore, registry: Registry, wakeup: Wakeup):
        self.db = db
        self.executions = executions
        self.queue = queue
        self.registry = registry
        self.wakeup = wakeup

    @contextmanager
    def _unit(self, execution_id: str) -> Iterator[tuple[Unit, Execution]]:
        with self.db.transaction() as conn:
            self.executions.lock(conn, [execution_id])
            unit = Unit(conn, self.executions, self.queue, [execution_id], _never_inline)
            execution = unit.execution(execution_id)
            if execution is None:
                raise NotFound(f"execution {execution_id} not found")
            yield unit, execution
            unit.flush()
            for sql in (self.wakeup.notify_sql(), self.wakeup.changed_sql([execution_id])):
                if sql:
                    conn.execute(text(sql))
        self.wakeup.notify()
        if self.wakeup.changed_sql([execution_id]) is None:
            self.wakeup.publish_changes([execution_id])

    def cancel(self, execution_id: str, user: str, reason: str | None = None) -> None:
        with self._unit(execution_id) as (unit, execution):
            if execution.status.is_complete:
                raise OperationError(f"execution {execution_id} is already {execution.status.value}")
            execution.canceled, execution.canceled_by, execution.cancellation_reason = True, user, reason
            unit.push(Message(Kind.CANCEL_EXECUTION, execution_id, data={"user": user, "reason": reason}))

    def pause(self, execution_id: str, user: str) -> None:
        with self._unit(execution_id) as (unit, execution):
            if execution.status is not Status.RUNNING:
                raise OperationError(f"only a RUNNING execution can be paused; it is {execution.status.value}")
            execution.status = Status.PAUSED
            execution.paused = {
                "pausedBy": user,
                "pauseTime": unit.now,
                "pausedMs": (execution.paused or {}).get("pausedMs", 0),
            }
            unit.reschedule(execution_id)

    def resume(self, execution_id: str, user: str) -> None:
        with self._unit(execution_id) as (unit, execution):
            if execution.status is not Status.PAUSED:
                raise OperationError(f"only a PAUSED execution can be resumed; it is {execution.status.value}")
            paused = dict(execution.paused or {})
            pause_length = unit.now - int(paused.get("pauseTime") or unit.now)
            paused.update(resumedBy=user, resumeTime=unit.now, pausedMs=int(paused.get("pausedMs", 0)) + pause_length)
            execution.paused, execution.status = paused, Status.RUNNING
            unit.push(Message(Kind.RESUME_EXECUTION, execution_id, data={"pausedMs": pause_length}))

    def restart_stage(self, execution_id: str, stage_ref: str, user: str) -> Stage:
        with self._unit(execution_id) as (unit, execution):
            stage = execution.top_level_ancestor(find_stage(execution, stage_ref))
            if not (stage.status.is_complete or stage.status is Status.NOT_STARTED):
                raise OperationError(
                    f"stage {stage.name} is {stage.status.value}; only a finished stage can be restarted"
                )
            unit.push(Message(Kind.RESTART_STAGE, execution_id, stage.id, data={"user": user}))
            return stage

    def patch_stage(self, execution_id: str, stage_ref: str, body: dict[str, Any], user: str) -> Stage:
        """Merge `body` into a stage's context (how judgments, skipRemainingWait and manualSkip arrive)."""
        with self._unit(execution_id) as (unit, execution):
            stage = find_stage(execution, stage_ref)
            if body.get("manualSkip") and not self._skippable(stage):
                raise OperationError(f"stage {stage.name} ({stage.type}) cannot be skipped manually")
            stage.context.update(body)
            stage.context["lastModifiedBy"] = user
            stage.last_modified = {"user": user, "allowedAccounts": [], "lastModifiedTime": unit.now}
            unit.reschedule(execution_id)
            return stage

    def _skippable(self, stage: Stage) -> bool:
        definition = self.registry.for_stage(stage)
        return definition is not None and definition.can_manually_skip(stage)

    def judge(self, execution_id: str, stage_ref: str, judgment: str, judgment_input: str | None, user: str) -> Stage:
        if judgment.lower() not in ("continue", "stop"):
            raise OperationError("judgment must be 'continue' or 'stop'")
        with self.db.read() as conn:
            loaded = self.executions.load(conn, execution_id)
        if loaded is None:
            raise NotFound(f"execution {execution_id} not found")
        stage = find_stage(loaded.execution, stage_ref)
        if stage.type != "manualJudgment" or stage.status not in (Status.RUNNING, Status.PAUSED):
            raise OperationError(f"stage {stage.name} is not a manual judgment awaiting input ({stage.status.value})")
        body: dict[str, Any] = {"judgmentStatus": judgment.lower()}
        if judgment_input is not None:
            body["judgmentInput"] = judgment_input
        return self.patch_stage(execution_id, stage.id, body, user)


def find_stage(execution: Execution, ref: str) -> Stage:
    """A stage by id, refId or name (top-level stages first)."""
    for predicate in (
        lambda s: s.id == ref,
        lambda s: s.ref_id == ref and not s.is_synthetic,
        lambda s: s.name == ref and not s.is_synthetic,
        lambda s: s.name == ref,
    ):
        found = [s for s in execution.stages if predicate(s)]
        if found:
            return found[0]
    raise NotFound(f"no stage '{ref}' in execution {execution.id}")


def _never_inline(_execution: Execution, _message: Message) -> bool:
    """Operations only queue messages; workers handle them."""
    return True
