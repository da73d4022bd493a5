"""`gennaker expr eval`: evaluate `${…}` templates against a JSON context, a stored execution, or a list of cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from gennaker.cli.common import current_user, errors, fail, print_json, reports_errors
from gennaker.cli.local import LocalBackend
from gennaker.engine.operations import find_stage
from gennaker.expressions import Expressions, execution_root, has_errors, plain_root, stage_root
from gennaker.model.execution import Execution
from gennaker.settings import Settings

app = typer.Typer(help="Pipeline expressions.", no_args_is_help=True)


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None


def case_root(case: dict[str, Any]) -> Any:
    """A case's root: its context, or the named stage of `context.execution` (the conformance file's shape)."""
    context = case.get("context") or {}
    if not case.get("stageRefId"):
        return plain_root(context)
    execution = context.get("execution") or {}
    stage = next((s for s in execution.get("stages") or [] if str(s.get("refId")) == str(case["stageRefId"])), None)
    if stage is None:
        raise ValueError(f"no stage with refId {case['stageRefId']} in the case's execution")
    return stage_root(execution, stage)


def evaluate_cases(cases: list[Any]) -> list[dict[str, Any]]:
    expressions = Expressions()
    results: list[dict[str, Any]] = []
    for case in cases:
        try:
            processed = expressions.process(
                case["expression"], case_root(case), allow_unknown_keys=case.get("allowUnknownKeys", True)
            )
        except (KeyError, TypeError, ValueError) as exc:
            results.append({"error": f"bad case: {exc}"})
            continue
        failures = [
            e["description"] for entries in processed.summary.values() for e in entries if e["level"] == "ERROR"
        ]
        results.append({"error": failures[0]} if failures else {"value": processed.value})
    return results


def _execution_root(execution_id: str, stage_ref: str | None) -> Any:
    """The root of an execution (or of one of its stages) on the local database."""
    local = LocalBackend(Settings.from_env(), current_user())
    try:
        data = local.execution(execution_id)
    finally:
        local.close()
    if data is None:
        raise ValueError(f"execution {execution_id} not found")
    if stage_ref is None:
        return execution_root(data)
    stage = find_stage(Execution.from_json(data), stage_ref)
    return stage_root(data, stage.to_json())


@app.command("eval")
@reports_errors
def evaluate(
    template: str | None = typer.Argument(None, help="A template such as '${parameters.env}'"),
    context: Path | None = typer.Option(None, "--context", exists=True, dir_okay=False, help="JSON root"),
    execution: str | None = typer.Option(None, "--execution", help="Evaluate against this execution"),
    stage: str | None = typer.Option(None, "--stage", help="…as this stage (id, refId or name)"),
    cases: Path | None = typer.Option(None, "--cases", exists=True, dir_okay=False, help="A JSON list of cases"),
) -> None:
    """Print the result as JSON; on failure print the evaluation summary and exit 1."""
    if cases is not None:
        loaded = _load_json(cases)
        if not isinstance(loaded, list):
            raise fail(f"{cases} must hold a JSON list of cases")
        print_json(evaluate_cases(loaded))
        return
    if template is None:
        raise fail("give a TEMPLATE or --cases FILE")
    if stage is not None and execution is None:
        raise fail("--stage needs --execution")
    if execution is not None:
        root = _execution_root(execution, stage)
    else:
        root = plain_root(_load_json(context) if context else {})
    processed = Expressions().process(template, root)
    if has_errors(processed.summary):
        errors.print_json(json.dumps(processed.summary))
        raise typer.Exit(1)
    print_json(processed.value)
