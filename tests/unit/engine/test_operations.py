"""Cancel, pause, resume, restart, skip and judge (orca.md §2.8) on running executions."""

from __future__ import annotations

import pytest

from gennaker.engine.launcher import LaunchError
from gennaker.engine.operations import OperationError
from gennaker.runtime import Runtime
from tests.support import PollTask, execution, pipeline, stage_statuses, wait_for, wait_status


def start(rt: Runtime, name: str, stages: list[dict], parameters: dict | None = None, **config: object) -> str:
    rt.save_pipeline(pipeline(name, stages, **config), "t")
    return rt.start_pipeline("demo", name, {"parameters": parameters or {}}, "t")


def test_cancel_calls_the_running_tasks_cancel_hook(runtime: Runtime) -> None:
    PollTask.cancelled.clear()
    execution_id = start(runtime, "polling", [{"refId": "1", "type": "testPoll", "polls": 10_000}])
    wait_for(lambda: stage_statuses(runtime, execution_id)["1"] == "RUNNING")
    runtime.operations.cancel(execution_id, "alice", "no longer needed")
    done = wait_status(runtime, execution_id, "CANCELED")
    assert done["canceledBy"] == "alice" and done["cancellationReason"] == "no longer needed"
    assert stage_statuses(runtime, execution_id) == {"1": "CANCELED"}
    assert done["stages"][0]["tasks"][0]["status"] == "CANCELED"
    assert PollTask.cancelled == [done["stages"][0]["id"]]
    with pytest.raises(OperationError):
        runtime.operations.cancel(execution_id, "alice")


def test_pause_and_resume(runtime: Runtime) -> None:
    execution_id = start(runtime, "pausable", [{"refId": "1", "type": "wait", "waitTime": 0.4}])
    wait_for(lambda: stage_statuses(runtime, execution_id)["1"] == "RUNNING")
    runtime.operations.pause(execution_id, "bob")
    wait_for(lambda: stage_statuses(runtime, execution_id)["1"] == "PAUSED", what="the stage to pause")
    paused = execution(runtime, execution_id)
    assert paused["status"] == "PAUSED" and paused["paused"]["pausedBy"] == "bob"
    assert paused["stages"][0]["tasks"][0]["status"] == "PAUSED"
    with pytest.raises(OperationError):
        runtime.operations.pause(execution_id, "bob")
    runtime.operations.resume(execution_id, "carol")
    done = wait_status(runtime, execution_id, "SUCCEEDED")
    assert done["paused"]["resumedBy"] == "carol" and done["paused"]["pausedMs"] >= 0


def test_restart_reruns_the_stage_and_everything_downstream(runtime: Runtime) -> None:
    stages = [
        {"refId": "1", "type": "wait", "waitTime": 0},
        {"refId": "2", "type": "testFail", "reason": "flaky", "requisiteStageRefIds": ["1"]},
        {
            "refId": "3",
            "type": "evaluateVariables",
            "variables": [{"key": "done", "value": "yes"}],
            "requisiteStageRefIds": ["2"],
        },
    ]
    execution_id = start(runtime, "flaky", stages)
    wait_status(runtime, execution_id, "TERMINAL")
    runtime.operations.patch_stage(execution_id, "2", {"succeed": True}, "dave")
    with pytest.raises(OperationError):
        runtime.operations.pause(execution_id, "dave")
    runtime.operations.restart_stage(execution_id, "2", "dave")
    done = wait_status(runtime, execution_id, "SUCCEEDED")
    restarted = next(s for s in done["stages"] if s["refId"] == "2")
    assert restarted["context"]["restartDetails"]["restartedBy"] == "dave"
    assert restarted["context"]["restartDetails"]["previousException"]["details"]["error"] == "flaky"
    assert next(s for s in done["stages"] if s["refId"] == "3")["outputs"] == {"done": "yes"}
    assert next(s for s in done["stages"] if s["refId"] == "1")["status"] == "SUCCEEDED"


def test_skip_the_remaining_wait(runtime: Runtime) -> None:
    execution_id = start(runtime, "long-wait", [{"refId": "1", "type": "wait", "waitTime": 3600}])
    wait_for(lambda: stage_statuses(runtime, execution_id)["1"] == "RUNNING")
    runtime.operations.patch_stage(execution_id, "1", {"skipRemainingWait": True}, "erin")
    assert wait_status(runtime, execution_id, "SUCCEEDED")["stages"][0]["lastModified"]["user"] == "erin"


def test_manual_skip_only_where_the_stage_allows_it(runtime: Runtime) -> None:
    runtime.save_pipeline(pipeline("child", [{"refId": "1", "type": "manualJudgment"}]), "t")
    with runtime.db.read() as conn:
        child_id = runtime.pipelines.get_by_name(conn, "demo", "child")["id"]  # type: ignore[index]
    stages = [
        {"refId": "1", "type": "pipeline", "pipeline": child_id, "skippable": True},
        {"refId": "2", "type": "wait", "waitTime": 0, "requisiteStageRefIds": ["1"]},
    ]
    execution_id = start(runtime, "parent", stages)
    wait_for(lambda: stage_statuses(runtime, execution_id)["1"] == "RUNNING")
    runtime.operations.patch_stage(execution_id, "1", {"manualSkip": True}, "frank")
    done = wait_status(runtime, execution_id, "SUCCEEDED")
    assert stage_statuses(runtime, execution_id) == {"1": "SKIPPED", "2": "SUCCEEDED"}
    judge_id = start(runtime, "judge", [{"refId": "1", "type": "manualJudgment"}])
    wait_for(lambda: stage_statuses(runtime, judge_id)["1"] == "RUNNING")
    with pytest.raises(OperationError, match="cannot be skipped"):
        runtime.operations.patch_stage(judge_id, "1", {"manualSkip": True}, "frank")
    assert done["status"] == "SUCCEEDED"


