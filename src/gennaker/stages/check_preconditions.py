"""`checkPreconditions`: one parallel synthetic stage per precondition, each running one check (orca.md §3.3).

Kinds: `expression` (the expression must evaluate to true) and `stageStatus` (a named stage must be in a
given status). A precondition with `failPipeline: false` halts only its branch.
"""

from typing import Any

from gennaker.engine.contracts import (
    StageDefinition,
    StageFailure,
    SyntheticStage,
    Task,
    TaskContext,
    TaskResult,
)
from gennaker.model.execution import Stage
from gennaker.model.status import Status

CHECK_STAGE_TYPE = "checkPrecondition"


class CheckPreconditionsStage(StageDefinition):
    type = "checkPreconditions"

    def before_stages(self, stage: Stage) -> list[SyntheticStage]:
        parent_context = {k: v for k, v in stage.context.items() if k != "preconditions"}
        checks = []
        for precondition in stage.context.get("preconditions") or []:
            if not isinstance(precondition, dict) or not precondition.get("type"):
                raise StageFailure("every precondition needs a type")
            kind = str(precondition["type"])
            context: dict[str, Any] = {
                **parent_context,
                **{k: v for k, v in precondition.items() if k != "type"},
                "preconditionType": kind,
                "failPipeline": precondition.get("failPipeline", True),
            }
            checks.append(SyntheticStage(CHECK_STAGE_TYPE, f"Check precondition ({kind})", context))
        return checks


class CheckPreconditionStage(StageDefinition):
    """The synthetic child: runs the check its `preconditionType` names."""

    type = CHECK_STAGE_TYPE

    def tasks(self, stage: Stage) -> list[str]:
        kind = stage.context.get("preconditionType")
        if kind == "expression":
            return [ExpressionPreconditionTask.name]
        if kind == "stageStatus":
            return [StageStatusPreconditionTask.name]
        raise StageFailure(f"unsupported precondition type '{kind}' (supported: expression, stageStatus)")


class ExpressionPreconditionTask(Task):
    name = "checkPreconditionExpression"

    def execute(self, tc: TaskContext) -> TaskResult:
        config = tc.ctx.get("context") or {}
        expression = str(config.get("expression") or "false")
        result = tc.services.expressions.evaluate(tc.execution, tc.stage, expression)
        passed = str(result).lower() == "true"
        context = {"expressionResult": result if isinstance(result, str | int | float | bool) else str(result)}
        if passed:
            return TaskResult(Status.SUCCEEDED, context=context)
        message = config.get("failureMessage") or f"Expression check failed: {expression} was {result}"
        return TaskResult.terminal(str(message), **context)


class StageStatusPreconditionTask(Task):
    name = "checkPreconditionStageStatus"

    def execute(self, tc: TaskContext) -> TaskResult:
        config = tc.ctx.get("context") or {}
        name, wanted = config.get("stageName"), config.get("stageStatus")
        if not name or not wanted:
            raise StageFailure("stageName and stageStatus are both required for a stageStatus precondition")
        target = next((s for s in tc.execution.stages if s.name == name), None)
        actual = target.status.value if target else "missing"
        if actual == str(wanted):
            return TaskResult.succeeded()
        raise StageFailure(f"The status of stage {name} was asserted to be {wanted}, but was actually {actual}")
