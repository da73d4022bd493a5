"""Message handlers: each reads the state, changes it, and pushes the next messages (orca.md §2.3-§2.9).

Every handler first checks that the state still calls for it (a task still RUNNING, a stage still
NOT_STARTED, ...), so a message delivered twice changes nothing the second time. The stage a message names
is written back after it; a handler that changes other stages says so (`Unit.touch`, `Unit.touch_all`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gennaker.engine.cache import ExecutionCache
from gennaker.engine.contracts import (
    EngineServices,
    StageFailure,
    SyntheticStage,
    TaskContext,
    TaskResult,
    exception_details,
)
from gennaker.engine.messages import Kind, Message
from gennaker.engine.registry import Registry
from gennaker.engine.unit import Unit
from gennaker.model.execution import STAGE_AFTER, STAGE_BEFORE, Execution, Stage, Task
from gennaker.model.ids import new_id
from gennaker.model.status import CONTINUABLE, HALTED, Status
from gennaker.store.executions import ExecutionStore
from gennaker.store.queue import QueueStore

log = logging.getLogger(__name__)

EXECUTION_WINDOW = "restrictExecutionDuringTimeWindow"
SUPERSEDED = (
    "This execution was queued but then canceled because a newer queued execution superceded it. "
    "This pipeline is configured to automatically cancel waiting executions."
)


def failure_status(stage: Stage, default: Status = Status.TERMINAL) -> Status:
    """The status a failing stage ends in, from its "if stage fails" options (orca.md §1.2)."""
    if stage.context.get("continuePipeline") is True:
        return Status.FAILED_CONTINUE
    if stage.context.get("failPipeline", True) in (True, None):
        return default
    return Status.STOPPED


class Handlers:
    def __init__(self, registry: Registry, services: EngineServices, executions: ExecutionStore, queue: QueueStore):
        self.registry = registry
        self.services = services
        self.executions = executions
        self.queue = queue
        # Executions kept decoded between transactions, shared by this process's workers.
        self.cache = ExecutionCache(executions)
        self._table: dict[Kind, Callable[[Unit, Message, Execution], None]] = {
            Kind.START_EXECUTION: self.start_execution,
            Kind.START_STAGE: self.start_stage,
            Kind.START_TASK: self.start_task,
            Kind.RUN_TASK: self.run_task,
            Kind.COMPLETE_TASK: self.complete_task,
            Kind.COMPLETE_STAGE: self.complete_stage,
            Kind.SKIP_STAGE: self.skip_stage,
            Kind.ABORT_STAGE: self.abort_stage,
            Kind.CANCEL_STAGE: self.cancel_stage,
            Kind.PAUSE_TASK: self.pause_task,
            Kind.RESUME_EXECUTION: self.resume_execution,
            Kind.RESTART_STAGE: self.restart_stage,
            Kind.CONTINUE_PARENT_STAGE: self.continue_parent_stage,
            Kind.COMPLETE_EXECUTION: self.complete_execution,
            Kind.CANCEL_EXECUTION: self.cancel_execution,
            Kind.RESCHEDULE_EXECUTION: self.reschedule_execution,
            Kind.START_WAITING_EXECUTIONS: self.start_waiting_executions,
        }

    # -- dispatch ---------------------------------------------------------------------------------
    def handle(self, unit: Unit, message: Message) -> None:
        """Handle one message and then every inline message it leads to."""
        unit.local.append(message)
        while unit.local:
            current = unit.local.popleft()
            unit.handled += 1
            execution = unit.execution(current.execution_id)
            if execution is None:
                log.warning("dropping %s for unknown execution %s", current.kind, current.execution_id)
                continue
            if current.stage_id is not None:
                unit.touch(execution, execution.stage(current.stage_id))
            self._table[current.kind](unit, current, execution)

    def runs_outside(self, execution: Execution, message: Message) -> bool:
        """Whether this message runs a task that must run outside the transaction."""
        if message.kind is not Kind.RUN_TASK or message.stage_id is None or message.task_id is None:
            return False
        stage = execution.stage(message.stage_id)
        task = stage.task(message.task_id) if stage else None
        return (
            task is not None
            and task.implementing_class in self.registry.tasks
            and self.registry.task(task.implementing_class).external
        )

    # -- executions -------------------------------------------------------------------------------
    def start_execution(self, unit: Unit, message: Message, execution: Execution) -> None:
        if execution.status is not Status.NOT_STARTED:
            return
        if execution.canceled:
            self._finish_execution(unit, execution, Status.CANCELED)
            return
        if self._must_wait(unit, execution):
            self.queue.park(unit.conn, execution.pipeline_config_id or "", execution.id, {"kind": Kind.START_EXECUTION})
            return
        if execution.start_time_expiry and unit.now > execution.start_time_expiry:
            execution.canceled, execution.canceled_by = True, "spinnaker"
            execution.cancellation_reason = "Could not begin execution before start time expiry"
            self._finish_execution(unit, execution, Status.CANCELED)
            return
        initial = [s for s in execution.top_level_stages() if not s.requisite_stage_ref_ids]
        execution.status, execution.start_time, execution.canceled = Status.RUNNING, unit.now, False
        unit.event(execution, "ExecutionStarted", Status.RUNNING)
        if not initial:
            self._finish_execution(unit, execution, Status.TERMINAL)
            return
        for stage in initial:
            unit.push(Message(Kind.START_STAGE, execution.id, stage.id))

    def _must_wait(self, unit: Unit, execution: Execution) -> bool:
        """Concurrency limits (orca.md §2.9); serialised per pipeline config so two starts cannot race."""
        config_id = execution.pipeline_config_id
        if not config_id or not (execution.limit_concurrent or execution.max_concurrent_executions > 0):
            return False
        self.executions.lock_config(unit.conn, config_id)
        unit.save_executions()  # executions started earlier in this transaction count too
        active = self.executions.count_active(unit.conn, config_id, exclude_id=execution.id)
        if execution.limit_concurrent:
            return active > 0
        return active >= execution.max_concurrent_executions

    def complete_execution(self, unit: Unit, message: Message, execution: Execution) -> None:
        if execution.status.is_complete or execution.status is Status.NOT_STARTED:
            return
        status = self._final_status(execution)
        if status is not None:
            self._finish_execution(unit, execution, status)

    def _final_status(self, execution: Execution) -> Status | None:
        """orca.md §2.7 over top-level stages; None while some branch can still run."""
        top = execution.top_level_stages()
        statuses = [s.status for s in top]
        if all(s in CONTINUABLE for s in statuses):
            return Status.SUCCEEDED
        if Status.TERMINAL in statuses:
            return Status.TERMINAL
        if Status.CANCELED in statuses:
            return Status.CANCELED
        still_running = any(
            s.status in (Status.RUNNING, Status.PAUSED)
            or (s.status is Status.NOT_STARTED and not execution.canceled and execution.upstream_ready(s))
            for s in top
        )
        if still_running:
            return None
        if execution.canceled:
            return Status.CANCELED
        if any(s.status is Status.STOPPED and s.context.get("completeOtherBranchesThenFail") for s in top):
            return Status.TERMINAL
        return Status.SUCCEEDED

    def _finish_execution(self, unit: Unit, execution: Execution, status: Status) -> None:
        execution.status, execution.end_time = status, unit.now
        unit.event(execution, "ExecutionComplete", status)
        if status is not Status.SUCCEEDED:
            self._cancel_running_tasks(unit, execution)
        if execution.pipeline_config_id:
            unit.push(
                Message(
                    Kind.START_WAITING_EXECUTIONS,
                    execution.id,
                    data={
                        "pipelineConfigId": execution.pipeline_config_id,
                        "purge": not execution.keep_waiting_pipelines,
                    },
                )
            )
        parent = execution.trigger.get("parentExecution") if execution.trigger.get("type") == "pipeline" else None
        if isinstance(parent, dict) and parent.get("id"):
            unit.push(Message(Kind.RESCHEDULE_EXECUTION, parent["id"]))
        if self.services.on_execution_complete is not None and execution.type == "PIPELINE":
            self.services.on_execution_complete(unit.conn, execution)

    def _cancel_running_tasks(self, unit: Unit, execution: Execution) -> None:
        """Stop what still runs under a halted or cancelled execution, calling each task's cancel hook."""
        unit.touch_all(execution)
        for stage in execution.stages:
            if stage.status is Status.PAUSED:
                stage.status = Status.RUNNING
            for task in stage.tasks:
                if task.status in (Status.RUNNING, Status.PAUSED):
                    task.status = Status.RUNNING
                    self._call_cancel_hook(unit, execution, stage, task)
                    unit.push(Message(Kind.COMPLETE_TASK, execution.id, stage.id, task.id, {"status": Status.CANCELED}))

    def _call_cancel_hook(self, unit: Unit, execution: Execution, stage: Stage, task: Task) -> None:
        if task.implementing_class not in self.registry.tasks:
            return
        try:
            self.registry.task(task.implementing_class).on_cancel(self._task_context(unit, execution, stage))
        except Exception:
            log.exception("cancel hook of %s failed in %s", task.name, execution.id)

    def cancel_execution(self, unit: Unit, message: Message, execution: Execution) -> None:
        if execution.status.is_complete:
            return
        execution.canceled = True
        execution.canceled_by = execution.canceled_by or message.data.get("user")
        execution.cancellation_reason = execution.cancellation_reason or message.data.get("reason")
        if execution.status is Status.NOT_STARTED:
            self._finish_execution(unit, execution, Status.CANCELED)
            return
        execution.status = Status.RUNNING
        self._cancel_running_tasks(unit, execution)
        unit.push(Message(Kind.COMPLETE_EXECUTION, execution.id))

    def reschedule_execution(self, unit: Unit, message: Message, execution: Execution) -> None:
        """Make every running task poll now, re-creating a lost poll message if needed."""
        if execution.status.is_complete:
            return
        waiting = {
            (m.payload.get("stageId"), m.payload.get("taskId"))
            for m in self.queue.for_execution(unit.conn, execution.id)
            if m.kind == Kind.RUN_TASK
        }
        for stage in execution.stages:
            for task in stage.tasks:
                if task.status is Status.RUNNING and (stage.id, task.id) not in waiting:
                    unit.push(Message(Kind.RUN_TASK, execution.id, stage.id, task.id))
        unit.reschedule(execution.id)

    def start_waiting_executions(self, unit: Unit, message: Message, execution: Execution) -> None:
        config_id = message.data["pipelineConfigId"]
        # Shared with other finishing executions, exclusive of starts deciding to park (which then see this
        # execution finished, or park before this looks).
        self.executions.lock_config(unit.conn, config_id, shared=True)
        parked = self.queue.parked(unit.conn, config_id)
        if not parked:
            return
        if message.data.get("purge"):
            chosen, dropped = parked[-1], parked[:-1]
        else:
            chosen, dropped = parked[0], []
        # Two executions finishing together may both pick an entry: only the one that removes it acts on it.
        removed = self.queue.unpark(unit.conn, [entry_id for entry_id, _, _ in [chosen, *dropped]])
        for entry_id, execution_id, payload in dropped:
            if entry_id in removed and payload.get("kind") == Kind.START_EXECUTION:
                unit.push(
                    Message(Kind.CANCEL_EXECUTION, execution_id, data={"user": "spinnaker", "reason": SUPERSEDED})
                )
        entry_id, execution_id, payload = chosen
        if entry_id in removed:
            kind = Kind(payload.pop("kind"))
            unit.push(Message.from_payload(kind, execution_id, payload))

    def resume_execution(self, unit: Unit, message: Message, execution: Execution) -> None:
        if execution.status is not Status.RUNNING:
            return
        paused_ms = int(message.data.get("pausedMs", 0))
        unit.touch_all(execution)
        for stage in execution.stages:
            if stage.status is Status.PAUSED:
                stage.status = Status.RUNNING
                stage.paused_ms += paused_ms
            for task in stage.tasks:
                if task.status is Status.PAUSED:
                    task.status = Status.RUNNING
                    unit.push(Message(Kind.RUN_TASK, execution.id, stage.id, task.id))

    # -- stages -----------------------------------------------------------------------------------
    def start_stage(self, unit: Unit, message: Message, execution: Execution) -> None:
        stage = execution.stage(message.stage_id or "")
        if stage is None or stage.status is not Status.NOT_STARTED:
            return
        if execution.canceled or execution.status not in (Status.RUNNING, Status.PAUSED):
            return
        upstream = execution.upstream(stage)
        if not all(s.status in CONTINUABLE for s in upstream):
            if any(s.status in HALTED for s in upstream) and not stage.is_synthetic:
                unit.push(Message(Kind.COMPLETE_EXECUTION, execution.id))
            return  # a join: the last upstream stage to finish starts it
        if stage.start_time_expiry and unit.now > stage.start_time_expiry:
            unit.push(Message(Kind.SKIP_STAGE, execution.id, stage.id))
            return
        if not stage.is_synthetic:
            self.services.expressions.evaluate_stage(execution, stage)
        if not self._enabled(execution, stage):
            unit.push(Message(Kind.SKIP_STAGE, execution.id, stage.id))
            return
        try:
            self._plan(execution, stage)
        except Exception as exc:  # a planning error fails the stage with its reason
            log.info("planning %s failed: %s", stage.name, exc)
            stage.context["exception"] = exception_details(str(exc))
            stage.context["beforeStagePlanningFailed"] = True
            stage.status, stage.start_time = Status.RUNNING, unit.now
            unit.push(Message(Kind.COMPLETE_STAGE, execution.id, stage.id))
            return
        stage.status, stage.start_time = Status.RUNNING, unit.now
        unit.event(execution, "StageStarted", Status.RUNNING, stage)
        before = [s for s in execution.children(stage, STAGE_BEFORE) if not s.requisite_stage_ref_ids]
        if before:
            for child in before:
                unit.push(Message(Kind.START_STAGE, execution.id, child.id))
        elif stage.tasks:
            unit.push(Message(Kind.START_TASK, execution.id, stage.id, stage.tasks[0].id))
        else:
            unit.push(Message(Kind.COMPLETE_STAGE, execution.id, stage.id))

    def _enabled(self, execution: Execution, stage: Stage) -> bool:
        condition = stage.context.get("stageEnabled")
        if not isinstance(condition, dict) or condition.get("type") != "expression":
            return True
        expression = condition.get("expression")
        if expression is None or expression == "":
            return True
        if isinstance(expression, bool):
            return expression  # a `${…}` the stage start already evaluated: never evaluated again
        return self.services.expressions.stage_enabled(execution, stage, str(expression))

    def _plan(self, execution: Execution, stage: Stage) -> None:
        definition = self.registry.stage(stage)
        names = definition.tasks(stage)
        stage.tasks = [
            Task(
                id=str(i + 1),
                name=name,
                implementing_class=name,
                stage_start=i == 0,
                stage_end=i == len(names) - 1,
            )
            for i, name in enumerate(names)
        ]
        window: list[SyntheticStage] = []
        if stage.context.get(EXECUTION_WINDOW) is True:
            window_context = {
                "restrictedExecutionWindow": stage.context.get("restrictedExecutionWindow") or {},
                "skipRemainingWait": False,
            }
            window = [SyntheticStage(EXECUTION_WINDOW, "Restrict Execution During", window_context)]
        window_refs = self._add_synthetic(execution, stage, window, STAGE_BEFORE, requisites=[])
        self._add_synthetic(execution, stage, definition.before_stages(stage), STAGE_BEFORE, requisites=window_refs)
        if names and definition.can_manually_skip(stage):
            stage.context["canManuallySkip"] = True

    def _add_synthetic(
        self,
        execution: Execution,
        parent: Stage,
        specs: list[SyntheticStage],
        owner: str,
        *,
        requisites: list[str],
        chain: bool = False,
    ) -> list[str]:
        """Add synthetic stages under `parent`, all after `requisites` (or one after another if `chain`)."""
        marker = "<" if owner == STAGE_BEFORE else ">"
        existing = len(execution.children(parent, owner))
        refs: list[str] = []
        previous = requisites
        for offset, spec in enumerate(specs):
            ref = f"{parent.ref_id}{marker}{existing + offset + 1}"
            execution.stages.append(
                Stage(
                    id=new_id(),
                    ref_id=ref,
                    type=spec.type,
                    name=spec.name,
                    context=dict(spec.context),
                    requisite_stage_ref_ids=list(previous),
                    parent_stage_id=parent.id,
                    synthetic_stage_owner=owner,
                )
            )
            refs.append(ref)
            if chain:
                previous = [ref]
        return refs

    def complete_stage(self, unit: Unit, message: Message, execution: Execution) -> None:
        stage = execution.stage(message.stage_id or "")
        if stage is None or stage.status not in (Status.RUNNING, Status.NOT_STARTED):
            return
        status = self._stage_status(execution, stage)
        failed_expressions = stage.context.get("expressionEvaluationSummary")
        if stage.context.get("failOnFailedExpressions") and failed_expressions and not status.is_halt:
            status = Status.TERMINAL
        if status is Status.NOT_STARTED:
            status = Status.SKIPPED
        definition = self.registry.for_stage(stage)
        if (
            not status.is_halt
            and status is not Status.FAILED_CONTINUE
            and definition
            and not stage.after_stages_planned
        ):
            stage.after_stages_planned = True
            self._add_synthetic(
                execution, stage, definition.after_stages(stage), STAGE_AFTER, requisites=[], chain=True
            )
            status = self._stage_status(execution, stage)  # RUNNING while after-stages remain
        elif (
            status in (Status.TERMINAL, Status.STOPPED, Status.FAILED_CONTINUE)
            and definition
            and not stage.after_stages_planned
        ):
            stage.after_stages_planned = True
            failure_stages = definition.on_failure_stages(stage)
            if failure_stages:
                pending = {s.id for s in execution.children(stage) if s.status is Status.NOT_STARTED}
                execution.stages = [s for s in execution.stages if s.id not in pending]
                self._add_synthetic(execution, stage, failure_stages, STAGE_AFTER, requisites=[], chain=True)
                status = Status.RUNNING
        if status is Status.RUNNING or not status.is_complete:
            first_after = [
                s
                for s in execution.children(stage, STAGE_AFTER)
                if s.status is Status.NOT_STARTED and not s.requisite_stage_ref_ids
            ]
            for child in first_after:
                unit.push(Message(Kind.START_STAGE, execution.id, child.id))
            if first_after or any(s.status is Status.NOT_STARTED for s in execution.children(stage, STAGE_AFTER)):
                return
            status = self._stage_status(execution, stage)
        stage.status, stage.end_time = status, unit.now
        self._merge_expression_errors(stage)
        unit.event(execution, "StageComplete", status, stage)
        if stage.is_synthetic and status is Status.FAILED_CONTINUE:
            unit.push(Message(Kind.COMPLETE_STAGE, execution.id, stage.parent_stage_id))
        elif status in CONTINUABLE:
            self._start_next(unit, execution, stage)
        else:
            unit.push(Message(Kind.CANCEL_STAGE, execution.id, stage.id))
            self._halt_upwards(unit, execution, stage)

    def _stage_status(self, execution: Execution, stage: Stage) -> Status:
        """orca.md §2.7, from synthetic children, tasks and a planning failure."""
        children = execution.children(stage)
        statuses = [c.status for c in children] + [t.status for t in stage.tasks]
        if stage.context.get("beforeStagePlanningFailed"):
            statuses.append(failure_status(stage))
        if not statuses:
            return Status.NOT_STARTED
        if Status.TERMINAL in statuses:
            return failure_status(stage)
        for halting in (Status.STOPPED, Status.CANCELED, Status.FAILED_CONTINUE):
            if halting in statuses:
                return halting
        if all(s in (Status.SUCCEEDED, Status.SKIPPED) for s in statuses):
            return Status.SUCCEEDED
        if any(c.status is Status.NOT_STARTED and c.synthetic_stage_owner == STAGE_AFTER for c in children):
            return Status.RUNNING
        return Status.TERMINAL

    @staticmethod
    def _merge_expression_errors(stage: Stage) -> None:
        summary = stage.context.get("expressionEvaluationSummary")
        if not isinstance(summary, dict) or not summary:
            return
        descriptions = [
            entry.get("description", "")
            for entries in summary.values()
            for entry in (entries if isinstance(entries, list) else [])
            if isinstance(entry, dict) and entry.get("level") == "ERROR"
        ]
        if descriptions:
            exception = stage.context.setdefault("exception", exception_details(descriptions[0], []))
            errors = exception.setdefault("details", {}).setdefault("errors", [])
            errors.extend(d for d in descriptions if d not in errors)

    def _start_next(self, unit: Unit, execution: Execution, stage: Stage) -> None:
        downstream = execution.downstream(stage)
        if downstream:
            for nxt in downstream:
                unit.push(Message(Kind.START_STAGE, execution.id, nxt.id))
        elif stage.is_synthetic:
            unit.push(
                Message(
                    Kind.CONTINUE_PARENT_STAGE,
                    execution.id,
                    stage.parent_stage_id,
                    data={"owner": stage.synthetic_stage_owner},
                )
            )
        else:
            unit.push(Message(Kind.COMPLETE_EXECUTION, execution.id))

    def _halt_upwards(self, unit: Unit, execution: Execution, stage: Stage) -> None:
        if stage.is_synthetic:
            unit.push(Message(Kind.COMPLETE_STAGE, execution.id, stage.parent_stage_id))
        else:
            unit.push(Message(Kind.COMPLETE_EXECUTION, execution.id))

    def continue_parent_stage(self, unit: Unit, message: Message, execution: Execution) -> None:
        parent = execution.stage(message.stage_id or "")
        if parent is None or parent.status is not Status.RUNNING:
            return
        owner = message.data.get("owner")
        children = execution.children(parent, owner)
        if owner == STAGE_BEFORE:
            if all(c.status in CONTINUABLE for c in children):
                if parent.tasks:
                    unit.push(Message(Kind.START_TASK, execution.id, parent.id, parent.tasks[0].id))
                else:
                    unit.push(Message(Kind.COMPLETE_STAGE, execution.id, parent.id))
        elif all(c.status.is_complete for c in children):
            unit.push(Message(Kind.COMPLETE_STAGE, execution.id, parent.id))

    def skip_stage(self, unit: Unit, message: Message, execution: Execution) -> None:
        stage = execution.stage(message.stage_id or "")
        if stage is None:
            return
        manual = bool(stage.context.get("manualSkip"))
        if stage.status not in (Status.RUNNING, Status.NOT_STARTED) and not manual:
            return
        if stage.status.is_complete:
            return
        stage.status, stage.end_time = Status.SKIPPED, unit.now
        if manual:
            unit.touch_all(execution)
            for child in execution.descendants(stage):
                if not child.status.is_complete:
                    child.status, child.end_time = Status.SKIPPED, unit.now
            for owner in [stage, *execution.descendants(stage)]:
                for task in owner.tasks:
                    if not task.status.is_complete:
                        task.status, task.end_time = Status.SKIPPED, unit.now
        unit.event(execution, "StageComplete", Status.SKIPPED, stage)
        self._start_next(unit, execution, stage)

    def abort_stage(self, unit: Unit, message: Message, execution: Execution) -> None:
        stage = execution.stage(message.stage_id or "")
        if stage is None or stage.status not in (Status.RUNNING, Status.NOT_STARTED):
            return
        stage.status, stage.end_time = Status.TERMINAL, unit.now
        unit.event(execution, "StageComplete", Status.TERMINAL, stage)
        unit.push(Message(Kind.CANCEL_STAGE, execution.id, stage.id))
        self._halt_upwards(unit, execution, stage)

    def cancel_stage(self, unit: Unit, message: Message, execution: Execution) -> None:
        stage = execution.stage(message.stage_id or "")
        if stage is None or not stage.status.is_halt:
            return
        definition = self.registry.for_stage(stage)
        if definition is None:
            return
        try:
            cancelled = definition.cancel(execution, stage, self.services)
        except Exception:
            log.exception("cancelling stage %s of %s failed", stage.name, execution.id)
            return
        for other in cancelled.executions:
            unit.push(Message(Kind.CANCEL_EXECUTION, other, data={"user": "spinnaker", "reason": cancelled.reason}))
        if cancelled.cleanup and self.services.start_task is not None:
            user = str(execution.authentication.get("user") or "anonymous")  # who made what is cleaned up
            description = cancelled.cleanup_description or f"clean up after {stage.name}"
            self.services.start_task(unit.conn, execution.application, description, list(cancelled.cleanup), user)
            unit.executions_started = True

    def restart_stage(self, unit: Unit, message: Message, execution: Execution) -> None:
        stage = execution.stage(message.stage_id or "")
        if stage is None:
            return
        stage = execution.top_level_ancestor(stage)
        if not (stage.status.is_complete or stage.status is Status.NOT_STARTED):
            return
        if self._must_wait(unit, execution):  # another run of a concurrency-limited pipeline is active (§2.8)
            execution.status = Status.NOT_STARTED
            payload = {"kind": Kind.RESTART_STAGE, "stageId": stage.id, "user": message.data.get("user")}
            self.queue.park(unit.conn, execution.pipeline_config_id or "", execution.id, payload)
            return
        previous = stage.context.get("exception")
        unit.touch_all(execution)
        self._reset(execution, stage)
        stage.context["restartDetails"] = {
            "restartedBy": message.data.get("user"),
            "restartTime": unit.now,
            "previousException": previous,
        }
        for downstream in execution.all_downstream(stage):
            self._reset(execution, downstream)
        execution.status, execution.end_time = Status.RUNNING, None
        execution.canceled, execution.canceled_by, execution.cancellation_reason = False, None, None
        unit.event(execution, "ExecutionRestarted", Status.RUNNING, stage)
        unit.push(Message(Kind.START_STAGE, execution.id, stage.id))

    def _reset(self, execution: Execution, stage: Stage) -> None:
        removed = {s.id for s in execution.descendants(stage)}
        execution.stages = [s for s in execution.stages if s.id not in removed]
        stage.context.pop("exception", None)
        stage.context.pop("beforeStagePlanningFailed", None)
        stage.status, stage.start_time, stage.end_time, stage.tasks = Status.NOT_STARTED, None, None, []
        stage.after_stages_planned, stage.paused_ms = False, 0
        definition = self.registry.for_stage(stage)
        if definition is not None:
            definition.prepare_for_restart(stage)

    # -- tasks ------------------------------------------------------------------------------------
    def start_task(self, unit: Unit, message: Message, execution: Execution) -> None:
        stage = execution.stage(message.stage_id or "")
        task = stage.task(message.task_id or "") if stage else None
        if stage is None or task is None or task.status is not Status.NOT_STARTED or stage.status.is_complete:
            return
        task.status, task.start_time = Status.RUNNING, unit.now
        unit.event(execution, "TaskStarted", Status.RUNNING, stage, task.id)
        unit.push(Message(Kind.RUN_TASK, execution.id, stage.id, task.id))

    def run_task(self, unit: Unit, message: Message, execution: Execution) -> None:
        """Run an in-transaction task, or apply the result an external task produced (`message.data`)."""
        located = self._running_task(execution, message)
        if located is None:
            return
        stage, task = located
        precheck = self.task_precheck(unit, execution, stage, task)
        if precheck is not None:
            self._apply_result(unit, execution, stage, task, precheck)
            return
        if "result" in message.data:
            result = result_from_json(message.data["result"])
        elif self.registry.task(task.implementing_class).external:
            unit.push(Message(Kind.RUN_TASK, execution.id, stage.id, task.id), delay_ms=1)  # back to a worker thread
            return
        else:
            if not stage.is_synthetic:
                self.services.expressions.evaluate_stage(execution, stage)
            result = self.execute_task(self._task_context(unit, execution, stage), task)
        self._apply_result(unit, execution, stage, task, result)

    def _running_task(self, execution: Execution, message: Message) -> tuple[Stage, Task] | None:
        stage = execution.stage(message.stage_id or "")
        task = stage.task(message.task_id or "") if stage else None
        if stage is None or task is None or task.status is not Status.RUNNING:
            return None
        return stage, task

    def task_precheck(self, unit: Unit, execution: Execution, stage: Stage, task: Task) -> TaskResult | None:
        """What happens instead of running the task: cancel, pause, skip or timeout (orca.md §2.4 runTask)."""
        if execution.canceled or execution.status.is_complete:
            self._call_cancel_hook(unit, execution, stage, task)
            return TaskResult(Status.CANCELED)
        if execution.status is Status.PAUSED:
            return TaskResult(Status.PAUSED)
        if stage.context.get("manualSkip"):
            return TaskResult(Status.SKIPPED)
        return self.timeout(unit.now, execution, stage, task)

    def timeout(self, now: int, execution: Execution, stage: Stage, task: Task) -> TaskResult | None:
        """A result when the stage or the task has run out of time (orca.md §2.5), else None."""
        if task.implementing_class not in self.registry.tasks:
            return TaskResult.terminal(f"no task implementation named '{task.implementing_class}'")
        for remaining, reason in self._time_limits(now, execution, stage, task):
            if remaining < 0:
                return self._timed_out(stage, reason)
        return None

    def _time_limits(self, now: int, execution: Execution, stage: Stage, task: Task) -> list[tuple[int, str]]:
        """(ms left, reason once past) for the stage's and the task's time limits."""
        impl = self.registry.task(task.implementing_class)
        limits: list[tuple[int, str]] = []
        timed = next((s for s in [stage, *execution.ancestors_of_parent(stage)] if "stageTimeoutMs" in s.context), None)
        stage_limit = int(timed.context["stageTimeoutMs"]) if timed is not None else None
        if timed is not None and stage_limit is not None and stage.type != EXECUTION_WINDOW and timed.start_time:
            elapsed = now - timed.start_time - timed.paused_ms - self._window_wait_ms(execution, timed, now)
            limits.append(
                (
                    stage_limit - elapsed,
                    f"Stage {timed.name} timed out after {elapsed} ms (stageTimeoutMs={stage_limit})",
                )
            )
        task_limit = stage_limit if (impl.timeout_overridable and stage_limit is not None) else impl.timeout_ms
        if task_limit is not None and task.start_time is not None:
            elapsed = now - task.start_time - stage.paused_ms
            limits.append(
                (task_limit - elapsed, f"Task {task.name} timed out after {elapsed} ms (timeout {task_limit} ms)")
            )
        return limits

    @staticmethod
    def _window_wait_ms(execution: Execution, stage: Stage, now: int) -> int:
        """Time the stage spent waiting for its execution window, which its timeout does not count."""
        windows = [c for c in execution.children(stage, STAGE_BEFORE) if c.type == EXECUTION_WINDOW and c.start_time]
        return sum((w.end_time or now) - (w.start_time or now) for w in windows)

    @staticmethod
    def _timed_out(stage: Stage, reason: str) -> TaskResult:
        if stage.context.get("markSuccessfulOnTimeout"):
            return TaskResult(Status.SUCCEEDED)
        return TaskResult.terminal(reason)

    def execute_task(self, tc: TaskContext, task: Task) -> TaskResult:
        """Run a task, turning exceptions into a failed result that names the reason."""
        impl = self.registry.task(task.implementing_class)
        try:
            return impl.execute(tc)
        except StageFailure as exc:
            return TaskResult.terminal(str(exc))
        except Exception as exc:
            log.exception("task %s of %s raised", task.name, tc.execution.id)
            result = TaskResult.terminal(f"{type(exc).__name__}: {exc}")
            result.context["taskExceptionDetails"] = {
                "exceptionType": type(exc).__name__,
                "message": str(exc),
            }
            return result

    def _task_context(self, unit: Unit, execution: Execution, stage: Stage) -> TaskContext:
        return TaskContext(execution=execution, stage=stage, now=unit.now, services=self.services, conn=unit.conn)

    def _apply_result(self, unit: Unit, execution: Execution, stage: Stage, task: Task, result: TaskResult) -> None:
        details = result.context.pop("taskExceptionDetails", None)
        if details:
            task.task_exception_details = {"exception": details}
        stage.context.update(result.context)
        stage.outputs.update({k: v for k, v in result.outputs.items() if k != "stageTimeoutMs"})
        self._push_task_outcome(unit, execution, stage, task, result)

    def _push_task_outcome(
        self, unit: Unit, execution: Execution, stage: Stage, task: Task, result: TaskResult
    ) -> None:
        status = result.status
        if status is Status.PAUSED:
            unit.push(Message(Kind.PAUSE_TASK, execution.id, stage.id, task.id))
        elif status is Status.RUNNING:
            impl = self.registry.task(task.implementing_class)
            backoff = (
                result.backoff_ms
                if result.backoff_ms is not None
                else impl.dynamic_backoff_ms(self._task_context(unit, execution, stage))
            )
            floor = stage.context.get("backoffPeriodMs")
            if isinstance(floor, int | float):
                backoff = max(backoff, int(floor))
            # Poll again no later than the moment a time limit runs out, so timeouts land on time.
            for remaining, _ in self._time_limits(unit.now, execution, stage, task):
                backoff = min(backoff, max(1, remaining + 1))
            unit.push(Message(Kind.RUN_TASK, execution.id, stage.id, task.id), delay_ms=backoff)
        else:
            mapped = failure_status(stage, status) if status in (Status.TERMINAL, Status.CANCELED) else status
            unit.push(
                Message(
                    Kind.COMPLETE_TASK,
                    execution.id,
                    stage.id,
                    task.id,
                    data={"status": mapped, "originalStatus": status},
                )
            )

    def complete_task(self, unit: Unit, message: Message, execution: Execution) -> None:
        located = self._running_task(execution, message)
        if located is None:
            return
        stage, task = located
        status = Status(message.data["status"])
        task.status, task.end_time = status, unit.now
        unit.event(execution, "TaskComplete", status, stage, task.id)
        if stage.context.get("manualSkip"):
            unit.push(Message(Kind.SKIP_STAGE, execution.id, execution.top_level_ancestor(stage).id))
            return
        if status is Status.REDIRECT:
            self._redirect(unit, execution, stage, task)
            return
        index = stage.tasks.index(task)
        original = Status(message.data.get("originalStatus", status))
        if task.stage_end or (status.is_halt and original is not Status.FAILED_CONTINUE):
            unit.push(Message(Kind.COMPLETE_STAGE, execution.id, stage.id))
        else:
            unit.push(Message(Kind.START_TASK, execution.id, stage.id, stage.tasks[index + 1].id))

    def _redirect(self, unit: Unit, execution: Execution, stage: Stage, task: Task) -> None:
        """Restart the task loop that ends at `task` from its loopStart."""
        index = stage.tasks.index(task)
        start = next((i for i in range(index, -1, -1) if stage.tasks[i].loop_start), 0)
        for looped in stage.tasks[start : index + 1]:
            looped.status, looped.start_time, looped.end_time = Status.NOT_STARTED, None, None
        unit.push(Message(Kind.START_TASK, execution.id, stage.id, stage.tasks[start].id))

    def pause_task(self, unit: Unit, message: Message, execution: Execution) -> None:
        located = self._running_task(execution, message)
        if located is None or execution.status is not Status.PAUSED:
            if located is not None:  # resumed meanwhile: keep polling
                unit.push(Message(Kind.RUN_TASK, execution.id, located[0].id, located[1].id))
            return
        stage, task = located
        task.status = Status.PAUSED
        unit.touch(execution, *execution.ancestors_of_parent(stage))
        for owner in [stage, *execution.ancestors_of_parent(stage)]:
            if owner.status is Status.RUNNING:
                owner.status = Status.PAUSED


def result_to_json(result: TaskResult) -> dict[str, Any]:
    return {
        "status": result.status.value,
        "context": result.context,
        "outputs": result.outputs,
        "backoffMs": result.backoff_ms,
    }


def result_from_json(data: dict[str, Any]) -> TaskResult:
    return TaskResult(
        Status(data["status"]), data.get("context") or {}, data.get("outputs") or {}, data.get("backoffMs")
    )
