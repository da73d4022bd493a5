"""Concurrency limits (orca.md §2.9), execution windows (§3.16), child pipelines (§3.10), dead messages (§2.10)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import gennaker.engine.worker as worker_module
from gennaker.engine.handlers import Handlers
from gennaker.engine.messages import Message
from gennaker.runtime import Runtime
from gennaker.stages.execution_window import deck_day, next_allowed
from tests.support import execution, make_runtime, pipeline, stage_statuses, wait_for, wait_status

JUDGE = [{"refId": "1", "type": "manualJudgment"}]


def statuses(rt: Runtime, ids: list[str]) -> list[str]:
    return [execution(rt, i)["status"] for i in ids]


def judge(rt: Runtime, execution_id: str) -> None:
    """Continue the execution's judgment once it waits for one (the execution runs before its stage does)."""
    wait_for(lambda: stage_statuses(rt, execution_id).get("1") == "RUNNING", what="the judgment to wait")
    rt.operations.judge(execution_id, "1", "continue", None, "t")


def test_limit_concurrent_runs_only_the_newest_waiting_one(runtime: Runtime) -> None:
    runtime.save_pipeline(pipeline("one-at-a-time", JUDGE, limitConcurrent=True, keepWaitingPipelines=False), "t")
    ids = [runtime.start_pipeline("demo", "one-at-a-time", {}, "t") for _ in range(3)]
    wait_for(lambda: statuses(runtime, ids) == ["RUNNING", "NOT_STARTED", "NOT_STARTED"], what="one running")
    judge(runtime, ids[0])
    wait_for(lambda: statuses(runtime, ids) == ["SUCCEEDED", "CANCELED", "RUNNING"], what="newest to start")
    assert "superceded" in execution(runtime, ids[1])["cancellationReason"]


def test_keep_waiting_pipelines_run_in_order(runtime: Runtime) -> None:
    runtime.save_pipeline(pipeline("queue", JUDGE, limitConcurrent=True, keepWaitingPipelines=True), "t")
    ids = [runtime.start_pipeline("demo", "queue", {}, "t") for _ in range(3)]
    wait_for(lambda: statuses(runtime, ids) == ["RUNNING", "NOT_STARTED", "NOT_STARTED"])
    judge(runtime, ids[0])
    wait_for(lambda: statuses(runtime, ids) == ["SUCCEEDED", "RUNNING", "NOT_STARTED"], what="second to start")
    judge(runtime, ids[1])
    wait_for(lambda: statuses(runtime, ids) == ["SUCCEEDED", "SUCCEEDED", "RUNNING"], what="third to start")


def test_max_concurrent_executions(runtime: Runtime) -> None:
    runtime.save_pipeline(pipeline("two", JUDGE, limitConcurrent=False, maxConcurrentExecutions=2), "t")
    ids = [runtime.start_pipeline("demo", "two", {}, "t") for _ in range(3)]
    wait_for(lambda: statuses(runtime, ids) == ["RUNNING", "RUNNING", "NOT_STARTED"], what="two running")
    judge(runtime, ids[0])
    wait_for(lambda: statuses(runtime, ids) == ["SUCCEEDED", "RUNNING", "RUNNING"], what="the third to start")


PACIFIC = ZoneInfo("America/Los_Angeles")


@pytest.mark.parametrize(
    ("now", "window", "expected"),
    [
        (
            datetime(2026, 11, 23, 10, 0, tzinfo=PACIFIC),
            {"whitelist": [{"startHour": 9, "startMin": 0, "endHour": 17, "endMin": 0}]},
            datetime(2026, 11, 23, 10, 0, tzinfo=PACIFIC),
        ),
        (
            datetime(2026, 11, 23, 18, 0, tzinfo=PACIFIC),
            {"whitelist": [{"startHour": 9, "startMin": 30, "endHour": 17, "endMin": 0}]},
            datetime(2026, 11, 24, 9, 30, tzinfo=PACIFIC),
        ),
        (
            datetime(2026, 11, 23, 23, 30, tzinfo=PACIFIC),
            {"whitelist": [{"startHour": 22, "startMin": 0, "endHour": 2, "endMin": 0}]},
            datetime(2026, 11, 23, 23, 30, tzinfo=PACIFIC),
        ),
        (
            datetime(2026, 11, 23, 10, 0, tzinfo=PACIFIC),
            {"days": [1, 7]},  # Monday; weekends only
            datetime(2026, 11, 28, 0, 0, tzinfo=PACIFIC),
        ),
    ],
)
def test_next_allowed_time(now: datetime, window: dict, expected: datetime) -> None:
    assert next_allowed(now, window) == expected


