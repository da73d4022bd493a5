"""Evaluating an expression against a stored execution (Orca's testing endpoint), for the API and the
expression playground page."""

from __future__ import annotations

from typing import Any

from gennaker.engine.operations import find_stage
from gennaker.expressions import Expressions, execution_root, stage_root
from gennaker.model.execution import Execution


def evaluate_in(
    expressions: Expressions, execution: dict[str, Any], stage_ref: str | None, expression: str
) -> dict[str, Any]:
    """`{result, detail}` where detail is the evaluation summary (or null); `stage_ref` evaluates "as" that
    stage (its id or refId)."""
    if stage_ref is None:
        root: Any = execution_root(execution)
    else:
        stage = find_stage(Execution.from_json(execution), stage_ref)
        root = stage_root(execution, stage.to_json())
    template = expression if "${" in expression else "${" + expression + "}"
    processed = expressions.process(template, root)
    return {"result": processed.value, "detail": processed.summary or None}
