"""`pipeline` triggers: a pipeline starts when the one it waits for ends the way its `status` list names,
with the parent in `trigger.parentExecution` and the parent's artifacts; loops are refused at save."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gennaker.cli.main import app
from gennaker.model.pipeline import PipelineValidationError
from gennaker.runtime import Runtime
from gennaker.store.triggers import TriggerStore
from tests.api_support import as_user
from tests.support import make_runtime, pipeline, wait_for, wait_status

IMAGE = {"type": "docker/image", "name": "registry.local/shop", "reference": "registry.local/shop:1.4"}


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path)
    runtime.start_workers(1)
    yield runtime
    runtime.close()


def waiting_on(rt: Runtime, name: str, parent_id: str, statuses: list[str]) -> dict[str, Any]:
    trigger = {"type": "pipeline", "application": "demo", "pipeline": parent_id, "status": statuses}
    stages = [{"refId": "1", "type": "wait", "waitTime": 0}]
    return rt.save_pipeline(pipeline(name, stages, triggers=[trigger]), "ops")


def executions_of(rt: Runtime, config_id: str) -> list[dict[str, Any]]:
    with rt.db.read() as conn:
        return rt.executions.list_json(conn, "demo", pipeline_config_ids=[config_id], limit=10)


def test_a_successful_parent_starts_the_pipelines_waiting_for_success(rt: Runtime) -> None:
    parent = rt.save_pipeline(pipeline("build", [{"refId": "1", "type": "testFail", "succeed": True}]), "ops")
    on_success = waiting_on(rt, "deploy", parent["id"], ["successful"])
    on_failure = waiting_on(rt, "page-someone", parent["id"], ["failed"])
    parent_run = rt.start_pipeline("demo", "build", {"type": "manual", "artifacts": [IMAGE]}, "ann")
    wait_status(rt, parent_run, "SUCCEEDED")
    [child] = wait_for(lambda: executions_of(rt, on_success["id"]), what="the dependent pipeline")
    trigger = child["trigger"]
    assert trigger["type"] == "pipeline" and trigger["parentExecution"]["id"] == parent_run
    assert (trigger["parentPipelineName"], trigger["parentStatus"]) == ("build", "successful")
    assert trigger["artifacts"] == [IMAGE]
    assert child["authentication"]["user"] == "ann"  # the parent's user, without a runAsUser
    wait_status(rt, child["id"], "SUCCEEDED")
    assert executions_of(rt, on_failure["id"]) == []
    with rt.db.read() as conn:
        [event] = TriggerStore().history(conn, on_success["id"])
    assert (event["type"], event["outcome"], event["executionId"]) == ("pipeline", "fired", child["id"])


def test_a_failed_parent_starts_the_pipelines_waiting_for_failure(rt: Runtime) -> None:
    parent = rt.save_pipeline(pipeline("build", [{"refId": "1", "type": "testFail"}]), "ops")
    on_failure = waiting_on(rt, "page-someone", parent["id"], ["failed", "canceled"])
    wait_status(rt, rt.start_pipeline("demo", "build", {"type": "manual"}, "ann"), "TERMINAL")
    wait_for(lambda: executions_of(rt, on_failure["id"]), what="the dependent pipeline")


def test_loops_are_refused_at_save(rt: Runtime) -> None:
    first = rt.save_pipeline(pipeline("first", [{"refId": "1", "type": "wait", "waitTime": 0}]), "ops")
    second = waiting_on(rt, "second", first["id"], ["successful"])
    with pytest.raises(PipelineValidationError) as refused:
        waiting_on(rt, "first", second["id"], ["successful"])
    [error] = refused.value.errors
    assert (error.field, error.problem) == ("triggers[0].pipeline", "would start a loop: first → second → first")
    with pytest.raises(PipelineValidationError, match="would start a loop: first → first"):
        waiting_on(rt, "first", first["id"], ["failed"])


def test_the_trigger_history_lists_started_and_skipped_events(api: TestClient, runtime: Runtime) -> None:
    permissions = {"READ": ["dev", "viewer"], "WRITE": ["dev"], "EXECUTE": ["dev"]}
    with runtime.db.transaction() as conn:
        runtime.applications.save(conn, "shop", {"permissions": permissions}, "admin")
    hooked = {
        "application": "shop",
        "name": "hooked",
        "triggers": [{"type": "webhook", "source": "ci"}],
        "stages": [{"refId": "1", "type": "wait", "waitTime": 0}],
    }
    assert api.post("/pipelines", json=hooked, headers=as_user("dev")).status_code == 200
    started = api.post("/webhooks/webhook/ci", json={}, headers=as_user("dev")).json()["executions"]
    assert api.post("/webhooks/webhook/ci", json={}, headers=as_user("viewer")).json()["executions"] == []
    config_id = api.get("/applications/shop/pipelineConfigs/hooked", headers=as_user("dev")).json()["id"]
    history = api.get(f"/pipelineConfigs/{config_id}/triggers/history", headers=as_user("viewer")).json()
    assert [(e["type"], e["outcome"]) for e in history] == [("webhook", "skipped"), ("webhook", "fired")]
    assert history[0]["reason"] == "viewer lacks EXECUTE"
    assert f"/pipelines/{history[1]['executionId']}" == started[0]


def test_pages_and_the_cli_show_next_fire_times_and_the_history(
    api: TestClient, runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with runtime.db.transaction() as conn:
        runtime.applications.save(
            conn, "shop", {"permissions": {r: ["dev"] for r in ("READ", "WRITE", "EXECUTE")}}, "admin"
        )
    nightly = {"type": "cron", "id": "n", "cronExpression": "0 0 3 ? * MON-FRI", "timezone": "Europe/Berlin"}
    hook = {"type": "webhook", "source": "ci", "secret": "never-shown"}
    stages = [{"refId": "1", "type": "wait", "waitTime": 0}]
    config = {"application": "shop", "name": "nightly", "triggers": [nightly, hook], "stages": stages}
    assert api.post("/pipelines", json=config, headers=as_user("dev")).status_code == 200
    api.post("/webhooks/webhook/ci", json={}, headers=as_user("dev"))
    application = api.get("/ui/applications/shop", headers=as_user("dev")).text
    assert "Cron <code>0 0 3 ? * MON-FRI</code> (Europe/Berlin): next" in application
    assert " 03:00:00 CE" in application  # CET or CEST
    page = api.get("/ui/applications/shop/pipelines/nightly/triggers", headers=as_user("dev")).text
    assert "triggers[0] next fires:" in page and "fired" in page and "never-shown" not in page
    monkeypatch.setenv("GENNAKER_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("GENNAKER_DATABASE_URL", runtime.settings.database_url)
    for name in ("GENNAKER_URL", "GENNAKER_TOKEN", "GENNAKER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["pipeline", "get", "shop", "nightly"])
    assert result.exit_code == 0 and json.loads(result.stdout)["name"] == "nightly"
    assert "triggers[0] cron 0 0 3 ? * MON-FRI: next " in result.stderr