def test_judgments_continue_stop_and_stop_on_a_branch(runtime: Runtime) -> None:
    judged = start(runtime, "go", [{"refId": "1", "type": "manualJudgment", "judgmentInputs": [{"value": "ship"}]}])
    wait_for(lambda: stage_statuses(runtime, judged)["1"] == "RUNNING")
    runtime.operations.judge(judged, "1", "continue", "ship", "gina")
    stage = wait_status(runtime, judged, "SUCCEEDED")["stages"][0]
    assert stage["context"]["judgedBy"] == "gina" and stage["context"]["judgmentInput"] == "ship"
    stopped = start(runtime, "stop", [{"refId": "1", "type": "manualJudgment"}])
    wait_for(lambda: stage_statuses(runtime, stopped)["1"] == "RUNNING")
    runtime.operations.judge(stopped, "1", "STOP", None, "gina")
    assert wait_status(runtime, stopped, "TERMINAL")["stages"][0]["status"] == "TERMINAL"
    branch = start(runtime, "branch-stop", [{"refId": "1", "type": "manualJudgment", "failPipeline": False}])
    wait_for(lambda: stage_statuses(runtime, branch)["1"] == "RUNNING")
    runtime.operations.judge(branch, "1", "stop", None, "gina")
    assert wait_status(runtime, branch, "SUCCEEDED")["stages"][0]["status"] == "STOPPED"
    with pytest.raises(OperationError, match="continue' or 'stop"):
        runtime.operations.judge(branch, "1", "maybe", None, "gina")


def test_parameters_defaults_required_and_options(runtime: Runtime) -> None:
    params = [
        {"name": "env", "default": "staging", "hasOptions": True, "options": [{"value": "staging"}, {"value": "prod"}]},
        {"name": "note", "default": "hello"},
        {"name": "ticket", "required": True},
    ]
    runtime.save_pipeline(pipeline("params", [{"refId": "1", "type": "wait"}], parameterConfig=params), "t")
    execution_id = runtime.start_pipeline("demo", "params", {"parameters": {"note": "", "ticket": "T-1"}}, "t")
    assert execution(runtime, execution_id)["trigger"]["parameters"] == {"env": "staging", "note": "", "ticket": "T-1"}
    with pytest.raises(LaunchError) as missing:
        runtime.start_pipeline("demo", "params", {"parameters": {}}, "t")
    assert [e.field for e in missing.value.errors] == ["parameters.ticket"]
    with pytest.raises(LaunchError, match="not one of"):
        runtime.start_pipeline("demo", "params", {"parameters": {"ticket": "T", "env": "moon"}}, "t")


def test_preconditions_expression_and_stage_status(runtime: Runtime) -> None:
    stages = [
        {"refId": "1", "type": "wait", "waitTime": 0, "name": "First"},
        {
            "refId": "2",
            "type": "checkPreconditions",
            "requisiteStageRefIds": ["1"],
            "preconditions": [
                {"type": "expression", "context": {"expression": "true"}},
                {"type": "stageStatus", "context": {"stageName": "First", "stageStatus": "SUCCEEDED"}},
            ],
        },
    ]
    passed = start(runtime, "checks", stages)
    assert wait_status(runtime, passed, "SUCCEEDED", "TERMINAL")["status"] == "SUCCEEDED"
    failing = [
        {"refId": "1", "type": "wait", "waitTime": 0, "name": "First"},
        {
            "refId": "2",
            "type": "checkPreconditions",
            "requisiteStageRefIds": ["1"],
            "preconditions": [
                {"type": "stageStatus", "context": {"stageName": "First", "stageStatus": "TERMINAL"}},
            ],
        },
    ]
    failed = wait_status(runtime, start(runtime, "checks-fail", failing), "TERMINAL")
    child = next(s for s in failed["stages"] if s.get("parentStageId"))
    assert child["name"] == "Check precondition (stageStatus)"
    assert child["context"]["exception"]["details"]["error"] == (
        "The status of stage First was asserted to be TERMINAL, but was actually SUCCEEDED"
    )
    soft = [
        {
            "refId": "1",
            "type": "checkPreconditions",
            "preconditions": [{"type": "expression", "context": {"expression": "false"}, "failPipeline": False}],
        }
    ]
    assert wait_status(runtime, start(runtime, "soft", soft), "SUCCEEDED")["stages"][0]["status"] == "STOPPED"


def test_evaluate_variables_publishes_outputs(runtime: Runtime) -> None:
    stages = [
        {"refId": "1", "type": "evaluateVariables", "variables": [{"key": "a", "value": "1"}, {"key": "b", "value": 2}]}
    ]
    done = wait_status(runtime, start(runtime, "vars", stages), "SUCCEEDED")
    assert done["stages"][0]["outputs"] == {"a": "1", "b": 2}
