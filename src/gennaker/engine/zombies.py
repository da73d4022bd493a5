"""Zombies: executions that are RUNNING but have no message left to move them (orca.md §2.10).

State and messages commit together, so a zombie means a lost or dead message. `find_zombies` reports
them (at start-up and on demand); `repair` rebuilds the messages each stage's and task's state calls for.
Handlers are idempotent, so a message that turns out not to be needed changes nothing.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from gennaker.engine.messages import Kind, Message
from gennaker.engine.unit import Unit
from gennaker.model.execution import STAGE_AFTER, STAGE_BEFORE, Execution, Stage
from gennaker.model.status import Status
from gennaker.store.executions import ExecutionStore
from gennaker.store.queue import QueueStore

ACTIVE = (Status.RUNNING.value, Status.PAUSED.value, Status.NOT_STARTED.value)


def find_zombies(conn: Connection, executions: ExecutionStore, queue: QueueStore) -> list[str]:
    """Active executions with no queued message and no place in a concurrency wait list."""
    zombies = []
    for execution_id in executions.ids_with_status(conn, ACTIVE):
        if queue.for_execution(conn, execution_id) or queue.is_parked(conn, execution_id):
            continue
        loaded = executions.load(conn, execution_id)
        if loaded is not None and loaded.execution.status is Status.PAUSED:
            continue  # paused executions legitimately wait for a person
        zombies.append(execution_id)
    return zombies


def repair(unit: Unit, execution: Execution) -> int:
    """Queue the messages that carry this execution forward; returns how many were queued."""
    before = len(unit.outbox)
    if execution.status is Status.NOT_STARTED:
        unit.push(Message(Kind.START_EXECUTION, execution.id))
    for stage in execution.stages:
        for message in _stage_messages(execution, stage):
            unit.push(message)
    unit.push(Message(Kind.COMPLETE_EXECUTION, execution.id))
    return len(unit.outbox) - before


def _stage_messages(execution: Execution, stage: Stage) -> list[Message]:
    if stage.status is Status.NOT_STARTED:
        parent_running = stage.parent_stage_id is None or _parent_status(execution, stage) is Status.RUNNING
        startable = parent_running and execution.upstream_ready(stage)
        return [Message(Kind.START_STAGE, execution.id, stage.id)] if startable else []
    if stage.status is not Status.RUNNING:
        return []
    running = [t for t in stage.tasks if t.status in (Status.RUNNING, Status.PAUSED)]
    if running:
        return [Message(Kind.RUN_TASK, execution.id, stage.id, t.id) for t in running]
    children = {owner: execution.children(stage, owner) for owner in (STAGE_BEFORE, STAGE_AFTER)}
    if children[STAGE_AFTER]:
        return [Message(Kind.CONTINUE_PARENT_STAGE, execution.id, stage.id, data={"owner": STAGE_AFTER})]
    if any(not c.status.is_complete for c in children[STAGE_BEFORE]):
        return []
    pending = [t for t in stage.tasks if t.status is Status.NOT_STARTED]
    if pending and all(t.status.is_complete for t in stage.tasks[: stage.tasks.index(pending[0])]):
        if pending[0] is stage.tasks[0] and children[STAGE_BEFORE]:
            return [Message(Kind.CONTINUE_PARENT_STAGE, execution.id, stage.id, data={"owner": STAGE_BEFORE})]
        return [Message(Kind.START_TASK, execution.id, stage.id, pending[0].id)]
    return [Message(Kind.COMPLETE_STAGE, execution.id, stage.id)]


def _parent_status(execution: Execution, stage: Stage) -> Status | None:
    parent = execution.stage(stage.parent_stage_id or "")
    return parent.status if parent else None
