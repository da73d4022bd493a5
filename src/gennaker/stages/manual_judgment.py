"""`manualJudgment`: wait until a person chooses continue or stop (orca.md §3.2).

The judgment arrives by patching the stage context (`judgmentStatus`, `judgmentInput`), which also makes
this task poll at once; the 15 s poll is only a fallback.
"""

from gennaker.engine.contracts import StageDefinition, Task, TaskContext, TaskResult
from gennaker.model.execution import Stage
from gennaker.model.status import Status
from gennaker.stages.schemas import ManualJudgmentContext

THREE_DAYS_MS = 3 * 24 * 3600 * 1000


class ManualJudgmentStage(StageDefinition):
    type = "manualJudgment"
    context_schema = ManualJudgmentContext

    def tasks(self, stage: Stage) -> list[str]:
        return [WaitForJudgmentTask.name]

    def prepare_for_restart(self, stage: Stage) -> None:
        for key in ("judgmentStatus", "judgmentInput", "lastModifiedBy"):
            stage.context.pop(key, None)


class WaitForJudgmentTask(Task):
    name = "waitForJudgment"
    backoff_ms = 15_000
    timeout_ms = THREE_DAYS_MS
    timeout_overridable = True

    def execute(self, tc: TaskContext) -> TaskResult:
        judgment = str(tc.ctx.get("judgmentStatus") or "").lower()
        judged = {
            "judgedBy": tc.ctx.get("lastModifiedBy"),
            "judgedAt": (tc.stage.last_modified or {}).get("lastModifiedTime"),
        }
        if judgment == "continue":
            return TaskResult(Status.SUCCEEDED, context=judged)
        if judgment == "stop":
            by = judged["judgedBy"] or "someone"
            result = TaskResult.terminal(f"Stopped by {by} at manual judgment", **judged)
            return result
        return TaskResult.running()
