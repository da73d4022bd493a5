"""Zombie executions: detected when their messages are gone, repaired by rebuilding them (orca.md §2.10)."""

from __future__ import annotations

from pathlib import Path

from gennaker.store.tables import queue
from tests.support import make_runtime, pipeline, stage_statuses, wait_status


def test_a_running_execution_without_messages_is_found_and_repaired(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path)
    stages = [
        {"refId": "1", "type": "wait", "waitTime": 0},
        {"refId": "2", "type": "wait", "waitTime": 30, "requisiteStageRefIds": ["1"]},
        {"refId": "3", "type": "wait", "waitTime": 0, "requisiteStageRefIds": ["2"]},
    ]
    rt.save_pipeline(pipeline("slow", stages), "tester")
    execution_id = rt.start_pipeline("demo", "slow", {}, "tester")
    worker = rt.new_worker()
    while worker.run_once():
        pass
    assert stage_statuses(rt, execution_id)["2"] == "RUNNING"
    assert rt.find_zombies() == []

    with rt.db.transaction() as conn:  # lose the wait's poll message, as a dead message would
        conn.execute(queue.delete())
    assert rt.find_zombies() == [execution_id]

    assert rt.repair_zombies([execution_id]) >= 1
    assert rt.find_zombies() == []
    rt.operations.patch_stage(execution_id, "2", {"skipRemainingWait": True}, "tester")
    rt.start_workers(1)
    try:
        assert wait_status(rt, execution_id, "SUCCEEDED", "TERMINAL")["status"] == "SUCCEEDED"
    finally:
        rt.close()


def test_paused_and_parked_executions_are_not_zombies(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path)
    rt.save_pipeline(pipeline("judged", [{"refId": "1", "type": "manualJudgment"}], limitConcurrent=True), "tester")
    first = rt.start_pipeline("demo", "judged", {}, "tester")
    second = rt.start_pipeline("demo", "judged", {}, "tester")
    worker = rt.new_worker()
    while worker.run_once():
        pass
    rt.operations.pause(first, "tester")
    with rt.db.transaction() as conn:
        conn.execute(queue.delete())
    assert stage_statuses(rt, second) == {"1": "NOT_STARTED"}
    assert rt.find_zombies() == []
    rt.close()
