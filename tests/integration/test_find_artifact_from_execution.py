"""`findArtifactFromExecution`: artifacts of the latest matching run of another pipeline become this stage's
outputs, as Orca's FindArtifactFromExecutionTask binds them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gennaker.engine.contracts import StageDefinition, Task, TaskContext, TaskResult
from gennaker.model.execution import Stage
from gennaker.runtime import Runtime
from gennaker.stages.find_artifact_from_execution import execution_artifacts, latest, wanted_statuses
from tests.support import make_runtime, pipeline, wait_status


class ProduceStage(StageDefinition):
    """`testProduce`: emits `context.produce` as its `outputs.artifacts`."""

    type = "testProduce"

    def tasks(self, stage: Stage) -> list[str]:
        return [ProduceTask.name]


class ProduceTask(Task):
    name = "testProduce"

    def execute(self, tc: TaskContext) -> TaskResult:
        return TaskResult.succeeded(outputs={"artifacts": list(tc.ctx.get("produce") or [])})


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path)
    runtime.registry.add_stage(ProduceStage(), ProduceTask())
    runtime.start_workers(1)
    yield runtime
    runtime.close()


def image(version: str, name: str = "gcr.io/shop/web") -> dict[str, Any]:
    return {"type": "docker/image", "name": name, "version": version, "reference": f"{name}:{version}"}


def produce(ref_id: str, *artifacts: dict[str, Any], after: list[str] | None = None) -> dict[str, Any]:
    return {"refId": ref_id, "type": "testProduce", "produce": list(artifacts), "requisiteStageRefIds": after or []}


EXPECTED_IMAGE = {
    "id": "web-image",
    "displayName": "web image",
    "matchArtifact": {"type": "docker/image", "name": "gcr.io/shop/web"},
    "useDefaultArtifact": False,
    "usePriorArtifact": False,
}


def start(rt: Runtime, app: str, name: str, trigger: dict[str, Any] | None = None) -> dict[str, Any]:
    execution_id = rt.start_pipeline(app, name, trigger or {}, "tester")
    return wait_status(rt, execution_id, "SUCCEEDED", "TERMINAL", "STOPPED")


def finder(pipeline_id: str, ref_id: str = "find", **context: Any) -> dict[str, Any]:
    return {
        "refId": ref_id,
        "type": "findArtifactFromExecution",
        "name": "Find",
        "application": "producer",
        "pipeline": pipeline_id,
        "executionOptions": {"successful": True},
        "expectedArtifacts": [EXPECTED_IMAGE],
        **context,
    }


def by_ref(execution: dict[str, Any], ref_id: str) -> dict[str, Any]:
    return next(s for s in execution["stages"] if s["refId"] == ref_id)


def error_of(execution: dict[str, Any]) -> str:
    for s in execution["stages"]:
        details = ((s.get("context") or {}).get("exception") or {}).get("details") or {}
        if details.get("error"):
            return str(details["error"])
    return ""


def test_binds_the_artifact_the_latest_run_produced_last(rt: Runtime) -> None:
    producer = rt.save_pipeline(
        pipeline(
            "build",
            [produce("1", image("v1")), produce("2", image("v2"), {"type": "kubernetes/configMap"}, after=["1"])],
            app="producer",
        ),
        "tester",
    )
    start(rt, "producer", "build", {"type": "manual", "artifacts": [image("v0")]})
    consumer_stages = [
        finder(producer["id"]),
        {
            "refId": "use",
            "type": "evaluateVariables",
            "requisiteStageRefIds": ["find"],
            "variables": [
                {"key": "version", "value": "${#stage('Find').outputs.artifacts[0].version}"},
                {"key": "resolved", "value": "${#resolvedArtifacts().![version]}"},
            ],
        },
    ]
    rt.save_pipeline(pipeline("deploy", consumer_stages, app="consumer", spelEvaluator="v4"), "tester")
    done = start(rt, "consumer", "deploy")
    assert done["status"] == "SUCCEEDED", error_of(done)
    found = by_ref(done, "find")
    # Stage 2 ran after stage 1, so its image comes first; the trigger's image comes after both.
    assert found["outputs"]["artifacts"] == [image("v2")]
    [resolved] = found["outputs"]["resolvedExpectedArtifacts"]
    assert resolved["id"] == "web-image" and resolved["boundArtifact"] == image("v2")
    assert found["context"]["artifacts"] == found["outputs"]["artifacts"]
    assert by_ref(done, "use")["outputs"] == {"version": "v2", "resolved": ["v2"]}


def test_execution_options_choose_which_runs_count(rt: Runtime) -> None:
    def save_build(version: str, fail: bool) -> dict[str, Any]:
        stages = [produce("1", image(version)), {"refId": "2", "type": "testFail", "requisiteStageRefIds": ["1"]}]
        return rt.save_pipeline(pipeline("build", stages if fail else stages[:1], app="producer"), "tester")

    producer = save_build("good", fail=False)
    assert start(rt, "producer", "build")["status"] == "SUCCEEDED"
    save_build("bad", fail=True)
    assert start(rt, "producer", "build")["status"] == "TERMINAL"

    def bound_version(name: str, options: dict[str, Any]) -> str:
        rt.save_pipeline(pipeline(name, [finder(producer["id"], executionOptions=options)], app="consumer"), "t")
        done = start(rt, "consumer", name)
        assert done["status"] == "SUCCEEDED", error_of(done)
        return str(by_ref(done, "find")["outputs"]["artifacts"][0]["version"])

    assert bound_version("succeeded", {"succeeded": True}) == "good"
    assert bound_version("successful", {"successful": True}) == "good"
    assert bound_version("terminal", {"terminal": True}) == "bad"
    assert bound_version("either", {"successful": True, "terminal": True}) == "bad"
    assert bound_version("any", {}) == "bad"

    rt.save_pipeline(pipeline("running", [finder(producer["id"], executionOptions={"running": True})], app="c"), "t")
    none_running = start(rt, "c", "running")
    assert none_running["status"] == "TERMINAL"
    assert "Unmatched expected artifact" in error_of(none_running)
    assert f"No execution of pipeline {producer['id']} in application producer with status RUNNING" in error_of(
        none_running
    )


def test_unmatched_artifacts_fail_unless_a_default_is_used(rt: Runtime) -> None:
    producer = rt.save_pipeline(pipeline("build", [produce("1", image("v1", name="other"))], app="producer"), "t")
    start(rt, "producer", "build")
    rt.save_pipeline(pipeline("strict", [finder(producer["id"])], app="consumer"), "t")
    strict = start(rt, "consumer", "strict")
    assert strict["status"] == "TERMINAL"
    assert "Unmatched expected artifact (id=web-image" in error_of(strict) and "searched execution" in error_of(strict)

    fallback = {**EXPECTED_IMAGE, "useDefaultArtifact": True, "defaultArtifact": image("fallback")}
    # The older single `expectedArtifact` form is still read.
    legacy = finder(producer["id"], expectedArtifact=fallback)
    del legacy["expectedArtifacts"]
    rt.save_pipeline(pipeline("lenient", [legacy], app="consumer"), "t")
    lenient = start(rt, "consumer", "lenient")
    assert lenient["status"] == "SUCCEEDED", error_of(lenient)
    assert by_ref(lenient, "find")["outputs"]["artifacts"] == [image("fallback")]


def test_a_pipeline_reading_its_own_runs_skips_what_this_stage_bound_before(rt: Runtime) -> None:
    """Run 1 binds the default; run 2 must find stage 1's image, not the default run 1's find stage emitted."""
    fallback = {**EXPECTED_IMAGE, "useDefaultArtifact": True, "defaultArtifact": image("default")}
    config = rt.save_pipeline(pipeline("self", [], app="producer"), "t")
    stages = [
        produce("1", image("${trigger.parameters.version}")),
        {**finder(config["id"], expectedArtifacts=[fallback]), "requisiteStageRefIds": ["1"]},
    ]
    assert rt.save_pipeline(pipeline("self", stages, app="producer", spelEvaluator="v4"), "t")["id"] == config["id"]
    first = start(rt, "producer", "self", {"parameters": {"version": "one"}})
    assert by_ref(first, "find")["outputs"]["artifacts"] == [image("default")]
    second = start(rt, "producer", "self", {"parameters": {"version": "two"}})
    assert second["status"] == "SUCCEEDED", error_of(second)
    assert by_ref(second, "find")["outputs"]["artifacts"] == [image("one")]


def test_helpers_follow_orca_ordering() -> None:
    assert wanted_statuses({"succeeded": True, "running": True}) == ["SUCCEEDED", "RUNNING"]
    assert wanted_statuses(None) == []
    runs = [
        {"id": "a", "startTime": 5},
        {"id": "c", "startTime": None},
        {"id": "b", "startTime": 7},
        {"id": "d", "startTime": 7},
    ]
    assert latest(runs) == {"id": "d", "startTime": 7}
    assert latest([{"id": "x", "startTime": None}, {"id": "y", "startTime": None}]) == {"id": "y", "startTime": None}
    assert latest([]) is None
    execution = {
        "trigger": {"artifacts": [{"type": "t"}]},
        "stages": [
            {"refId": "3", "requisiteStageRefIds": ["2"], "outputs": {"artifacts": [{"type": "3"}]}},
            {"refId": "1", "outputs": {"artifacts": [{"type": "1a"}, {"type": "1b"}]}},
            {"refId": "2", "requisiteStageRefIds": ["1"], "outputs": {"artifacts": [{"type": "2"}]}},
            {"refId": "2<1", "parentStageId": "x", "outputs": {"artifacts": [{"type": "synthetic"}]}},
        ],
    }
    assert [a["type"] for a in execution_artifacts(execution)] == ["3", "2", "1b", "1a", "t"]
    assert [a["type"] for a in execution_artifacts(execution, skip_ref_id="2")] == ["3", "1b", "1a", "t"]
