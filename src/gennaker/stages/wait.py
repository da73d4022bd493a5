"""`wait`: pause for `waitTime` seconds, or until someone sends `skipRemainingWait` (orca.md §3.1)."""

from gennaker.engine.contracts import StageDefinition, StageFailure, Task, TaskContext, TaskResult
from gennaker.model.execution import Stage
from gennaker.model.pipeline import number_problem
from gennaker.stages.schemas import WAIT_TIME_S, WaitContext


class WaitStage(StageDefinition):
    type = "wait"
    context_schema = WaitContext

    def tasks(self, stage: Stage) -> list[str]:
        return [WaitTask.name]


class WaitTask(Task):
    name = "wait"

    def execute(self, tc: TaskContext) -> TaskResult:
        if tc.ctx.get("skipRemainingWait"):
            return TaskResult.succeeded()
        wait_time = tc.ctx.get("waitTime") or 0
        problem = number_problem(wait_time, WAIT_TIME_S, expressions=False)
        if problem:
            raise StageFailure(f"waitTime {problem}")
        wait_ms = int(float(wait_time) * 1000)
        started = tc.stage.start_time or tc.now
        remaining = started + wait_ms + tc.stage.paused_ms - tc.now
        if remaining <= 0:
            return TaskResult.succeeded()
        return TaskResult.running(backoff_ms=remaining)
