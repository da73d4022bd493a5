"""`evaluateVariables`: publish `variables` as stage outputs so later stages can use `${key}` (orca.md §3.11).

The values are evaluated in order when the stage starts (by the expression evaluator); this task only
publishes them.
"""

from gennaker.engine.contracts import StageDefinition, Task, TaskContext, TaskResult
from gennaker.model.execution import Stage
from gennaker.stages.schemas import EvaluateVariablesContext


class EvaluateVariablesStage(StageDefinition):
    type = "evaluateVariables"
    context_schema = EvaluateVariablesContext

    def tasks(self, stage: Stage) -> list[str]:
        return [EvaluateVariablesTask.name]

    def prepare_for_restart(self, stage: Stage) -> None:
        stage.outputs.clear()
        for variable in stage.context.get("variables") or []:
            if isinstance(variable, dict) and "sourceValue" in variable:
                source = variable["sourceValue"]
                variable["value"] = source.replace("{", "${") if isinstance(source, str) else source


class EvaluateVariablesTask(Task):
    name = "evaluateVariables"

    def execute(self, tc: TaskContext) -> TaskResult:
        outputs = {
            str(v["key"]): v.get("value")
            for v in tc.ctx.get("variables") or []
            if isinstance(v, dict) and v.get("key") not in (None, "")
        }
        return TaskResult.succeeded(outputs=outputs)
