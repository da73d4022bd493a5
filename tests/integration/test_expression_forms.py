"""Expressions written both ways Orca accepts (`${…}` and bare) in conditions, and `#currentStage()` wherever a
stage is evaluated: the engine, `gennaker expr eval` and the API's testing endpoint (orca.md §1.2, §3.3, §4)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gennaker.cli.main import app
from gennaker.runtime import Runtime
from tests.api_support import as_user
from tests.support import pipeline, stage_statuses, wait_for, wait_status


def run(rt: Runtime, name: str, stages: list[dict[str, Any]], parameters: dict[str, Any], **extra: Any) -> dict:
    rt.save_pipeline(pipeline(name, stages, **{"spelEvaluator": "v4", **extra}), "tester")
    execution_id = rt.start_pipeline("demo", name, {"parameters": parameters}, "tester")
    return wait_status(rt, execution_id, "SUCCEEDED", "TERMINAL", "STOPPED", "CANCELED")


def statuses(execution: dict[str, Any]) -> dict[str, str]:
    return {s["refId"]: s["status"] for s in execution["stages"]}


def by_ref(execution: dict[str, Any], ref_id: str) -> dict[str, Any]:
    return next(s for s in execution["stages"] if s["refId"] == ref_id)


def error_of(stage: dict[str, Any]) -> str:
    return str(((stage["context"].get("exception") or {}).get("details") or {}).get("error"))


def gate(ref_id: str, expression: Any) -> dict[str, Any]:
    return {
        "refId": ref_id,
        "type": "wait",
        "waitTime": 0,
        "stageEnabled": {"type": "expression", "expression": expression},
    }


def precondition(expression: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "expression", "context": {"expression": expression, **extra}}


# -- checkPreconditions ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "expression",
    [
        "${parameters.env == 'prod'}",
        "parameters.env == 'prod'",
        " ${ parameters.env == 'prod' } ",
        "${parameters.env == 'prod' and trigger.parameters.size() > 0}",
    ],
)
def test_an_expression_precondition_gives_the_same_result_in_every_form(runtime: Runtime, expression: str) -> None:
    stages = [{"refId": "1", "type": "checkPreconditions", "preconditions": [precondition(expression)]}]
    passed = run(runtime, "check", stages, {"env": "prod"})
    assert passed["status"] == "SUCCEEDED", error_of(by_ref(passed, "1<1"))
    assert by_ref(passed, "1<1")["context"]["expressionResult"] is True

    failed = run(runtime, "check", stages, {"env": "dev"})
    assert failed["status"] == "TERMINAL"
    check = by_ref(failed, "1<1")
    assert check["context"]["expressionResult"] is False
    assert error_of(check).startswith("Expression check failed: ") and error_of(check).endswith(" was false")
    assert "${" not in error_of(check).split(" was ")[-1]


@pytest.mark.parametrize("value", [True, "true", "TRUE", "${true}", "${'true'}", "true == true"])
def test_a_precondition_already_true_passes(runtime: Runtime, value: Any) -> None:
    stages = [{"refId": "1", "type": "checkPreconditions", "preconditions": [precondition(value)]}]
    done = run(runtime, "literal", stages, {})
    assert done["status"] == "SUCCEEDED", error_of(by_ref(done, "1<1"))


@pytest.mark.parametrize("value", [False, "false", "${false}", None, "", "${nothing.here}", "no such thing ("])
def test_a_precondition_that_is_false_missing_or_broken_fails(runtime: Runtime, value: Any) -> None:
    stages = [{"refId": "1", "type": "checkPreconditions", "preconditions": [precondition(value)]}]
    done = run(runtime, "falsy", stages, {})
    assert done["status"] == "TERMINAL"
    assert error_of(by_ref(done, "1<1")).startswith("Expression check failed")


def test_an_evaluated_value_is_not_evaluated_again(runtime: Runtime) -> None:
    """`${parameters.code}` yields the text `trigger.x`; that result is not run as a second expression."""
    stages = [
        {"refId": "1", "type": "checkPreconditions", "preconditions": [precondition("${parameters.flag}")]},
        gate("2", "${parameters.flag}"),
    ]
    done = run(runtime, "once", stages, {"flag": "true"})
    assert done["status"] == "SUCCEEDED" and statuses(done)["2"] == "SUCCEEDED"
    assert by_ref(done, "1<1")["context"]["expressionResult"] is True


def test_a_precondition_failure_message_and_summary(runtime: Runtime) -> None:
    stages = [
        {
            "refId": "1",
            "type": "checkPreconditions",
            "preconditions": [
                precondition("${parameters.env == 'prod'}", failureMessage="only prod"),
                {**precondition("#stage('nope').status == 'SUCCEEDED'"), "failPipeline": False},
            ],
        }
    ]
    done = run(runtime, "messages", stages, {"env": "dev"})
    assert done["status"] == "TERMINAL"
    assert error_of(by_ref(done, "1<1")) == "only prod"
    broken = by_ref(done, "1<2")
    assert broken["status"] == "STOPPED"
    summary = broken["context"]["expressionEvaluationSummary"]
    assert any("Unable to locate [nope]" in e["description"] for entries in summary.values() for e in entries)


# -- stageEnabled ---------------------------------------------------------------------------------------
def test_stage_enabled_gives_the_same_result_in_every_form(runtime: Runtime) -> None:
    stages = [
        gate("templated-true", "${parameters.deploy == 'yes'}"),
        gate("bare-true", "parameters.deploy == 'yes'"),
        gate("templated-false", "${parameters.deploy == 'no'}"),
        gate("bare-false", "parameters.deploy == 'no'"),
        gate("boolean-true", True),
        gate("boolean-false", False),
        gate("text-true", "TRUE"),
        gate("composite", "${parameters.deploy} == 'yes'"),
        gate("broken", "${parameters.deploy == }"),
        gate("null", "${nothing.here}"),
        gate("not-boolean", "parameters.deploy"),
        gate("empty", ""),
    ]
    done = run(runtime, "gates", stages, {"deploy": "yes"})
    assert done["status"] == "SUCCEEDED"
    assert statuses(done) == {
        "templated-true": "SUCCEEDED",
        "bare-true": "SUCCEEDED",
        "templated-false": "SKIPPED",
        "bare-false": "SKIPPED",
        "boolean-true": "SUCCEEDED",
        "boolean-false": "SKIPPED",
        "text-true": "SUCCEEDED",
        "composite": "SKIPPED",  # evaluated once to the text "yes == 'yes'", which is not true
        "broken": "SKIPPED",
        "null": "SKIPPED",
        "not-boolean": "SKIPPED",
        "empty": "SUCCEEDED",
    }


def test_stage_enabled_in_a_v3_pipeline_evaluated_at_trigger_time(runtime: Runtime) -> None:
    stages = [gate("on", "${parameters.flag == 'on'}"), gate("off", "${parameters.flag == 'off'}")]
    done = run(runtime, "v3", stages, {"flag": "on"}, spelEvaluator="v3")
    assert statuses(done) == {"on": "SUCCEEDED", "off": "SKIPPED"}


def test_judgment_driven_branches_in_both_forms(runtime: Runtime) -> None:
    approve = {"refId": "1", "type": "manualJudgment", "name": "Approve", "judgmentInputs": [{"value": "Yes"}]}
    stages = [
        approve,
        {**gate("bare-yes", "#judgment('Approve') == 'Yes'"), "requisiteStageRefIds": ["1"]},
        {**gate("templated-yes", "${#judgment('Approve') == 'Yes'}"), "requisiteStageRefIds": ["1"]},
        {**gate("bare-no", "#judgement('Approve') == 'No'"), "requisiteStageRefIds": ["1"]},
        {**gate("templated-no", "${#judgment('Approve') == 'No'}"), "requisiteStageRefIds": ["1"]},
        {
            "refId": "check",
            "type": "checkPreconditions",
            "requisiteStageRefIds": ["1"],
            "preconditions": [precondition("${#judgment('Approve') == 'Yes'}"), precondition("#judgment('Approve')")],
        },
    ]
    for evaluator in ("v4", "v3"):
        name = f"judged-{evaluator}"
        runtime.save_pipeline(pipeline(name, stages, spelEvaluator=evaluator), "tester")
        execution_id = runtime.start_pipeline("demo", name, {}, "tester")
        wait_for(lambda execution_id=execution_id: stage_statuses(runtime, execution_id)["1"] == "RUNNING")
        runtime.operations.judge(execution_id, "1", "continue", "Yes", "tester")
        done = wait_status(runtime, execution_id, "SUCCEEDED", "TERMINAL")
        assert done["status"] == "TERMINAL", evaluator  # `#judgment('Approve')` alone is "Yes", not true
        found = statuses(done)
        assert {k: found[k] for k in ("bare-yes", "templated-yes", "bare-no", "templated-no")} == {
            "bare-yes": "SUCCEEDED",
            "templated-yes": "SUCCEEDED",
            "bare-no": "SKIPPED",
            "templated-no": "SKIPPED",
        }, evaluator
        assert found["check<1"] == "SUCCEEDED" and found["check<2"] == "TERMINAL", evaluator
        assert error_of(by_ref(done, "check<2")) == "Expression check failed: #judgment('Approve') was Yes"


# -- #currentStage() -------------------------------------------------------------------------------------
CURRENT_STAGE_PIPELINE = [
    {
        "refId": "1",
        "type": "evaluateVariables",
        "name": "Vars",
        "variables": [
            {"key": "myName", "value": "${#currentStage().name}"},
            {"key": "myRef", "value": "${#currentStage().refId}"},
            {"key": "myType", "value": "${#currentStage()['type']}"},
            {"key": "sameAsStage", "value": "${#currentStage().id == #stage('Vars').id}"},
        ],
    },
    {
        "refId": "2",
        "type": "wait",
        "name": "Pause",
        "waitTime": "${#currentStage().refId == '2' ? 0 : 99}",
        "comments": "I am ${#currentStage().name}, after ${#stage('Vars').outputs.myName}",
        "requisiteStageRefIds": ["1"],
        "stageEnabled": {"type": "expression", "expression": "#currentStage().name == 'Pause'"},
    },
    {
        "refId": "3",
        "type": "checkPreconditions",
        "name": "Check",
        "requisiteStageRefIds": ["1"],
        "preconditions": [precondition("#currentStage().type == 'checkPrecondition'")],
    },
]


def test_current_stage_while_stages_are_evaluated(runtime: Runtime) -> None:
    done = run(runtime, "current", CURRENT_STAGE_PIPELINE, {})
    assert done["status"] == "SUCCEEDED", [error_of(s) for s in done["stages"]]
    outputs = {"myName": "Vars", "myRef": "1", "myType": "evaluateVariables", "sameAsStage": True}
    assert by_ref(done, "1")["outputs"] == outputs
    pause = by_ref(done, "2")
    assert pause["status"] == "SUCCEEDED" and pause["context"]["waitTime"] == 0
    assert pause["context"]["comments"] == "I am Pause, after Vars"
    assert by_ref(done, "3<1")["status"] == "SUCCEEDED"


def test_current_stage_in_a_v3_pipeline_waits_for_the_stage(runtime: Runtime) -> None:
    """At trigger time there is no stage yet: the expression stays until the stage starts."""
    stages = [{"refId": "1", "type": "wait", "name": "Only", "waitTime": 0, "comments": "${#currentStage().name}"}]
    done = run(runtime, "current-v3", stages, {}, spelEvaluator="v3")
    assert by_ref(done, "1")["context"]["comments"] == "Only"


def test_current_stage_in_the_testing_endpoint(api: TestClient, runtime: Runtime) -> None:
    done = run(runtime, "current-api", CURRENT_STAGE_PIPELINE, {})
    pause = by_ref(done, "2")
    headers = as_user("admin")
    for stage_ref in (pause["id"], "2"):
        answer = api.get(
            f"/pipelines/{done['id']}/{stage_ref}/evaluateExpression",
            params={"expression": "#currentStage().name + '/' + #currentStage().status"},
            headers=headers,
        ).json()
        assert answer == {"result": "Pause/SUCCEEDED", "detail": None}
    without_stage = api.get(
        f"/pipelines/{done['id']}/evaluateExpression", params={"expression": "#currentStage().name"}, headers=headers
    ).json()
    assert without_stage["result"] == "${#currentStage().name}"
    assert "An execution context is required" in json.dumps(without_stage["detail"])


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("GENNAKER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENNAKER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("GENNAKER_DATABASE_URL", raising=False)
    return CliRunner()


def test_current_stage_in_expr_eval(cli: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "p.json"
    config.write_text(
        json.dumps({"application": "demo", "name": "p", "stages": [{"refId": "1", "type": "wait", "name": "Pause"}]})
    )
    assert cli.invoke(app, ["pipeline", "save", "-f", str(config)]).exit_code == 0
    execution_id = cli.invoke(app, ["pipeline", "execute", "demo", "p"]).stdout.strip()
    for stage_ref in ("Pause", "1"):
        template = "${#currentStage().name + #currentStage().refId}"
        result = cli.invoke(app, ["expr", "eval", template, "--execution", execution_id, "--stage", stage_ref])
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout) == "Pause1"
    unstaged = cli.invoke(app, ["expr", "eval", "${#currentStage().name}", "--execution", execution_id])
    assert unstaged.exit_code == 1 and "An execution context is required" in unstaged.stderr

    execution = {
        "id": "e1",
        "stages": [
            {"id": "s1", "refId": "1", "name": "First", "type": "wait", "context": {"waitTime": 3}},
            {"id": "s2", "refId": "2", "name": "Second", "type": "wait", "context": {"waitTime": 5}},
        ],
    }
    cases = tmp_path / "cases.json"
    cases.write_text(
        json.dumps(
            [
                {"context": {"execution": execution}, "stageRefId": "2", "expression": "${#currentStage().name}"},
                {
                    "context": {"execution": execution},
                    "stageRefId": "1",
                    "expression": "${#currentStage().context.waitTime + waitTime}",
                },
                {"context": {"execution": execution}, "expression": "${#currentStage().name}"},
            ]
        )
    )
    answers = json.loads(cli.invoke(app, ["expr", "eval", "--cases", str(cases)]).stdout)
    assert answers[:2] == [{"value": "Second"}, {"value": 6}]
    assert "An execution context is required" in answers[2]["error"]