def test_deck_day_numbers_start_on_sunday() -> None:
    assert deck_day(datetime(2026, 11, 22)) == 1 and deck_day(datetime(2026, 11, 28)) == 7


def test_a_stage_waits_for_its_window_until_skipped(runtime: Runtime) -> None:
    now = datetime.now(PACIFIC)
    later = (now.hour + 2) % 24
    window = {"whitelist": [{"startHour": later, "startMin": 0, "endHour": (later + 1) % 24, "endMin": 0}]}
    stages = [
        {
            "refId": "1",
            "type": "wait",
            "waitTime": 0,
            "restrictExecutionDuringTimeWindow": True,
            "restrictedExecutionWindow": window,
        }
    ]
    runtime.save_pipeline(pipeline("windowed", stages), "t")
    execution_id = runtime.start_pipeline("demo", "windowed", {}, "t")
    wait_for(lambda: stage_statuses(runtime, execution_id).get("1<1") == "RUNNING", what="the window stage")
    window_stage = next(s for s in execution(runtime, execution_id)["stages"] if s["refId"] == "1<1")
    assert window_stage["scheduledTime"] > window_stage["startTime"]
    runtime.operations.patch_stage(execution_id, window_stage["id"], {"skipRemainingWait": True}, "t")
    assert wait_status(runtime, execution_id, "SUCCEEDED")["status"] == "SUCCEEDED"


def child_config_id(rt: Runtime, name: str, stages: list[dict], **extra: object) -> str:
    return str(rt.save_pipeline(pipeline(name, stages, **extra), "t")["id"])


def test_child_pipeline_gets_parameters_and_returns_its_outputs(runtime: Runtime) -> None:
    child = child_config_id(
        runtime,
        "child",
        [{"refId": "1", "type": "evaluateVariables", "variables": [{"key": "built", "value": "v1"}]}],
        parameterConfig=[{"name": "env", "default": "dev"}, {"name": "region", "default": "eu"}],
    )
    runtime.save_pipeline(
        pipeline(
            "parent",
            [
                {
                    "refId": "1",
                    "type": "pipeline",
                    "pipeline": child,
                    "pipelineParameters": {"env": "prod", "extra": "x"},
                }
            ],
        ),
        "t",
    )
    parent_id = runtime.start_pipeline("demo", "parent", {}, "t")
    parent = wait_status(runtime, parent_id, "SUCCEEDED", "TERMINAL")
    stage = parent["stages"][0]
    assert parent["status"] == "SUCCEEDED" and stage["outputs"] == {"built": "v1"}
    child_execution = execution(runtime, stage["context"]["executionId"])
    assert child_execution["trigger"]["parameters"] == {"env": "prod", "region": "eu", "extra": "x"}
    assert child_execution["trigger"]["type"] == "pipeline"
    assert child_execution["trigger"]["parentExecution"]["id"] == parent_id


def test_failed_child_fails_the_parent_with_its_reason(runtime: Runtime) -> None:
    child = child_config_id(
        runtime, "bad-child", [{"refId": "1", "type": "testFail", "reason": "disk full", "name": "Build"}]
    )
    runtime.save_pipeline(pipeline("parent2", [{"refId": "1", "type": "pipeline", "pipeline": child}]), "t")
    parent = wait_status(runtime, runtime.start_pipeline("demo", "parent2", {}, "t"), "TERMINAL")
    errors = parent["stages"][0]["context"]["exception"]["details"]["errors"]
    assert errors == ["Exception in child pipeline stage (bad-child: Build): disk full"]


