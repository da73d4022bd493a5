"""`pipeline`: run another pipeline as a child and, by default, wait for it (orca.md §3.10).

The child's start happens in the same transaction that records `executionId`, so a retried task never
starts a second child; a correlation id guards the same across restarts. A finishing child wakes this
stage's monitor at once instead of waiting for its next poll.
"""

from typing import Any

from gennaker.engine.contracts import (
    Cancellation,
    EngineServices,
    StageDefinition,
    StageFailure,
    Task,
    TaskContext,
    TaskResult,
    exception_details,
)
from gennaker.model.execution import Execution, Stage
from gennaker.model.status import CONTINUABLE, Status
from gennaker.stages.schemas import PipelineContext

MONITOR_TIMEOUT_MS = 12 * 3600 * 1000


def waits_for_completion(stage: Stage) -> bool:
    value = stage.context.get("waitForCompletion", True)
    return not (value is False or str(value).lower() == "false")


class PipelineStage(StageDefinition):
    type = "pipeline"
    context_schema = PipelineContext

    def tasks(self, stage: Stage) -> list[str]:
        return (
            [StartPipelineTask.name, MonitorPipelineTask.name]
            if waits_for_completion(stage)
            else [StartPipelineTask.name]
        )

    def can_manually_skip(self, stage: Stage) -> bool:
        return bool(stage.context.get("skippable"))

    def prepare_for_restart(self, stage: Stage) -> None:
        if not stage.context.pop("_skipPipelineRestart", False):
            stage.context.pop("executionId", None)
            stage.context.pop("executionName", None)
        stage.outputs.clear()

    def cancel(self, execution: Execution, stage: Stage, services: EngineServices) -> Cancellation:
        """The child execution goes down with its parent stage."""
        child = stage.context.get("executionId")
        return Cancellation((str(child),), "parent stage canceled") if child else Cancellation()


class StartPipelineTask(Task):
    name = "startPipeline"

    def execute(self, tc: TaskContext) -> TaskResult:
        if tc.ctx.get("executionId"):
            return TaskResult.succeeded()
        if not tc.ctx.get("pipeline"):
            raise StageFailure("the pipeline stage needs 'pipeline' (the child pipeline config id)")
        if tc.services.start_child is None or tc.conn is None:
            raise StageFailure("child pipelines cannot be started in this process")
        parameters = tc.ctx.get("pipelineParameters") or {}
        child_id = tc.services.start_child(tc.conn, tc.execution, tc.stage, parameters)
        return TaskResult.succeeded(context={"executionId": child_id, "executionName": tc.ctx.get("pipeline")})


class MonitorPipelineTask(Task):
    name = "monitorPipeline"
    backoff_ms = 15_000
    timeout_ms = MONITOR_TIMEOUT_MS
    timeout_overridable = True

    def execute(self, tc: TaskContext) -> TaskResult:
        assert tc.services.read_execution is not None and tc.conn is not None
        child = tc.services.read_execution(tc.conn, str(tc.ctx["executionId"]))
        if child is None:
            raise StageFailure(f"child execution {tc.ctx['executionId']} no longer exists")
        status = Status(child["status"])
        context: dict[str, Any] = {"status": status.value}
        outputs = {} if tc.ctx.get("skipDownstreamOutput") else merged_outputs(child)
        if status is Status.SUCCEEDED:
            return TaskResult(Status.SUCCEEDED, context, outputs)
        if status is Status.CANCELED:
            return TaskResult(Status.CANCELED, context, outputs)
        if status.is_halt:
            errors = child_errors(child) or [f"child pipeline {status.value}"]
            return TaskResult(Status.TERMINAL, {**context, "exception": exception_details(errors[0], errors)}, outputs)
        return TaskResult(Status.RUNNING, context)


def merged_outputs(execution: dict[str, Any]) -> dict[str, Any]:
    """Outputs of all stages in topological order; later values win, lists are concatenated."""
    merged: dict[str, Any] = {}
    for stage in topological(execution.get("stages") or []):
        for key, value in (stage.get("outputs") or {}).items():
            if isinstance(value, list) and isinstance(merged.get(key), list):
                merged[key] = merged[key] + [v for v in value if v not in merged[key]]
            else:
                merged[key] = value
    return merged


def topological(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    top = [s for s in stages if not s.get("parentStageId")]
    done: set[str] = set()
    ordered: list[dict[str, Any]] = []
    while len(ordered) < len(top):
        ready = [s for s in top if s["refId"] not in done and set(s.get("requisiteStageRefIds") or []) <= done]
        if not ready:
            raise StageFailure("Invalid stage relationships found")
        for stage in ready:
            done.add(stage["refId"])
            ordered.append(stage)
    return ordered


def child_errors(execution: dict[str, Any]) -> list[str]:
    errors = []
    for stage in execution.get("stages") or []:
        if Status(stage["status"]) in CONTINUABLE or stage["status"] in ("NOT_STARTED", "RUNNING"):
            continue
        details = ((stage.get("context") or {}).get("exception") or {}).get("details") or {}
        for message in details.get("errors") or ([details["error"]] if details.get("error") else []):
            errors.append(f"Exception in child pipeline stage ({execution.get('name')}: {stage['name']}): {message}")
    return errors
