"""Expressions inside running pipelines (issue 3, item 5; orca.md §4.1)."""

from __future__ import annotations

from gennaker.runtime import Runtime
from tests.support import pipeline, stage_statuses, wait_for, wait_status


def run(rt: Runtime, name: str, stages: list[dict], parameters: dict | None = None, **config: object) -> dict:
    rt.save_pipeline(pipeline(name, stages, spelEvaluator=config.pop("spelEvaluator", "v4"), **config), "t")
    return wait_status(
        rt, rt.start_pipeline("demo", name, {"parameters": parameters or {}}, "t"), "SUCCEEDED", "TERMINAL"
    )


def test_variables_flow_downstream_and_later_variables_see_earlier_ones(runtime: Runtime) -> None:
    stages = [
        {
            "refId": "1",
            "type": "evaluateVariables",
            "variables": [{"key": "a", "value": "${10}"}, {"key": "b", "value": "${a * 24}"}],
        },
        {
            "refId": "2",
            "type": "wait",
            "waitTime": "${a - 10}",
            "comments": "b is ${b} for ${parameters.env}",
            "requisiteStageRefIds": ["1"],
        },
    ]
    done = run(runtime, "vars", stages, {"env": "prod"})
    assert done["status"] == "SUCCEEDED"
    assert done["stages"][0]["outputs"] == {"a": 10, "b": 240}
    assert done["stages"][1]["context"]["waitTime"] == 0
    assert done["stages"][1]["context"]["comments"] == "b is 240 for prod"


def test_stage_enabled_and_preconditions_use_expressions(runtime: Runtime) -> None:
    stages = [
        {
            "refId": "1",
            "type": "wait",
            "waitTime": 0,
            "stageEnabled": {"type": "expression", "expression": "parameters.deploy == 'yes'"},
        },
        {
            "refId": "2",
            "type": "checkPreconditions",
            "preconditions": [{"type": "expression", "context": {"expression": "parameters.deploy == 'no'"}}],
        },
    ]
    done = run(runtime, "conditional", stages, {"deploy": "no"})
    assert done["status"] == "SUCCEEDED"
    assert {s["refId"]: s["status"] for s in done["stages"]}["1"] == "SKIPPED"
    failing = run(runtime, "conditional-fail", stages, {"deploy": "maybe"})
    assert failing["status"] == "TERMINAL"
    check = next(s for s in failing["stages"] if s["refId"] == "2<1")
    assert check["context"]["expressionResult"] is False


def test_judgment_input_drives_a_later_stage(runtime: Runtime) -> None:
    stages = [
        {"refId": "1", "type": "manualJudgment", "name": "Approve", "judgmentInputs": [{"value": "rollback"}]},
        {
            "refId": "2",
            "type": "wait",
            "waitTime": 0,
            "requisiteStageRefIds": ["1"],
            "stageEnabled": {"type": "expression", "expression": "#judgment('Approve') == 'rollback'"},
        },
    ]
    runtime.save_pipeline(pipeline("judged", stages, spelEvaluator="v4"), "t")
    execution_id = runtime.start_pipeline("demo", "judged", {}, "t")
    wait_for(lambda: stage_statuses(runtime, execution_id)["1"] == "RUNNING")
    runtime.operations.judge(execution_id, "1", "continue", "rollback", "t")
    assert wait_status(runtime, execution_id, "SUCCEEDED")["stages"][1]["status"] == "SUCCEEDED"


def test_failures_are_summarised_and_fail_on_failed_expressions(runtime: Runtime) -> None:
    soft = run(runtime, "soft", [{"refId": "1", "type": "wait", "waitTime": 0, "note": "${nothing.here}"}])
    assert soft["status"] == "SUCCEEDED"
    entry = soft["stages"][0]["context"]["expressionEvaluationSummary"]["nothing.here"][0]
    assert entry["level"] == "ERROR" and entry["description"].startswith("Failed to evaluate [note]")
    assert soft["stages"][0]["context"]["exception"]["details"]["errors"]
    strict = run(
        runtime,
        "strict",
        [{"refId": "1", "type": "wait", "waitTime": 0, "note": "${nothing.here}", "failOnFailedExpressions": True}],
    )
    assert strict["status"] == "TERMINAL" and strict["stages"][0]["status"] == "TERMINAL"


def test_skip_expression_evaluation(runtime: Runtime) -> None:
    done = run(
        runtime,
        "raw",
        [{"refId": "1", "type": "wait", "waitTime": 0, "skipExpressionEvaluation": True, "template": "${keep.me}"}],
    )
    assert done["stages"][0]["context"]["template"] == "${keep.me}"
    assert "expressionEvaluationSummary" not in done["stages"][0]["context"]


def test_v3_evaluates_stages_at_trigger_time_with_unknown_keys_forbidden(runtime: Runtime) -> None:
    stages = [
        {"refId": "1", "type": "evaluateVariables", "variables": [{"key": "a", "value": "${trigger.parameters.env}"}]},
        {"refId": "2", "type": "wait", "waitTime": 0, "seen": "${a}", "requisiteStageRefIds": ["1"]},
    ]
    done = run(runtime, "classic", stages, {"env": "qa"}, spelEvaluator="v3")
    assert done["stages"][0]["outputs"] == {"a": "qa"}
    assert done["stages"][1]["context"]["seen"] == "qa"  # unresolved at trigger time, resolved at stage start
