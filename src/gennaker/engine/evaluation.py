"""The engine's use of the expression language (orca.md §4.1): stage contexts at stage start and before
every task run, `stageEnabled`, preconditions, `evaluateVariables` in sequence, and trigger-time
evaluation of v3 pipelines.
"""

from __future__ import annotations

from typing import Any

from gennaker.engine.contracts import ExpressionEvaluator
from gennaker.expressions import Expressions, Summary, merge, plain_root, stage_root
from gennaker.model.execution import Execution, Stage

SUMMARY_KEY = "expressionEvaluationSummary"


def has_template(value: Any) -> bool:
    """Whether any string or key in `value` holds `${` (a cheap check before building a root)."""
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(has_template(k) or has_template(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_template(v) for v in value)
    return False


class PipelineExpressions(ExpressionEvaluator):
    def __init__(self, expressions: Expressions):
        self.expressions = expressions

    def evaluate_stage(self, execution: Execution, stage: Stage) -> None:
        context = stage.context
        if context.get("skipExpressionEvaluation") is True or not has_template(
            {k: v for k, v in context.items() if k != SUMMARY_KEY}
        ):
            return
        root = stage_root(execution.to_json(), stage.to_json(), v4=execution.spel_evaluator != "v3")
        rest = {k: v for k, v in context.items() if k not in (SUMMARY_KEY, "variables")}
        processed = self.expressions.process(rest, root)
        summary: Summary = processed.summary
        new_context: dict[str, Any] = processed.value
        if "variables" in context:
            if stage.type == "evaluateVariables" and execution.spel_evaluator != "v3":
                variables, variable_summary = self.expressions.evaluate_variables(
                    list(context["variables"] or []), root
                )
                new_context["variables"] = variables
                merge(summary, variable_summary)
            else:
                variables_processed = self.expressions.process(context["variables"], root)
                new_context["variables"] = variables_processed.value
                merge(summary, variables_processed.summary)
        previous = context.get(SUMMARY_KEY) or {}
        kept = {k: v for k, v in previous.items() if k in summary or has_template_for(k, new_context)}
        merged = merge(kept, summary)
        if merged:
            new_context[SUMMARY_KEY] = merged
        stage.context = new_context

    def stage_enabled(self, execution: Execution, stage: Stage, expression: Any) -> bool:
        """Bare or `${…}` text is evaluated; a value the stage start already evaluated is used as it is."""
        return self.expressions.stage_enabled(expression, stage_root(execution.to_json(), stage.to_json()))

    def evaluate(self, execution: Execution, stage: Stage, expression: Any) -> Any:
        """A precondition's expression, bare or `${…}`, or a value already evaluated (returned unchanged); a
        failure gives the template text (which is not `true`) and a summary entry."""
        if not isinstance(expression, str):
            return expression
        processed = self.expressions.condition(expression, stage_root(execution.to_json(), stage.to_json()))
        if processed.summary:
            stage.context[SUMMARY_KEY] = merge(dict(stage.context.get(SUMMARY_KEY) or {}), processed.summary)
        return processed.value

    def evaluate_value(self, execution: Execution, stage: Stage, value: Any) -> tuple[Any, dict[str, Any]]:
        if not has_template(value):
            return value, {}
        processed = self.expressions.process(value, stage_root(execution.to_json(), stage.to_json()))
        return processed.value, dict(processed.summary)


def has_template_for(expression: str, context: dict[str, Any]) -> bool:
    """An older summary entry stays only while its expression is still unresolved in the context."""
    needle = "${" + expression
    found = False

    def visit(value: Any) -> None:
        nonlocal found
        if found:
            return
        if isinstance(value, str) and needle in value.replace("${ ", "${"):
            found = True
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(key)
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(context)
    return found


def evaluate_at_trigger(expressions: Expressions, config: dict[str, Any], trigger: dict[str, Any]) -> dict[str, Any]:
    """v3 pipelines evaluate their stages when triggered, unknown keys forbidden; what cannot resolve yet stays."""
    if config.get("spelEvaluator") not in (None, "v3") or not has_template(config.get("stages")):
        return config
    root = plain_root({"trigger": trigger, "templateVariables": config.get("templateVariables") or {}})
    stages = [expressions.process(stage, root, allow_unknown_keys=False).value for stage in config.get("stages") or []]
    return {**config, "stages": stages}
