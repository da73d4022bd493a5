"""`wait`: pause for `waitTime` seconds, or until someone sends `skipRemainingWait` (orca.md §3.1)."""

from gennaker.engine.contracts import StageDefinition, Task, TaskContext, TaskResult
from gennaker.model.execution import Stage


class WaitStage(StageDefinition):
    type = "wait"

    def tasks(self, stage: Stage) -> list[str]:
        return [WaitTask.name]


class WaitTask(Task):
    name = "wait"

    def execute(self, tc: TaskContext) -> TaskResult:
        if tc.ctx.get("skipRemainingWait"):
            return TaskResult.succeeded()
        wait_ms = int(float(tc.ctx.get("waitTime") or 0) * 1000)
        started = tc.stage.start_time or tc.now
        remaining = started + wait_ms + tc.stage.paused_ms - tc.now
        if remaining <= 0:
            return TaskResult.succeeded()
        return TaskResult.running(backoff_ms=remaining)