def test_no_wait_child_and_cancel_cascade(runtime: Runtime) -> None:
    child = child_config_id(runtime, "slow-child", JUDGE)
    runtime.save_pipeline(
        pipeline("fire", [{"refId": "1", "type": "pipeline", "pipeline": child, "waitForCompletion": "false"}]), "t"
    )
    fired = wait_status(runtime, runtime.start_pipeline("demo", "fire", {}, "t"), "SUCCEEDED")
    assert execution(runtime, fired["stages"][0]["context"]["executionId"])["status"] in ("NOT_STARTED", "RUNNING")
    runtime.save_pipeline(pipeline("waiter", [{"refId": "1", "type": "pipeline", "pipeline": child}]), "t")
    parent_id = runtime.start_pipeline("demo", "waiter", {}, "t")
    wait_for(lambda: execution(runtime, parent_id)["stages"][0]["context"].get("executionId"), what="child start")
    child_id = execution(runtime, parent_id)["stages"][0]["context"]["executionId"]
    wait_status(runtime, child_id, "RUNNING")
    runtime.operations.cancel(parent_id, "t")
    wait_status(runtime, parent_id, "CANCELED")
    assert wait_status(runtime, child_id, "CANCELED")["status"] == "CANCELED"


def test_a_message_that_keeps_failing_becomes_a_terminating_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler that always fails for a message: after the last attempt the task is failed instead."""
    monkeypatch.setattr(worker_module, "RETRY_DELAY_MS", 5)
    original = Handlers.complete_task
    calls = {"failed": 0}

    def broken_for_success(self: Handlers, unit: object, message: Message, execution: object) -> None:
        if message.data.get("status") == "SUCCEEDED":
            calls["failed"] += 1
            raise RuntimeError("handler bug")
        original(self, unit, message, execution)  # type: ignore[arg-type]

    monkeypatch.setattr(Handlers, "complete_task", broken_for_success)  # before the handlers are built
    runtime = make_runtime(tmp_path)
    runtime.start_workers(1)
    try:
        runtime.save_pipeline(pipeline("doomed", [{"refId": "1", "type": "wait", "waitTime": 0}]), "t")
        done = wait_status(runtime, runtime.start_pipeline("demo", "doomed", {}, "t"), "TERMINAL")
    finally:
        runtime.close()
    assert done["stages"][0]["tasks"][0]["status"] == "TERMINAL"
    assert calls["failed"] >= worker_module.MAX_ATTEMPTS


def test_a_restart_waits_while_another_run_of_a_limited_pipeline_is_active(runtime: Runtime) -> None:
    stages = [
        {"refId": "1", "type": "testFail", "reason": "first try"},
        {"refId": "2", "type": "manualJudgment", "requisiteStageRefIds": ["1"]},
    ]
    runtime.save_pipeline(pipeline("limited-restart", stages, limitConcurrent=True), "t")
    failed = runtime.start_pipeline("demo", "limited-restart", {}, "t")
    wait_status(runtime, failed, "TERMINAL")
    runtime.operations.patch_stage(failed, "1", {"succeed": True}, "t")
    blocker = runtime.start_pipeline("demo", "limited-restart", {}, "t")
    wait_status(runtime, blocker, "TERMINAL")  # fails too: the patch was on the other execution
    runtime.operations.patch_stage(blocker, "1", {"succeed": True}, "t")
    runtime.operations.restart_stage(blocker, "1", "t")
    wait_for(lambda: stage_statuses(runtime, blocker)["2"] == "RUNNING", what="the blocker to wait at its judgment")
    runtime.operations.restart_stage(failed, "1", "t")
    wait_status(runtime, failed, "NOT_STARTED")
    assert stage_statuses(runtime, failed)["1"] == "TERMINAL"  # not restarted yet
    runtime.operations.judge(blocker, "2", "continue", None, "t")
    wait_status(runtime, blocker, "SUCCEEDED")
    wait_for(lambda: stage_statuses(runtime, failed)["2"] == "RUNNING", what="the parked restart to run")
    assert execution(runtime, failed)["stages"][0]["context"]["restartDetails"]["restartedBy"] == "t"
