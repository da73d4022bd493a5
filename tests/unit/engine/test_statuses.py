"""Stage and execution statuses (orca.md §1.2 "if stage fails", §2.7) on real runs."""

from __future__ import annotations

from gennaker.runtime import Runtime
from tests.support import pipeline, stage_statuses, wait_status


def branches(fail_options: dict) -> list[dict]:
    return [
        {"refId": "bad", "type": "testFail", "reason": "broken", **fail_options},
        {"refId": "slow", "type": "wait", "waitTime": 0.3},
        {"refId": "after-bad", "type": "wait", "waitTime": 0, "requisiteStageRefIds": ["bad"]},
        {"refId": "after-slow", "type": "wait", "waitTime": 0, "requisiteStageRefIds": ["slow"]},
    ]


def run(rt: Runtime, name: str, stages: list[dict]) -> tuple[dict, dict[str, str]]:
    rt.save_pipeline(pipeline(name, stages), "t")
    execution_id = rt.start_pipeline("demo", name, {}, "t")
    done = wait_status(rt, execution_id, "SUCCEEDED", "TERMINAL", "CANCELED", "STOPPED")
    return done, stage_statuses(rt, execution_id)


def test_halt_the_entire_pipeline_by_default(runtime: Runtime) -> None:
    done, statuses = run(runtime, "halt", branches({}))
    assert done["status"] == "TERMINAL"
    assert statuses["bad"] == "TERMINAL" and statuses["after-bad"] == "NOT_STARTED"
    assert statuses["slow"] in ("CANCELED", "SUCCEEDED")
    error = next(s for s in done["stages"] if s["refId"] == "bad")["context"]["exception"]["details"]["error"]
    assert error == "broken"


def test_halt_this_branch_lets_the_others_finish(runtime: Runtime) -> None:
    done, statuses = run(runtime, "branch", branches({"failPipeline": False}))
    assert statuses == {"bad": "STOPPED", "slow": "SUCCEEDED", "after-bad": "NOT_STARTED", "after-slow": "SUCCEEDED"}
    assert done["status"] == "SUCCEEDED"


def test_halt_branch_then_fail_once_other_branches_complete(runtime: Runtime) -> None:
    options = {"failPipeline": False, "completeOtherBranchesThenFail": True}
    done, statuses = run(runtime, "later", branches(options))
    assert statuses["after-slow"] == "SUCCEEDED" and statuses["bad"] == "STOPPED"
    assert done["status"] == "TERMINAL"


def test_ignore_the_failure(runtime: Runtime) -> None:
    done, statuses = run(runtime, "ignore", branches({"failPipeline": False, "continuePipeline": True}))
    assert statuses["bad"] == "FAILED_CONTINUE" and statuses["after-bad"] == "SUCCEEDED"
    assert done["status"] == "SUCCEEDED"


def test_disabled_stage_is_skipped_and_downstream_runs(runtime: Runtime) -> None:
    stages = [
        {"refId": "1", "type": "wait", "waitTime": 0, "stageEnabled": {"type": "expression", "expression": "false"}},
        {"refId": "2", "type": "wait", "waitTime": 0, "requisiteStageRefIds": ["1"]},
        {"refId": "3", "type": "wait", "waitTime": 0, "stageEnabled": {"type": "expression", "expression": "true"}},
    ]
    done, statuses = run(runtime, "optional", stages)
    assert statuses == {"1": "SKIPPED", "2": "SUCCEEDED", "3": "SUCCEEDED"} and done["status"] == "SUCCEEDED"


def test_stage_timeout_fails_and_mark_successful_on_timeout(runtime: Runtime) -> None:
    done, statuses = run(runtime, "timeout", [{"refId": "1", "type": "manualJudgment", "stageTimeoutMs": 200}])
    assert statuses["1"] == "TERMINAL" and done["status"] == "TERMINAL"
    assert "timed out" in done["stages"][0]["context"]["exception"]["details"]["error"]
    done, statuses = run(
        runtime,
        "lenient",
        [{"refId": "1", "type": "manualJudgment", "stageTimeoutMs": 200, "markSuccessfulOnTimeout": True}],
    )
    assert statuses["1"] == "SUCCEEDED" and done["status"] == "SUCCEEDED"


def test_a_pipeline_with_no_initial_stage_is_terminal(runtime: Runtime) -> None:
    done, _ = run(runtime, "empty", [])
    assert done["status"] == "TERMINAL"
