"""After-stages planned from what the stage's own tasks found out run before the stage completes."""

from __future__ import annotations

from pathlib import Path

from gennaker.engine.contracts import StageDefinition, SyntheticStage, Task, TaskContext, TaskResult
from gennaker.model.execution import Stage
from tests.support import make_runtime, pipeline, wait_status


class PlanWaitsStage(StageDefinition):
    """`testPlanWaits`: its task decides how many wait stages follow it."""

    type = "testPlanWaits"

    def tasks(self, stage: Stage) -> list[str]:
        return [PlanWaitsTask.name]

    def after_stages(self, stage: Stage) -> list[SyntheticStage]:
        return [SyntheticStage("wait", f"wait {n}", {"waitTime": 0}) for n in range(stage.context["waits"])]


class PlanWaitsTask(Task):
    name = "testPlanWaits"

    def execute(self, tc: TaskContext) -> TaskResult:
        return TaskResult.succeeded({"waits": 2})


def test_after_stages_planned_by_a_task_run_in_order_before_the_stage_completes(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path)
    rt.registry.add_stage(PlanWaitsStage(), PlanWaitsTask())
    rt.start_workers(1)
    try:
        rt.save_pipeline(pipeline("plan", [{"refId": "1", "type": "testPlanWaits"}]), "t")
        execution = wait_status(rt, rt.start_pipeline("demo", "plan", {}, "t"), "SUCCEEDED", "TERMINAL")
    finally:
        rt.close()
    assert execution["status"] == "SUCCEEDED"
    by_name = {s["name"]: s for s in execution["stages"]}
    assert by_name["wait 0"]["status"] == by_name["wait 1"]["status"] == "SUCCEEDED"
    assert by_name["wait 1"]["startTime"] >= by_name["wait 0"]["endTime"]
    parent = next(s for s in execution["stages"] if s["type"] == "testPlanWaits")
    assert parent["endTime"] >= by_name["wait 1"]["endTime"]
